"""Review and approval from the lab to the clinic and back, in the system Chromium (issue 8,
acceptance 1).

The designer submits revision 1; the clinician opens it in the 3D viewer (the canvas draws),
pins a note and asks for changes; the designer uploads and submits revision 2; the
clinician, whose sign-in is now older than 30 minutes, confirms it is them and approves it;
lab staff create the production package and download it, and its manifest's hashes are the
approved files' hashes. Each person works in a browser of their own, signed in once.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from django.contrib.sessions.backends.db import SessionStore
from PIL import Image, ImageStat
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from cuspid.accounts.authtime import AUTHENTICATED_AT_KEY
from cuspid.cases.models import Approval, Attachment, Case, Revision
from cuspid.cases.services import (
    CaseDetails,
    Upload,
    attachment_add,
    case_create,
    case_send,
    case_transition,
)
from cuspid.core import clock
from cuspid.patients.models import Patient
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo import DEMO_TOTP_SECRET
from cuspid.web.demo_scans import Jaw, arch_stl, crown_stl
from tests.e2e.browser import PageProblems, _BrowserHolder
from tests.e2e.test_journeys import (  # noqa: F401 -- pytest fixtures, used by name
    CLINICIAN,
    DESIGNER,
    FIRST_CLINIC,
    LAB,
    demo_passwords,
)
from tests.e2e.totp import fresh_totp_code
from tests.factories.cases import actor_of

pytestmark = pytest.mark.browser

LAB_STAFF = "labstaff@northstar.example"
STEP_MS = 20_000
RENDER_MS = 60_000
PIN_NOTE = "Mesial contact too tight; open it a little."
CHANGE_REQUEST = "Please lower the occlusal contacts by 0.2 mm."


@pytest.fixture
def browsers(
    chromium_path: Path, browser_holder: _BrowserHolder, problems: PageProblems
) -> Iterator[dict[str, Page]]:
    """One browser context (cookies, session) per person, each with one tab."""
    contexts: list[BrowserContext] = []
    tabs: dict[str, Page] = {}
    for email in (DESIGNER, CLINICIAN, LAB_STAFF):
        context = browser_holder.get(chromium_path).new_context(
            viewport={"width": 1360, "height": 900}, locale="en-CA", accept_downloads=True
        )
        context.set_default_timeout(STEP_MS)
        context.set_default_navigation_timeout(STEP_MS)
        tab = context.new_page()
        tab.on("console", problems.record_console)
        tab.on("pageerror", lambda error: problems.messages.append(f"page error: {error}"))
        tab.on(
            "response",
            lambda response: (
                problems.messages.append(f"{response.status} {response.url}")
                if response.status >= 400 and response.request.resource_type != "document"
                else None
            ),
        )
        contexts.append(context)
        tabs[email] = tab
    yield tabs
    for context in contexts:
        context.close()


def _sign_in(tab: Page, base: str, email: str, password: str) -> int:
    """Sign in with the password and the demo authenticator; the code's time step."""
    tab.goto(f"{base}/")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Confirm it's you")
    code, step = fresh_totp_code(DEMO_TOTP_SECRET)
    tab.get_by_label("Code").fill(code)
    tab.get_by_role("button", name="Continue").click()
    tab.get_by_role("button", name="Don't trust").click()
    return step


def _accepted_case() -> Case:
    """A crown case of the demo clinic with a lower scan and an upper scan in the bite, sent
    to the demo lab and accepted there (issue 7's journey covers those steps in the browser)."""
    clinician = Membership.objects.get(user__email=CLINICIAN, organization__name=FIRST_CLINIC)
    designer = Membership.objects.get(user__email=DESIGNER)
    patient = Patient.objects.filter(organization=clinician.organization).order_by("id")[0]
    case = case_create(
        actor=actor_of(clinician),
        patient=patient,
        details=CaseDetails(case_type="crown", teeth=[36], material="zirconia", shade="A2"),
    )
    jaws: tuple[tuple[Jaw, str], ...] = (("lower", "lower.stl"), ("upper", "upper.stl"))
    for jaw, name in jaws:
        scan = arch_stl(31, jaw=jaw, bite=jaw == "upper")
        attachment_add(actor=actor_of(clinician), case=case, upload=Upload(io.BytesIO(scan), name))
    lab = Organization.objects.get(name=LAB)
    case = case_send(actor=actor_of(clinician), case=case, lab_id=lab.id)
    return case_transition(actor=actor_of(designer), case=case, action="accept")


def _upload_and_submit(tab: Page, base: str, case: Case, design: Path, note: str) -> int:
    """The designer uploads a revision from the case page and sends it for review from the
    revision's review page; the revision's number."""
    tab.goto(f"{base}/cases/{case.id}/")
    tab.get_by_role("link", name="Upload a revision").click()
    tab.get_by_label("Design files").set_input_files(design)
    tab.get_by_label("Note for the clinic").fill(note)
    tab.get_by_role("button", name="Upload revision").click()
    uploaded = re.compile(r"Revision (\d+) uploaded\.")
    expect(tab.get_by_text(uploaded)).to_be_visible()
    match = uploaded.search(tab.get_by_text(uploaded).inner_text())
    assert match is not None
    number = int(match.group(1))
    tab.get_by_role("link", name=f"Review revision {number} in 3D").click()
    expect(tab.get_by_role("heading", level=1)).to_contain_text(f"Revision {number}")
    tab.get_by_role("button", name="Send for review").click()
    expect(tab.locator(".status").first).to_have_text("Awaiting review")
    return number


def _open_review(tab: Page, base: str, case: Case, number: int) -> None:
    tab.goto(f"{base}/cases/{case.id}/")
    tab.get_by_role("link", name=f"Review revision {number} in 3D").click()
    expect(tab.get_by_role("heading", level=1)).to_contain_text(f"Revision {number}")


def _canvas_draws(tab: Page, shot: Path) -> None:
    viewer = tab.locator("[data-cuspid-viewer]").first
    expect(viewer).to_have_attribute("data-rendered", "true", timeout=RENDER_MS)
    canvas = viewer.locator("canvas").first
    # caret="initial": hiding the caret injects a style element, which the CSP refuses.
    picture = canvas.screenshot(caret="initial")
    shot.write_bytes(picture)
    image = Image.open(io.BytesIO(picture)).convert("L")
    low, high = cast(tuple[int, int], image.getextrema())
    assert high - low > 40, "the canvas is blank"
    assert ImageStat.Stat(image).stddev[0] > 5, "the canvas is one flat colour"


def _age_the_sign_in(tab: Page, minutes: int) -> None:
    """Move the session's last full authentication ``minutes`` into the past, as if the
    clinician had signed in that long ago."""
    [cookie] = [c for c in tab.context.cookies() if c["name"] == "sessionid"]
    session = SessionStore(session_key=cookie["value"])
    then = clock.now() - timedelta(minutes=minutes)
    session[AUTHENTICATED_AT_KEY] = then.timestamp()
    session.save()


def test_a_design_is_reviewed_changed_approved_and_packaged(
    browsers: dict[str, Page],
    live_server: LiveServer,
    demo_passwords: dict[str, str],  # noqa: F811 -- the fixture imported above
    problems: PageProblems,
    tmp_path: Path,
) -> None:
    base = live_server.url
    designer, clinician, lab_staff = browsers[DESIGNER], browsers[CLINICIAN], browsers[LAB_STAFF]
    case = _accepted_case()
    designs = []
    for number, clearance in ((1, 0.35), (2, 0.2)):
        design = tmp_path / f"crown-36-r{number}.stl"
        design.write_bytes(crown_stl(31, jaw="lower", clearance=clearance))
        designs.append(design)

    # --- the designer submits revision 1 ---------------------------------------------------
    _sign_in(designer, base, DESIGNER, demo_passwords[DESIGNER])
    assert _upload_and_submit(designer, base, case, designs[0], "First proposal.") == 1

    # --- the clinician opens it, the viewer draws, a pin, changes requested ----------------
    signed_in_step = _sign_in(clinician, base, CLINICIAN, demo_passwords[CLINICIAN])
    _open_review(clinician, base, case, 1)
    _canvas_draws(clinician, tmp_path / "revision-1.png")
    clinician.locator("#annotations-panel").get_by_role("button", name="Add pin").click()
    clinician.locator("[data-cuspid-viewer] canvas").first.click()
    clinician.get_by_label("Note for this pin").fill(PIN_NOTE)
    clinician.get_by_role("button", name="Save pin").click()
    pins = clinician.locator("#annotations-panel")
    expect(pins.get_by_text(PIN_NOTE)).to_be_visible()
    expect(pins.locator("#annotation-1")).to_contain_text(PIN_NOTE)
    clinician.get_by_text("Request changes", exact=True).click()
    clinician.get_by_label("What should the lab change?").fill(CHANGE_REQUEST)
    clinician.get_by_role("button", name="Send back to the lab").click()
    expect(clinician.locator(".status").first).to_have_text("Changes requested")
    clinician.screenshot(
        path=str(tmp_path / "changes-requested.png"), full_page=True, caret="initial"
    )

    # --- the designer reads the request and submits revision 2 -----------------------------
    designer.goto(f"{base}/cases/{case.id}/")
    expect(designer.get_by_text(CHANGE_REQUEST).first).to_be_visible()
    assert _upload_and_submit(designer, base, case, designs[1], "Contacts lowered.") == 2

    # --- the clinician, signed in 31 minutes ago, confirms it is them and approves ---------
    _age_the_sign_in(clinician, minutes=31)
    _open_review(clinician, base, case, 2)
    _canvas_draws(clinician, tmp_path / "revision-2.png")
    clinician.get_by_role("button", name="Approve revision 2").click()
    expect(clinician.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    clinician.get_by_label("Password").fill(demo_passwords[CLINICIAN])
    code, _step = fresh_totp_code(DEMO_TOTP_SECRET, not_in_step=signed_in_step)
    clinician.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    clinician.get_by_role("button", name="Confirm").click()
    expect(clinician.get_by_role("heading", level=1)).to_contain_text("Revision 2")
    clinician.get_by_role("button", name="Approve revision 2").click()
    approval_panel = clinician.locator("#approval")
    expect(approval_panel).to_contain_text("Approved by")
    expect(approval_panel).to_contain_text("Verified")
    clinician.screenshot(path=str(tmp_path / "approved.png"), full_page=True, caret="initial")

    # --- lab staff create the production package and download it ---------------------------
    _sign_in(lab_staff, base, LAB_STAFF, demo_passwords[LAB_STAFF])
    _open_review(lab_staff, base, case, 2)
    lab_staff.get_by_role("button", name="Create production package").click()
    expect(lab_staff.get_by_text("Package created. The case is now in production.")).to_be_visible()
    with lab_staff.expect_download() as download_info:
        lab_staff.get_by_role("link", name=re.compile(r"^Download package \(ZIP")).click()
    package = tmp_path / "package.zip"
    download_info.value.save_as(package)

    # --- what was approved is what the lab makes ---------------------------------------------
    revision = Revision.objects.get(case=case, number=2)
    approval = Approval.objects.get(revision=revision)
    approved = {
        a.sha256: a.size
        for a in Attachment.objects.filter(revision=revision).only("sha256", "size")
    }
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        listed = {entry["sha256"]: entry for entry in manifest["files"]}
        assert set(listed) == set(approved), "the manifest lists other files than the approved"
        for digest, entry in listed.items():
            content = archive.read(entry["name"])
            assert hashlib.sha256(content).hexdigest() == digest
            assert len(content) == approved[digest] == entry["size"]
    assert manifest["approval"]["manifest_sha256"] == approval.manifest_sha256
    assert manifest["approval"]["signature"] == approval.signature
    assert Case.objects.get(pk=case.pk).status == "in_production"
    assert not problems.messages, "\n".join(problems.messages)
