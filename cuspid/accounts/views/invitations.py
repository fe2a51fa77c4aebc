"""Pages: the admin's invitations (invite, list, revoke) and the invitee's acceptance.

The mailed link ``/invitations/<token>/`` only moves the token's digest into the session and
redirects to ``/invitations/accept/``, so the token is in no later address, Referer or log
line (the access log also masks the ``token`` capture of the first request).
"""

from __future__ import annotations

from uuid import UUID

from allauth.account.internal.flows.login import perform_password_login
from allauth.account.models import Login
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.forms.invitations import InvitationAcceptForm, InvitationCreateForm
from cuspid.accounts.models import Invitation, User
from cuspid.accounts.policies.invitations import access_invitation
from cuspid.accounts.secrets import secret_digest
from cuspid.accounts.selectors.invitations import (
    InvitationInvalid,
    invitation_has_account,
    invitation_list_for,
    invitation_pending_by_hash,
)
from cuspid.accounts.services.invitations import (
    invitation_accept_existing,
    invitation_accept_new,
    invitation_create,
    invitation_revoke,
)
from cuspid.core.errors import InvalidInput
from cuspid.tenancy.enums import Role
from cuspid.tenancy.middleware import activate_organization
from cuspid.tenancy.requests import actor_from

# The session keeps the digest of the invitation token being accepted, never the token.
INVITATION_SESSION_KEY = "cuspid_invitation_token_hash"


@require_http_methods(["GET", "POST"])
def invitation_list(request: HttpRequest) -> HttpResponse:
    """Invite a member (form) and list the organisation's invitations."""
    actor = actor_from(request)
    require(actor, Perm.OrgManageMembers, actor.organization)
    form = InvitationCreateForm(request.POST or None, organization=actor.organization)
    if request.method == "POST" and form.is_valid():
        try:
            invitation_create(
                actor=actor,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                site_url=f"{request.scheme}://{request.get_host()}",
                request=request,
            )
        except InvalidInput as exc:
            form.add_error(None, exc.detail)
        else:
            # The same words whether or not the address has an account (no enumeration).
            messages.success(
                request,
                _("Invitation sent. The link in the email works once, for %(hours)d hours.")
                % {"hours": settings.CUSPID_INVITATION_HOURS},
            )
            return redirect("accounts:invitation_list")
    return render(
        request,
        "accounts/invitation_list.html",
        {"form": form, "rows": invitation_list_for(actor=actor)},
    )


@require_POST
def invitation_revoke_view(request: HttpRequest, invitation_id: UUID) -> HttpResponse:
    """Revoke one invitation of the active organisation (404 for any other)."""
    actor = actor_from(request)
    invitation = access_invitation(actor, invitation_id)
    try:
        invitation_revoke(actor=actor, invitation=invitation, request=request)
    except InvalidInput:
        messages.error(request, _("This invitation was already accepted."))
    else:
        messages.success(request, _("Invitation revoked. Its link no longer works."))
    return redirect("accounts:invitation_list")


@never_cache
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed link: keep the token's digest in the session, then drop it from the URL.

    Every token is taken (a wrong one fails on the next page the same way as an expired
    one), so this answer says nothing about the token.
    """
    request.session[INVITATION_SESSION_KEY] = secret_digest(token)
    response = redirect("accounts:invitation_accept")
    response["Referrer-Policy"] = "no-referrer"
    return response


def _invalid(request: HttpRequest) -> HttpResponse:
    request.session.pop(INVITATION_SESSION_KEY, None)
    return render(request, "accounts/invitation_invalid.html", status=410)


def _language(request: HttpRequest) -> str:
    language = translation.get_language() or settings.LANGUAGE_CODE
    codes = {code for code, _name in settings.LANGUAGES}
    return language if language in codes else settings.LANGUAGE_CODE


def _accept_new(
    request: HttpRequest, invitation: Invitation, context: dict[str, object]
) -> HttpResponse:
    form = InvitationAcceptForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept_new(
                token_hash=invitation.token_hash,
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
                language=_language(request),
                request=request,
            )
        except InvalidInput as exc:
            form.add_error(None, exc.detail)
        else:
            request.session.pop(INVITATION_SESSION_KEY, None)
            # Through allauth, so the sign-in is audited, its stages run and the session's
            # authentication time is set; then straight on to second-factor enrolment.
            login = Login(user=user, redirect_url=reverse("mfa_activate_totp"))
            response: HttpResponse = perform_password_login(request, {"email": user.email}, login)
            return response
    # The address is shown to whoever holds the mailed link: its owner, signed out.
    return render(
        request,
        "accounts/invitation_accept.html",
        {**context, "state": "new", "form": form, "email": invitation.email},
    )


def _accept_existing(
    request: HttpRequest, invitation: Invitation, user: User, context: dict[str, object]
) -> HttpResponse:
    if request.method == "POST":
        membership, created = invitation_accept_existing(
            token_hash=invitation.token_hash, user=user, request=request
        )
        request.session.pop(INVITATION_SESSION_KEY, None)
        activate_organization(request, membership.organization_id)
        if created:
            messages.success(
                request,
                _("You joined %(organization)s as %(role)s.")
                % {"organization": invitation.organization.name, "role": context["role"]},
            )
        else:
            messages.info(
                request,
                _("You are already a member of %(organization)s.")
                % {"organization": invitation.organization.name},
            )
        return redirect("web:dashboard")
    return render(request, "accounts/invitation_accept.html", {**context, "state": "join"})


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest) -> HttpResponse:
    """Accept the invitation whose token the session holds.

    No working invitation (unknown, expired, used, revoked): one "no longer valid" page,
    410. A new address: choose a name and password, then enrol a second factor. An existing
    account: sign in first, then join with one button. Signed in as someone else: say so,
    without naming the invited address.
    """
    try:
        invitation = invitation_pending_by_hash(
            token_hash=request.session.get(INVITATION_SESSION_KEY, "")
        )
    except InvitationInvalid:
        return _invalid(request)
    user = request.user
    signed_in = isinstance(user, User) and user.is_authenticated
    context: dict[str, object] = {
        "organization": invitation.organization,
        "role": Role(invitation.role).label,
        "inviter": invitation.invited_by.display_name if invitation.invited_by else "",
    }
    if isinstance(user, User) and signed_in and user.email.lower() != invitation.email:
        return render(
            request, "accounts/invitation_accept.html", {**context, "state": "other_account"}
        )
    try:
        if not invitation_has_account(invitation):
            return _accept_new(request, invitation, context)
        if isinstance(user, User) and signed_in:
            return _accept_existing(request, invitation, user, context)
    except InvitationInvalid:
        return _invalid(request)
    next_url = reverse("accounts:invitation_accept")
    login_url = f"{reverse('account_login')}?{urlencode({'next': next_url})}"
    return render(
        request,
        "accounts/invitation_accept.html",
        {**context, "state": "sign_in", "login_url": login_url},
    )


urlpatterns: list[URLPattern] = [
    path("members/invitations/", invitation_list, name="invitation_list"),
    path(
        "members/invitations/<uuid:invitation_id>/revoke/",
        invitation_revoke_view,
        name="invitation_revoke",
    ),
    # Before <token>: "accept" is not a token.
    path("invitations/accept/", invitation_accept, name="invitation_accept"),
    path("invitations/<str:token>/", invitation_open, name="invitation_open"),
]
