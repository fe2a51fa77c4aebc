"""Invitations: an organisation admin invites a member by email; the invitee accepts once.

The token is 256 random bits (``cuspid.accounts.secrets``), mailed once and stored only as its
digest. It is single use, expires after ``settings.CUSPID_INVITATION_HOURS`` (72) and can be
revoked. The admin's answer never says whether the address already has an account; only the
mail, which goes to the owner of the address, differs (it says to sign in to accept).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.models import Invitation, User
from cuspid.accounts.secrets import new_secret, secret_digest
from cuspid.accounts.selectors.invitations import invitation_pending_by_hash
from cuspid.accounts.services import user_add
from cuspid.audit.actions import AuditAction
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, PermissionDenied
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ROLES_BY_KIND, Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.tenancy.services import membership_add

TARGET_TYPE = "invitation"


def invitable_roles(organization: Organization) -> list[Role]:
    """Roles an admin may invite to ``organization``, in the order of ``Role``.

    Patients are invited by their clinic through the patient flow, not here.
    """
    allowed = ROLES_BY_KIND[organization.kind]
    return [role for role in Role if role in allowed and role != Role.PATIENT]


def invitation_password_user(invitation: Invitation, full_name: str = "") -> User:
    """An unsaved user standing for the invitee, for the password validators.

    Carries ``password_context_words`` (the organisation's name), which Cuspid's context-word
    validator refuses inside a password, beside the email and name Django's similarity
    validator already checks.
    """
    user = User(email=invitation.email, full_name=full_name)
    user.password_context_words = [invitation.organization.name]  # type: ignore[attr-defined]  # read by cuspid.accounts.passwords
    return user


def _send_invitation(
    *, invitation: Invitation, token: str, site_url: str, inviter: User, language: str
) -> None:
    """Mail the link (after commit). Names the organisation and the inviter, nothing else."""
    existing = User.objects.filter(email__iexact=invitation.email).first()
    with translation.override(existing.language if existing is not None else language):
        context = {
            "organization": invitation.organization.name,
            "inviter": inviter.display_name,
            "role": Role(invitation.role).label,
            "accept_url": site_url.rstrip("/")
            + reverse("accounts:invitation_open", kwargs={"token": token}),
            "existing_account": existing is not None,
            "hours": settings.CUSPID_INVITATION_HOURS,
        }
        subject = render_to_string("accounts/email/invitation_subject.txt", context)
        body = render_to_string("accounts/email/invitation_message.txt", context)
    send_mail(
        " ".join(subject.split()),
        body,
        settings.DEFAULT_FROM_EMAIL,
        [invitation.email],
    )


@transaction.atomic(durable=True)
def invitation_create(
    *,
    actor: Actor,
    email: str,
    role: Role | str,
    site_url: str,
    request: HttpRequest | None = None,
) -> tuple[Invitation, str]:
    """Invite ``email`` to the actor's organisation with ``role``; returns it and its token.

    ``site_url`` is the scheme and host the mailed link starts with. The token is shown
    nowhere else: it is mailed after commit and stored only as its digest. An earlier pending
    invitation of the same address to the same organisation is revoked. The answer is the
    same whether or not the address has an account.

    Raises PermissionDenied without ``Perm.OrgManageMembers``; InvalidInput for a malformed
    address or a role the organisation's kind does not have (or ``Role.PATIENT``).
    Audits ``AuditAction.Invitation.Sent``.
    """
    organization = actor.organization
    require(actor, Perm.OrgManageMembers, organization)
    address = email.strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidInput("Enter a valid email address.") from None
    if role not in invitable_roles(organization):
        raise InvalidInput("This role cannot be invited to this organization.")
    now = clock.now()
    Invitation.objects.filter(
        organization=organization,
        email__iexact=address,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    ).update(revoked_at=now, updated_at=now)
    token = new_secret()
    invitation = Invitation.objects.create(
        organization=organization,
        email=address,
        role=Role(role),
        token_hash=secret_digest(token),
        invited_by=actor.user,
        expires_at=now + timedelta(hours=settings.CUSPID_INVITATION_HOURS),
    )
    audit_emit(
        action=AuditAction.Invitation.Sent,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=invitation.id,
        request=request,
    )
    language = translation.get_language() or settings.LANGUAGE_CODE
    transaction.on_commit(
        lambda: _send_invitation(
            invitation=invitation,
            token=token,
            site_url=site_url,
            inviter=actor.user,
            language=language,
        )
    )
    return invitation, token


@transaction.atomic(durable=True)
def invitation_revoke(
    *, actor: Actor, invitation: Invitation, request: HttpRequest | None = None
) -> Invitation:
    """Revoke a pending (or expired) invitation so its link stops working at once.

    The caller found ``invitation`` with ``access_invitation`` (404 for another
    organisation's). Revoking a revoked invitation changes nothing and audits nothing.
    Raises PermissionDenied without ``Perm.OrgManageMembers``; InvalidInput once accepted.
    Audits ``AuditAction.Invitation.Revoked``.
    """
    require(actor, Perm.OrgManageMembers, invitation)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise InvalidInput("This invitation was already accepted.")
    if invitation.revoked_at is not None:
        return invitation
    invitation.revoked_at = clock.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    audit_emit(
        action=AuditAction.Invitation.Revoked,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=invitation.id,
        request=request,
    )
    return invitation


def _accepted(
    invitation: Invitation, user: User, membership: Membership, request: HttpRequest | None
) -> None:
    invitation.accepted_at = clock.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    audit_emit(
        action=AuditAction.Invitation.Accepted,
        actor=Actor.of(membership),
        target_type=TARGET_TYPE,
        target_id=invitation.id,
        request=request,
    )


@transaction.atomic(durable=True)
def invitation_accept_new(
    *,
    token_hash: str,
    password: str,
    full_name: str,
    language: str = "en",
    request: HttpRequest | None = None,
) -> User:
    """Create the invitee's account with ``password`` and their membership, in one go.

    ``token_hash`` is the digest of the mailed token (the accept page keeps only the digest
    in the session). Raises NotFound when the invitation is unknown, expired, used or
    revoked (one answer for all); InvalidInput when the address has an account by now (sign
    in to accept instead) or the password breaks a rule. Audits
    ``AuditAction.Invitation.Accepted`` as the new member. The caller signs the user in.
    """
    invitation = invitation_pending_by_hash(token_hash=token_hash, for_update=True)
    try:
        validate_password(password, invitation_password_user(invitation, full_name))
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages)) from None
    user = user_add(
        email=invitation.email,
        password=password,
        full_name=full_name,
        language=language,
    )
    membership = membership_add(
        user=user, organization=invitation.organization, role=Role(invitation.role)
    )
    _accepted(invitation, user, membership, request)
    return user


@transaction.atomic(durable=True)
def invitation_accept_existing(
    *, token_hash: str, user: User, request: HttpRequest | None = None
) -> tuple[Membership, bool]:
    """Join the invitation's organisation with an existing, signed-in account.

    Returns the membership and whether it is new: an account that is already a member there
    keeps its membership as it is (no duplicate) and the invitation is used up all the same.
    Raises NotFound as :func:`invitation_accept_new`; PermissionDenied when ``user`` is not
    the invited address. Audits ``AuditAction.Invitation.Accepted``.
    """
    invitation = invitation_pending_by_hash(token_hash=token_hash, for_update=True)
    if user.email.lower() != invitation.email.lower():
        raise PermissionDenied("This invitation is for another account.")
    membership = Membership.objects.filter(
        user=user, organization_id=invitation.organization_id
    ).first()
    created = membership is None
    if membership is None:
        membership = membership_add(
            user=user, organization=invitation.organization, role=Role(invitation.role)
        )
    _accepted(invitation, user, membership, request)
    return membership, created
