"""Request-wide identity rules: the user's language, session limits, required MFA, the
device cookie."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _

from cuspid.access.routes import page_rule
from cuspid.accounts.language import set_language_cookie
from cuspid.accounts.models import User
from cuspid.accounts.selectors.mfa import has_second_factor, mfa_required_for
from cuspid.accounts.services.devices import device_cookie_set
from cuspid.accounts.services.sessions import (
    Expiry,
    session_expire,
    session_expiry,
    session_touch,
)
from cuspid.core import clock
from cuspid.core.middleware import ViewMiddleware

SESSION_EXPIRED_CODE = "session_expired"


class UserLanguageMiddleware:
    """Runs after authentication; the user's saved language wins over the cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        language = user.language if user.is_authenticated else ""
        if language not in self.supported:
            return self.get_response(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        cookie = settings.LANGUAGE_COOKIE_NAME
        if request.COOKIES.get(cookie) != language and cookie not in response.cookies:
            # Keep the cookie in step so pages after sign-out stay in the user's language.
            set_language_cookie(response, language)
        return response


def _expiry_message(expiry: Expiry) -> str:
    if expiry == Expiry.ABSOLUTE:
        hours = settings.CUSPID_SESSION_ABSOLUTE_SECONDS // 3600
        return _("You were signed out %(hours)d hours after signing in. Sign in again.") % {
            "hours": hours
        }
    seconds = (
        settings.CUSPID_SESSION_IDLE_PHI_SECONDS
        if expiry == Expiry.IDLE_PHI
        else settings.CUSPID_SESSION_IDLE_SECONDS
    )
    return _("You were signed out after %(minutes)d minutes without activity.") % {
        "minutes": seconds // 60
    }


class SessionLimitsMiddleware(ViewMiddleware):
    """End a signed-in session past its idle or absolute limit; keep "last seen" otherwise.

    Idle: 30 minutes since the last request, 15 on pages whose route shows PHI
    (``cuspid.access.routes``); absolute: 12 hours since sign-in (step-up does not extend
    it). An ended session is signed out and audited (``Session.Expired``); a page answers
    with the sign-in page and a message, the API with 401 ``session_expired``. Checked in
    ``process_view``, where the route (and so its PHI flag) is known. A session revoked
    from "Your sessions" has no row left, so it arrives signed out and never gets here.

    Cost: no query, except at most once a minute per session (the last-seen write).
    """

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not request.user.is_authenticated:
            return None
        match = request.resolver_match
        rule = page_rule(match.view_name) if match is not None else None
        now = clock.now()
        expiry = session_expiry(request.session, now=now, phi=rule is not None and rule.phi)
        if expiry is None:
            session_touch(request, now=now)
            return None
        session_expire(request=request, expiry=expiry)
        message = _expiry_message(expiry)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message, "code": SESSION_EXPIRED_CODE}, status=401)
        messages.info(request, message)
        return redirect_to_login(request.get_full_path() if request.method == "GET" else "/")


# Pages an account that must have MFA can reach before it has a second factor: enrolment,
# recovery codes, re-authentication (allauth asks for it before MFA changes), sign-out,
# the language switch and the health checks.
MFA_ENROLMENT_PAGES = frozenset(
    {
        "mfa_index",
        "mfa_activate_totp",
        "mfa_add_webauthn",
        "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes",
        "mfa_download_recovery_codes",
        "account_reauthenticate",
        "mfa_reauthenticate",
        "accounts:step_up",
        "account_logout",
        "accounts:language_set",
        "web:healthz",
        "web:readyz",
    }
)
MFA_REQUIRED_CODE = "mfa_required"
_MFA_OK_ATTR = "cuspid_mfa_satisfied"


def mfa_satisfied(request: HttpRequest) -> bool:
    """Whether the signed-in user may go past enrolment: they need no second factor, or have
    one. One EXISTS query for users who need one, remembered on the request."""
    cached = getattr(request, _MFA_OK_ATTR, None)
    if isinstance(cached, bool):
        return cached
    user = request.user
    memberships = getattr(request, "memberships", None)
    ok = (
        not isinstance(user, User)
        or not mfa_required_for(user, memberships=memberships)
        or has_second_factor(user)
    )
    setattr(request, _MFA_OK_ATTR, ok)
    return ok


class MfaRequiredMiddleware(ViewMiddleware):
    """Staff, clinician, designer, lab and admin accounts (and platform operators) see only
    the enrolment pages until they have a TOTP or passkey second factor.

    Any other page redirects to the authenticator-app enrolment with an explanation; the
    API answers 403 ``{"detail", "code": "mfa_required"}``. Patients are not forced. Runs
    after ``ActorMiddleware`` (it reuses the memberships loaded there) and before the route
    check, so nothing past enrolment runs for such an account.
    """

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not request.user.is_authenticated:
            return None
        match = request.resolver_match
        view_name = match.view_name if match is not None else ""
        if view_name in MFA_ENROLMENT_PAGES or request.path.startswith(settings.STATIC_URL):
            return None
        if mfa_satisfied(request):
            return None
        detail = _(
            "Your organization requires a second factor. Set up an authenticator app or a "
            "passkey to continue."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": str(detail), "code": MFA_REQUIRED_CODE}, status=403)
        messages.warning(request, detail)
        return redirect("mfa_activate_totp")


class DeviceCookieMiddleware:
    """Set the device cookie a sign-in chose (``services.devices``) on its response: allauth
    signs users in deep inside its views, where no response exists yet."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        device_cookie_set(request, response)
        return response
