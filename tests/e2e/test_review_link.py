"""A reviewer without an account opens a review link in the system Chromium.

The clinic made a link with a passcode and comments allowed. The reviewer types the
passcode, sees the case's reference and teeth and the design in the 3D viewer (the canvas
draws: its screenshot is not blank), never the patient; comments; and once the clinic
revokes the link, the same address answers "not available".
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import pytest
from PIL import Image, ImageStat
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from cuspid.cases.models import Comment
from cuspid.cases.services.review import annotation_create
from cuspid.cases.services.review_links import review_link_revoke
from cuspid.tenancy.enums import Role
from tests.e2e.browser import PageProblems
from tests.e2e.test_journeys import page  # noqa: F401 -- a pytest fixture, used by name
from tests.factories import make_lab, make_lab_connection, make_membership, make_organization
from tests.factories.cases import actor_of
from tests.factories.review_links import IDENTITY, make_review_link, shared_revision

pytestmark = pytest.mark.browser

PASSCODE = "molar-4217"
RENDER_MS = 60_000


@pytest.fixture
def blob_store(settings: Settings, tmp_path: Path) -> None:
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


def test_a_reviewer_opens_a_link_sees_the_design_comments_and_loses_access_on_revoke(
    page: Page,  # noqa: F811 -- the fixture imported above
    live_server: LiveServer,
    transactional_db: None,
    blob_store: None,
    problems: PageProblems,
    tmp_path: Path,
) -> None:
    clinic = make_organization(name="Maple Grove Dental")
    lab = make_lab(name="Northstar Lab")
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = make_membership(organization=clinic, role=Role.CLINICIAN)
    designer = make_membership(organization=lab, role=Role.DESIGNER)
    shared = shared_revision(clinician, designer, lab)
    annotation_create(
        actor=actor_of(clinician),
        revision=shared.revision,
        point=[0.0, 0.0, 0.0],
        normal=[0.0, 0.0, 1.0],
        text="Contact point too light on the mesial.",
    )
    link, token = make_review_link(
        clinician, shared.revision, passcode=PASSCODE, allow_comments=True, label="Dr Roy"
    )
    address = f"{live_server.url}/review/{token}/"

    # --- the passcode first ----------------------------------------------------------------
    page.goto(address)
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter the passcode")
    page.get_by_label("Passcode").fill("molar-0000")
    page.get_by_role("button", name="Open the review").click()
    expect(page.get_by_role("alert")).to_contain_text("That passcode is not right")
    page.get_by_label("Passcode").fill(PASSCODE)
    page.get_by_role("button", name="Open the review").click()

    # --- the design ---------------------------------------------------------------------------
    reference = shared.case.reference
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Design review — case {reference}, revision 1"
    )
    expect(page.get_by_text("Shared by Maple Grove Dental")).to_be_visible()
    expect(page.get_by_text("36, 37")).to_be_visible()
    expect(page.get_by_text("Contact point too light on the mesial.")).to_be_visible()
    viewer = page.locator("[data-cuspid-viewer]")
    expect(viewer).to_have_attribute("data-rendered", "true", timeout=RENDER_MS)
    canvas = page.locator("canvas.viewer-canvas")
    shot = canvas.screenshot()
    (tmp_path / "review-link-canvas.png").write_bytes(shot)
    image = Image.open(io.BytesIO(shot)).convert("L")
    low, high = cast(tuple[int, int], image.getextrema())
    assert high - low > 40, "the canvas is blank"
    assert ImageStat.Stat(image).stddev[0] > 5, "the canvas is one flat colour"
    page.screenshot(path=str(tmp_path / "review-link-page.png"), full_page=True)
    # Nothing of the patient, no approval control, no way into the app.
    html = page.content().lower()
    assert [value for value in IDENTITY if value.lower() in html] == []
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    expect(page.get_by_text("never through this link")).to_be_visible()

    # --- a comment ----------------------------------------------------------------------------
    page.get_by_label("Your name").fill("Dr Roy")
    page.get_by_label("Comment", exact=True).fill("The distal margin looks short.")
    page.get_by_role("button", name="Send comment").click()
    expect(page.get_by_text("Comment sent.")).to_be_visible()
    expect(page.get_by_text("The distal margin looks short.")).to_be_visible()
    assert Comment.objects.get().review_link_id == link.id
    expect(viewer).to_have_attribute("data-rendered", "true", timeout=RENDER_MS)

    # --- revoked: the same address no longer opens --------------------------------------------
    review_link_revoke(actor=actor_of(clinician), link=link)
    response = page.goto(address)
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("This review link is not available")
    assert not problems.messages, "\n".join(problems.messages)
