"""Pages: the security overview, trusted devices, and "trust this browser?" at sign-in."""

from __future__ import annotations

from uuid import UUID

from allauth.account.internal.decorators import login_stage_required
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cuspid.access.permissions import Perm
from cuspid.access.policy import can
from cuspid.accounts.authtime import authenticated_at
from cuspid.accounts.models import User
from cuspid.accounts.selectors.devices import device_rows_for
from cuspid.accounts.selectors.mfa import mfa_overview_for, mfa_required_for
from cuspid.accounts.services.devices import (
    TRUST_REQUESTED_ATTR,
    AccountActor,
    AccountHolder,
    browser_secret,
    device_trust_revoke,
    device_trust_revoke_all,
)
from cuspid.accounts.stages import DEVICE_TRUST_STAGE_KEY
from cuspid.core.errors import NotAuthenticated
from cuspid.tenancy.actor import Actor

SESSIONS_PATH = "/account/sessions/"
API_TOKENS_PATH = "/settings/api-tokens/"


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated
    return user


def account_actor(request: HttpRequest) -> AccountActor:
    """Who manages this account: the request's Actor, or (for a user without a membership,
    such as a platform operator) the user with the session's last full authentication."""
    actor = getattr(request, "actor", None)
    if isinstance(actor, Actor):
        return actor
    return AccountHolder(user=_user(request), authenticated_at=authenticated_at(request.session))


def _url_or(name: str, fallback: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return fallback


@login_required
@require_http_methods(["GET"])
def security(request: HttpRequest) -> HttpResponse:
    """The account's security overview: second factors, trusted browsers, sessions."""
    user = _user(request)
    actor = getattr(request, "actor", None)
    is_admin = isinstance(actor, Actor) and can(actor, Perm.ApiTokenManage)
    context = {
        "mfa": mfa_overview_for(user),
        "mfa_required": mfa_required_for(user, memberships=getattr(request, "memberships", None)),
        "sessions_url": _url_or("accounts:session_list", SESSIONS_PATH),
        "api_tokens_url": _url_or("accounts:token_list", API_TOKENS_PATH) if is_admin else "",
        "trusted_days": settings.CUSPID_TRUSTED_DEVICE_DAYS,
    }
    return render(request, "accounts/security.html", context)


@login_required
@require_http_methods(["GET"])
def device_list(request: HttpRequest) -> HttpResponse:
    """The browsers this account signed in from, their trust, and which one is this."""
    rows = device_rows_for(user=_user(request), browser_secret=browser_secret(request))
    context = {
        "rows": rows,
        "any_trusted": any(row.trusted for row in rows),
        "trusted_days": settings.CUSPID_TRUSTED_DEVICE_DAYS,
    }
    return render(request, "accounts/device_list.html", context)


@login_required
@require_POST
def device_revoke(request: HttpRequest, device_id: UUID) -> HttpResponse:
    """Stop trusting one browser (step-up first)."""
    device_trust_revoke(actor=account_actor(request), device_id=device_id, request=request)
    messages.success(
        request, _("That browser is no longer trusted: it will ask for your second factor.")
    )
    return redirect("accounts:device_list")


@login_required
@require_POST
def device_revoke_all(request: HttpRequest) -> HttpResponse:
    """Stop trusting every browser (step-up first)."""
    count = device_trust_revoke_all(actor=account_actor(request), request=request)
    if count:
        messages.success(
            request, _("No browser is trusted any more: each will ask for your second factor.")
        )
    else:
        messages.info(request, _("No browser was trusted."))
    return redirect("accounts:device_list")


@login_stage_required(stage=DEVICE_TRUST_STAGE_KEY, redirect_urlname="account_login")  # type: ignore[untyped-decorator]  # allauth ships no types
@require_http_methods(["GET", "POST"])
def device_trust(request: HttpRequest) -> HttpResponse:
    """Mid sign-in, after the second factor: "Trust this browser for 30 days?"."""
    stage = request._login_stage  # type: ignore[attr-defined]  # set by login_stage_required
    if request.method == "POST":
        if request.POST.get("action") == "trust":
            # Read by services.devices.device_recognise_at_sign_in as the sign-in completes.
            setattr(request, TRUST_REQUESTED_ATTR, True)
        response: HttpResponse = stage.exit()
        return response
    return render(
        request,
        "accounts/device_trust.html",
        {"trusted_days": settings.CUSPID_TRUSTED_DEVICE_DAYS},
    )


urlpatterns: list[URLPattern] = [
    path("account/security/", security, name="security"),
    path("account/security/devices/", device_list, name="device_list"),
    path("account/security/devices/<uuid:device_id>/revoke/", device_revoke, name="device_revoke"),
    path("account/security/devices/revoke-all/", device_revoke_all, name="device_revoke_all"),
    path("accounts/trust-this-browser/", device_trust, name="device_trust"),
]
