"""The production package panel and the work order page, in the system Chromium.

Lab staff open an approved revision, press "Create production package" (htmx swaps the panel
under the page's CSP), see the download with its SHA-256, download the ZIP and open the
printable work order, whose print layout hides its toolbar. Screenshots go to the test's
temporary directory (``CUSPID_SCREENSHOTS`` copies them elsewhere to look at).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from cuspid.accounts.models import User
from cuspid.cases.models import Attachment, ProductionPackage
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.e2e.browser import STEP_MS, PageProblems, _BrowserHolder
from tests.factories.cases import make_patient
from tests.factories.packages import approved_revision

pytestmark = pytest.mark.browser

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


@pytest.fixture
def tab(
    chromium_path: Path, browser_holder: _BrowserHolder, problems: PageProblems
) -> Iterator[Page]:
    context = browser_holder.get(chromium_path).new_context(
        viewport={"width": 1280, "height": 900}, locale="en-CA", accept_downloads=True
    )
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    page.on("console", problems.record_console)
    page.on("pageerror", lambda error: problems.messages.append(f"page error: {error}"))
    yield page
    context.close()


def _shot(page: Page, tmp_path: Path, name: str, *, full: bool = True) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    target = os.environ.get("CUSPID_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / path.name).write_bytes(path.read_bytes())


def _as(page: Page, live_server: LiveServer, client: Client) -> None:
    """The browser takes the signed-in test client's session."""
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": cookie.value,
                "domain": urlparse(live_server.url).hostname or "localhost",
                "path": "/",
            }
        ]
    )


def test_lab_staff_create_download_and_print_the_package(
    tab: Page,
    live_server: LiveServer,
    problems: PageProblems,
    clinic: Organization,
    lab: Organization,
    connection_: object,
    member_of: MemberOf,
    signed_in: SignedIn,
    tmp_path: Path,
) -> None:
    clinician = member_of(clinic, Role.CLINICIAN)
    clinician.user.full_name = "Dr Amara Okafor"
    clinician.user.save(update_fields=["full_name"])
    designer = member_of(lab, Role.DESIGNER)
    lab_staff = member_of(lab, Role.LAB_STAFF)
    patient = make_patient(clinician, given_name="Wilhelmina", family_name="Thistlewood")
    revision = approved_revision(
        clinician,
        designer,
        lab,
        patient,
        teeth=(14, 15, 16),
        notes="Prep margin subgingival on the distal.\nLight occlusal contact on 15.",
    )
    _as(tab, live_server, signed_in(lab_staff.user))

    tab.goto(f"{live_server.url}/revisions/{revision.id}/")
    panel = tab.locator("#package-panel")
    expect(panel.get_by_role("heading", name="Production package")).to_be_visible()
    panel.scroll_into_view_if_needed()
    _shot(tab, tmp_path, "package-panel-before")
    panel.get_by_role("button", name="Create production package").click()

    download_link = tab.get_by_role("link", name="Download package (ZIP,")
    expect(download_link).to_be_visible()
    package = ProductionPackage.objects.get(revision=revision)
    expect(tab.locator("#package-panel code.hash")).to_have_text(package.sha256)
    tab.locator("#package-panel").scroll_into_view_if_needed()
    _shot(tab, tmp_path, "package-panel-after", full=False)

    with tab.expect_download() as caught:
        download_link.click()
    download = caught.value
    assert download.suggested_filename == f"{revision.case.reference}-rev1-production.zip"
    data = Path(download.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == package.sha256
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        approved = set(
            Attachment.objects.filter(revision=revision).values_list("sha256", flat=True)
        )
        assert {line["sha256"] for line in manifest["files"]} == approved
        for line in manifest["files"]:
            assert hashlib.sha256(archive.read(line["name"])).hexdigest() == line["sha256"]

    tab.get_by_role("link", name="Print work order").click()
    expect(tab.get_by_role("heading", level=1)).to_contain_text(
        f"Work order {revision.case.reference}"
    )
    expect(tab.locator(".fdi-chart td.marked")).to_have_count(3)
    expect(tab.get_by_role("button", name="Print")).to_be_visible()
    _shot(tab, tmp_path, "workorder-screen")
    tab.emulate_media(media="print")
    expect(tab.get_by_role("button", name="Print")).to_be_hidden()
    _shot(tab, tmp_path, "workorder-print")
    assert "Thistlewood" not in tab.content()
    assert problems.messages == []
