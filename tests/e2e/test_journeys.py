"""User journeys in the system Chromium, against a live server seeded with the demo data.

One browser per module, a fresh context per test. Every page visited is checked for Content
Security Policy violations, script errors and failed loads. Each Playwright step is bounded
(``STEP_MS``), so a broken page fails in seconds instead of hanging the suite.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from cuspid.tenancy.models import Membership
from cuspid.web.demo import DEMO_TOTP_SECRET, seed_demo
from tests.e2e.browser import STEP_MS, PageProblems, _BrowserHolder
from tests.e2e.totp import fresh_totp_code

pytestmark = pytest.mark.browser

CLINICIAN = "dentist@maplegrove.example"
DESIGNER = "designer@northstar.example"
CLINIC_ADMIN = "admin@maplegrove.example"
FIRST_CLINIC = "Maple Grove Dental (demo)"
SECOND_CLINIC = "Riverbend Family Dentistry (demo)"
LAB = "Northstar Dental Lab (demo)"


@pytest.fixture
def page(
    chromium_path: Path, browser_holder: _BrowserHolder, problems: PageProblems
) -> Iterator[Page]:
    context = browser_holder.get(chromium_path).new_context(
        viewport={"width": 1280, "height": 800}, locale="en-CA"
    )
    context.set_default_timeout(STEP_MS)
    context.set_default_navigation_timeout(STEP_MS)
    page = context.new_page()
    page.on("console", problems.record_console)
    page.on("pageerror", lambda error: problems.messages.append(f"page error: {error}"))
    # Any failed sub-resource (a stylesheet, a script) is a bug; the document itself may be a
    # deliberate 403 or 404.
    page.on(
        "response",
        lambda response: (
            problems.messages.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    yield page
    context.close()


@pytest.fixture
def demo_passwords(transactional_db: None, settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The demo organisations and users, committed so the live server sees them."""
    settings.VAR_DIR = tmp_path
    return {login.email: login.password for login in seed_demo()}


def _sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
    # Every demo staff account has an authenticator app with the demo secret.
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it's you")
    code, _step = fresh_totp_code(DEMO_TOTP_SECRET)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Don't trust").click()


def test_clinician_signs_in_switches_clinic_and_language(
    page: Page, live_server: LiveServer, demo_passwords: dict[str, str], problems: PageProblems
) -> None:
    _sign_in(page, live_server.url, CLINICIAN, demo_passwords[CLINICIAN])

    expect(page.get_by_role("heading", level=1)).to_have_text(FIRST_CLINIC)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Connections")).to_be_visible()
    expect(nav.get_by_role("link", name="Members")).to_have_count(0)  # not an org admin

    page.get_by_label("Organization").select_option(label=f"{SECOND_CLINIC} — Clinician")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SECOND_CLINIC)
    expect(page.get_by_label("Organization")).to_have_value(
        str(
            Membership.objects.get(
                user__email=CLINICIAN, organization__name=SECOND_CLINIC
            ).organization_id
        )
    )

    page.get_by_role("button", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text(SECOND_CLINIC)
    nav = page.get_by_role("navigation", name="Menu principal")
    expect(nav.get_by_role("link", name="Tableau de bord")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_text("Vos laboratoires partenaires")).to_be_visible()

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion à Cuspid")
    assert not problems.messages, "\n".join(problems.messages)


def test_lab_designer_guessing_clinic_urls_learns_nothing(
    page: Page, live_server: LiveServer, demo_passwords: dict[str, str], problems: PageProblems
) -> None:
    _sign_in(page, live_server.url, DESIGNER, demo_passwords[DESIGNER])
    expect(page.get_by_role("heading", level=1)).to_have_text(LAB)

    # The member pages need Perm.MemberView, which a designer's role lacks: the answer is 403
    # for every id, before any lookup, so it tells nothing about the clinic's member.
    clinic_admin = Membership.objects.get(user__email=CLINIC_ADMIN)
    response = page.goto(f"{live_server.url}/members/{clinic_admin.id}/")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_text(CLINIC_ADMIN)).to_have_count(0)
    expect(page.get_by_text(FIRST_CLINIC)).to_have_count(0)

    # The member list exists for the lab too, but only its admins may open it.
    response = page.goto(f"{live_server.url}/members/")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_text(FIRST_CLINIC)).to_have_count(0)

    page.get_by_role("link", name="Back to your dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(LAB)
    assert not problems.messages, "\n".join(problems.messages)
