"""Identity in the system Chromium: an invited clinician accepts and sets a password, is
forced to enrol TOTP, sees recovery codes once, signs in with a second factor, trusts a
browser, and registers and uses a passkey through Chromium's virtual WebAuthn authenticator
(CDP ``WebAuthn.addVirtualAuthenticator``).

Same live-server set-up as ``test_journeys``: one browser per module, a fresh context per
test (and a second one to play "a new browser").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from cuspid.accounts.models import Device
from cuspid.accounts.services.invitations import invitation_create
from cuspid.audit.models import AuditEvent
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from tests.e2e.browser import STEP_MS, PageProblems, _BrowserHolder
from tests.e2e.totp import fresh_totp_code
from tests.factories import TEST_PASSWORD, make_membership, make_organization

pytestmark = pytest.mark.browser

EMAIL = "new.clinician@maplegrove.example"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _context(holder: _BrowserHolder, chromium: Path, problems: PageProblems) -> BrowserContext:
    context = holder.get(chromium).new_context(
        viewport={"width": 1280, "height": 900}, locale="en-CA"
    )
    context.set_default_timeout(STEP_MS)
    context.set_default_navigation_timeout(STEP_MS)
    context.on("console", problems.record_console)
    context.on("weberror", lambda error: problems.messages.append(f"page error: {error.error}"))
    return context


@pytest.fixture
def context(
    chromium_path: Path, browser_holder: _BrowserHolder, problems: PageProblems
) -> Iterator[BrowserContext]:
    context = _context(browser_holder, chromium_path, problems)
    yield context
    context.close()


@pytest.fixture
def invitation_link(transactional_db: None, live_server: LiveServer) -> str:
    """The link an admin's invitation mails to a new clinician (no account yet)."""
    clinic = make_organization(name="Maple Grove Dental (test)")
    admin = make_membership(organization=clinic, role=Role.ORG_ADMIN)
    invitation_create(
        actor=Actor.of(admin), email=EMAIL, role=Role.CLINICIAN, site_url=live_server.url
    )
    [invitation_mail] = mail.outbox
    mail.outbox.clear()
    match = re.search(r"http://\S+/invitations/\S+/", str(invitation_mail.body))
    assert match is not None
    return match.group(0)


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _password_step(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()


def _sign_out(page: Page) -> None:
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Cuspid")


def _second_factor(page: Page, secret: str, used_step: int | None) -> int:
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it's you")
    code, step = fresh_totp_code(secret, not_in_step=used_step)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    return step


def test_staff_enrols_totp_trusts_a_browser_and_signs_in_with_a_passkey(
    context: BrowserContext,
    chromium_path: Path,
    browser_holder: _BrowserHolder,
    live_server: LiveServer,
    invitation_link: str,
    problems: PageProblems,
) -> None:
    base = live_server.url
    page = context.new_page()

    # 1. The invitation: the link leaves the address bar at once; a name and a password make
    # the account, and then nothing but second-factor enrolment is open to it.
    page.goto(invitation_link)
    expect(page).to_have_url(re.compile(r"/invitations/accept/$"))
    page.get_by_label("Full name").fill("Casey New")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_label("Password (again)").fill(TEST_PASSWORD)
    _shot(page, "invitation-accept")
    page.get_by_role("button", name="Create account and continue").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    page.goto(f"{base}/members/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    expect(page.get_by_text("Your organization requires a second factor")).to_be_visible()
    _shot(page, "mfa-enrol")
    secret = page.locator("#authenticator_secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    code, enrol_step = fresh_totp_code(secret)
    page.get_by_label("Authenticator code").fill(code)
    page.get_by_role("button", name="Turn on").click()

    # 2. The recovery codes, once.
    expect(page.get_by_role("heading", name="Store these codes now")).to_be_visible()
    codes = page.locator("#recovery_codes li").all_inner_texts()
    assert len(codes) == 10
    expect(page.get_by_role("link", name="Download codes")).to_have_attribute(
        "download", "cuspid-recovery-codes.txt"
    )
    _shot(page, "mfa-recovery-codes")
    page.goto(f"{base}/accounts/2fa/recovery-codes/")
    expect(page.get_by_role("heading", name="Your codes were shown once")).to_be_visible()
    assert codes[0] not in page.content()
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Maple Grove Dental (test)")
    _sign_out(page)

    # 3. Password + TOTP, then trust this browser.
    _password_step(page, base)
    used_step = _second_factor(page, secret, enrol_step)
    expect(page.get_by_role("heading", level=1)).to_have_text("Trust this browser?")
    _shot(page, "device-trust")
    page.get_by_role("button", name="Trust this browser for 30 days").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maple Grove Dental (test)")
    _sign_out(page)

    # 4. The trusted browser: the password alone signs in.
    _password_step(page, base)
    expect(page.get_by_role("heading", level=1)).to_have_text("Maple Grove Dental (test)")

    # ... but another browser is a new device: second factor asked, "new sign-in" mail sent.
    other = _context(browser_holder, chromium_path, problems)
    other_page = other.new_page()
    _password_step(other_page, base)
    _second_factor(other_page, secret, used_step)
    other_page.get_by_role("button", name="Don't trust").click()
    expect(other_page.get_by_role("heading", level=1)).to_have_text("Maple Grove Dental (test)")
    other.close()
    assert Device.objects.filter(user__email=EMAIL).count() == 2
    assert [m.to for m in mail.outbox] == [[EMAIL], [EMAIL]]

    page.goto(f"{base}/account/security/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Security")
    _shot(page, "security")
    page.get_by_role("link", name="Trusted browsers").click()
    expect(page.get_by_text("This browser")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Revoke trust"))).to_have_count(1)
    _shot(page, "devices")

    # 5. A passkey through Chromium's virtual authenticator.
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    page.goto(f"{base}/accounts/2fa/webauthn/add/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a passkey")
    page.get_by_label("Name").fill("Test laptop")
    page.get_by_role("button", name="Add passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Second factors")
    expect(page.get_by_text("You have 1 passkey or security key.")).to_be_visible()
    _sign_out(page)

    # 6. The passkey alone signs in (no password, no code).
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maple Grove Dental (test)")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"mfa:enrol", "auth:new_device", "device:trust", "auth:passkey_sign_in"} <= actions
    assert not problems.messages, "\n".join(problems.messages)
