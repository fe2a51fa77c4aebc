"""Browsers a user signs in from: the device cookie, new-device mail and trusted devices.

Each browser gets a random cookie (``cuspid_device``, 256 bits, HttpOnly); the server keeps
only its SHA-256 per user (``Device``). A completed sign-in from a browser with no row for
that user creates one, audits ``Auth.NewDevice`` and emails the user. "Trust this browser"
sets ``trusted_until`` 30 days ahead: until then the second factor is skipped there (never
the password), and the user can revoke it from the devices page at any time — trust lives on
the server, unlike allauth's signed trust cookie, so revocation works at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from cuspid.accounts.models import Device, User
from cuspid.accounts.policies import require_recent_auth
from cuspid.accounts.secrets import new_secret, secret_digest
from cuspid.accounts.selectors.devices import (
    browser_label,
    device_for_browser,
    device_is_trusted,
)
from cuspid.accounts.services.security import actor_signing_in
from cuspid.audit.actions import AuditAction
from cuspid.audit.identity import AuditIdentity
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.errors import NotFound
from cuspid.core.http import client_ip
from cuspid.tenancy.actor import Actor

DEVICE_COOKIE = "cuspid_device"
# Browsers cap cookie lifetimes at 400 days; the cookie is renewed at every sign-in.
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 60 * 60
# Set on the request during a sign-in; DeviceCookieMiddleware copies it to the response.
PENDING_COOKIE_ATTR = "cuspid_device_cookie"
# Set on the request by the "trust this browser" page just before it completes the sign-in.
TRUST_REQUESTED_ATTR = "cuspid_trust_browser"

ALLAUTH_AUTHENTICATE_STAGE = "allauth.mfa.stages.AuthenticateStage"
AUTHENTICATE_STAGE = "cuspid.accounts.stages.TrustedDeviceAuthenticateStage"
DEVICE_TRUST_STAGE = "cuspid.accounts.stages.DeviceTrustStage"


@dataclass(frozen=True, slots=True)
class AccountHolder:
    """A signed-in user acting on their own account outside any organisation (a platform
    operator has no membership, so no ``Actor``). Has what step-up and the audit trail need."""

    user: User
    authenticated_at: datetime | None

    def audit_identity(self) -> AuditIdentity:
        return AuditIdentity(user_id=self.user.pk)


AccountActor = Actor | AccountHolder
"""Someone managing their own account: a member (``Actor``) or an ``AccountHolder``."""


def browser_secret(request: HttpRequest) -> str | None:
    """The device cookie this browser sent, if any."""
    return request.COOKIES.get(DEVICE_COOKIE) or None


def device_cookie_set(request: HttpRequest, response: HttpResponse) -> None:
    """Put the device cookie chosen during this request (if any) on the response."""
    value = getattr(request, PENDING_COOKIE_ATTR, None)
    if not isinstance(value, str):
        return
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def login_stages(stages: list[str]) -> list[str]:
    """allauth's login stages with Cuspid's second-factor stage (which skips a trusted
    device) in place of allauth's, followed by the "trust this browser?" page."""
    if ALLAUTH_AUTHENTICATE_STAGE not in stages:
        return stages
    out: list[str] = []
    for stage in stages:
        if stage == ALLAUTH_AUTHENTICATE_STAGE:
            out += [AUTHENTICATE_STAGE, DEVICE_TRUST_STAGE]
        else:
            out.append(stage)
    return out


def device_is_trusted_for(*, request: HttpRequest, user: User) -> bool:
    """Whether this browser is a device ``user`` trusts now (the second factor is skipped)."""
    return device_is_trusted(device_for_browser(user=user, browser_secret=browser_secret(request)))


def _client_ip(request: HttpRequest) -> str | None:
    return client_ip(request) or None


@transaction.atomic(durable=True)
def device_recognise_at_sign_in(*, request: HttpRequest, user: User) -> Device:
    """Note the browser a completed sign-in came from, and trust it when the user asked.

    An unknown browser gets a new ``Device`` (and, when it sent no cookie, a new cookie,
    set on the response by ``DeviceCookieMiddleware``), audits ``Auth.NewDevice`` and emails
    the user once the transaction commits. A known one has its last use, IP and browser
    updated. When the sign-in passed the "trust this browser" page with "yes", the device is
    trusted for ``CUSPID_TRUSTED_DEVICE_DAYS`` and ``Device.Trusted`` is audited.
    """
    now = clock.now()
    secret = request.COOKIES.get(DEVICE_COOKIE) or new_secret()
    # Always (re)set the cookie: it keeps its full lifetime while the browser is in use.
    setattr(request, PENDING_COOKIE_ATTR, secret)
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    ip = _client_ip(request)
    actor = actor_signing_in(user)
    device = device_for_browser(user=user, browser_secret=secret)
    if device is None:
        device = Device.objects.create(
            user=user,
            token_hash=secret_digest(secret),
            user_agent=user_agent,
            ip_address=ip,
            last_used_at=now,
        )
        audit_emit(
            action=AuditAction.Auth.NewDevice,
            actor=actor,
            target_type="device",
            target_id=str(device.pk),
            request=request,
        )
        devices_url = request.build_absolute_uri(reverse("accounts:device_list"))
        transaction.on_commit(
            lambda: _send_new_device_mail(user=user, device=device, devices_url=devices_url)
        )
    else:
        device.last_used_at = now
        device.user_agent = user_agent
        device.ip_address = ip
    if getattr(request, TRUST_REQUESTED_ATTR, False):
        device.trusted_until = now + timedelta(days=settings.CUSPID_TRUSTED_DEVICE_DAYS)
        audit_emit(
            action=AuditAction.Device.Trusted,
            actor=actor,
            target_type="device",
            target_id=str(device.pk),
            request=request,
        )
    device.save()
    return device


def _send_new_device_mail(*, user: User, device: Device, devices_url: str) -> None:
    """The "new sign-in" email: when (UTC), which browser, from where (IP). Nothing about
    the user's organisations, patients or cases."""
    context = {
        "when": device.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "browser": browser_label(device.user_agent),
        "ip": device.ip_address or "",
        "devices_url": devices_url,
    }
    with translation.override(user.language):
        subject = render_to_string("accounts/email/new_device_subject.txt", context)
        body = render_to_string("accounts/email/new_device_message.txt", context)
    send_mail(
        subject=settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + " ".join(subject.split()),
        message=body,
        from_email=None,
        recipient_list=[user.email],
    )


def _revoke(*, actor: AccountActor, device: Device, request: HttpRequest | None) -> None:
    device.trusted_until = None
    device.save(update_fields=["trusted_until", "updated_at"])
    audit_emit(
        action=AuditAction.Device.Revoked,
        actor=actor,
        target_type="device",
        target_id=str(device.pk),
        request=request,
    )


@transaction.atomic(durable=True)
def device_trust_revoke(
    *, actor: AccountActor, device_id: UUID, request: HttpRequest | None = None
) -> Device:
    """Stop trusting one of the actor's own devices: its next sign-in asks for the second
    factor again. Raises ``StepUpRequired`` without a recent full authentication and
    ``NotFound`` for a device that is not the actor's. Audits ``Device.Revoked``."""
    require_recent_auth(actor)
    device = Device.objects.select_for_update().filter(user=actor.user, pk=device_id).first()
    if device is None:
        raise NotFound
    _revoke(actor=actor, device=device, request=request)
    return device


@transaction.atomic(durable=True)
def device_trust_revoke_all(*, actor: AccountActor, request: HttpRequest | None = None) -> int:
    """Stop trusting every device of the actor's; returns how many were trusted.

    Raises ``StepUpRequired`` without a recent full authentication. Audits one
    ``Device.Revoked`` per device whose trust ended.
    """
    require_recent_auth(actor)
    devices = list(
        Device.objects.select_for_update().filter(user=actor.user, trusted_until__isnull=False)
    )
    for device in devices:
        _revoke(actor=actor, device=device, request=request)
    return len(devices)
