"""A case from the clinic to the lab and back, in the system Chromium (acceptance 1).

A clinician registers a patient, opens a case, uploads a generated scan and sends the case to
the lab; the lab's designer finds it in the inbox (without learning who the patient is),
accepts it and uploads a design revision; the clinician sees the revision on the timeline.
The demo seed may hold other cases: the journey finds its own by reference.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cuspid.web.demo import DEMO_TOTP_SECRET
from cuspid.web.demo_scans import arch_stl
from tests.e2e.browser import PageProblems
from tests.e2e.test_journeys import (  # noqa: F401 -- pytest fixtures, used by name
    CLINICIAN,
    DESIGNER,
    LAB,
    _sign_in,
    demo_passwords,
    page,
)
from tests.e2e.totp import PERIOD, fresh_totp_code

pytestmark = pytest.mark.browser

GIVEN, FAMILY = "Marguerite", "Bourgeoys"
EMAIL = "m.bourgeoys@patient.example"
HEALTH_CARD = "4820-114-377-QC"
PHONE = "+1 514 555 0142"


def _sign_out(tab: Page) -> None:
    tab.get_by_role("button", name="Sign out").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Sign in to Cuspid")


def _sign_in_again(tab: Page, base_url: str, email: str, password: str, used_step: int) -> None:
    """Sign in once more: an authenticator code is single use, so wait for the next one."""
    fresh_totp_code(DEMO_TOTP_SECRET, not_in_step=used_step)
    _sign_in(tab, base_url, email, password)


def test_a_case_goes_to_the_lab_and_comes_back_with_a_revision(
    page: Page,  # noqa: F811 -- the fixture imported above
    live_server: LiveServer,
    demo_passwords: dict[str, str],  # noqa: F811 -- the fixture imported above
    problems: PageProblems,
    tmp_path: Path,
) -> None:
    base = live_server.url
    scan = tmp_path / "scan.stl"
    scan.write_bytes(arch_stl(1))
    design = tmp_path / "crown-design.stl"
    design.write_bytes(arch_stl(5, jaw="lower"))

    # --- the clinician: a patient, a case, a scan, sent to the lab ---------------------------
    _sign_in(page, base, CLINICIAN, demo_passwords[CLINICIAN])
    clinician_step = int(time.time()) // PERIOD
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    page.get_by_role("main").get_by_role("link", name="Register a patient").first.click()
    page.get_by_label("Given name").fill(GIVEN)
    page.get_by_label("Family name").fill(FAMILY)
    page.get_by_label("Date of birth").fill("1984-04-17")
    page.get_by_label("Health card number").fill(HEALTH_CARD)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Phone").fill(PHONE)
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{GIVEN} {FAMILY}")
    expect(page.get_by_text("Patient registered.")).to_be_visible()

    page.get_by_role("link", name="Open a case").first.click()
    expect(page.get_by_role("navigation", name="New case steps")).to_contain_text("Details")
    expect(page.get_by_label("Patient", exact=True)).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))
    page.get_by_label("Case type").select_option("crown")
    page.get_by_label("Material").select_option("lithium_disilicate")
    page.get_by_label("Shade").fill("A2")
    page.get_by_role("checkbox", name="36", exact=True).check()
    page.get_by_label("Clinical notes").fill("Deep distal margin; please check the contacts.")
    page.get_by_role("button", name="Save and add files").click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^Files of case C-\d{5}$"))
    reference = heading.inner_text().rsplit(" ", 1)[1]
    page.get_by_label("File", exact=True).set_input_files(scan)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Added: Intraoral scan (STL (binary)).")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("vertices"))).to_have_count(1)
    page.get_by_role("link", name="Next: send to a lab").click()

    page.get_by_label(LAB).check()
    page.get_by_role("button", name="Send to lab").click()
    expect(page.get_by_text(f"Case {reference} sent to {LAB}.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sent to lab")
    _sign_out(page)

    # --- the designer: the inbox, no patient identity, accept, a revision --------------------
    _sign_in(page, base, DESIGNER, demo_passwords[DESIGNER])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    expect(page.get_by_role("link", name="Inbox")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name=reference, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(page.get_by_text("Deep distal margin; please check the contacts.")).to_be_visible()
    main = page.get_by_role("main")
    for identity in (GIVEN, FAMILY, EMAIL, HEALTH_CARD, PHONE, "1984-04-17"):
        expect(main.get_by_text(identity)).to_have_count(0)
    assert FAMILY not in page.content()

    page.get_by_role("button", name="Accept", exact=True).click()
    expect(page.get_by_text("the case is now Accepted by lab")).to_be_visible()
    page.get_by_role("link", name="Upload a revision").click()
    page.get_by_label("Design files").set_input_files(design)
    page.get_by_label("Note for the clinic").fill("Anatomic crown, light contacts.")
    page.get_by_role("button", name="Upload revision").click()
    expect(page.get_by_text("Revision 1 uploaded.")).to_be_visible()
    expect(page.get_by_role("heading", name="Revision 1")).to_be_visible()
    _sign_out(page)

    # --- the clinician again: the revision is on the timeline ---------------------------------
    _sign_in_again(page, base, CLINICIAN, demo_passwords[CLINICIAN], clinician_step)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    page.get_by_role("link", name=reference, exact=True).click()
    timeline = page.locator(".timeline")
    expect(timeline.get_by_text("Design revision uploaded")).to_be_visible()
    expect(timeline.get_by_role("link", name="Revision 1")).to_be_visible()
    expect(page.get_by_text("Anatomic crown, light contacts.")).to_be_visible()
    expect(page.get_by_role("link", name=f"{GIVEN} {FAMILY}")).to_be_visible()
    assert not problems.messages, "\n".join(problems.messages)
