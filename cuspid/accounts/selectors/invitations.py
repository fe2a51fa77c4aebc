"""Reads of invitations: the admin's list, and the pending invitation behind a token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from cuspid.accounts.models import Invitation, User
from cuspid.core import clock
from cuspid.core.errors import NotFound
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role


class InvitationStatus(TextChoices):
    PENDING = "pending", _("Pending")
    EXPIRED = "expired", _("Expired")
    ACCEPTED = "accepted", _("Accepted")
    REVOKED = "revoked", _("Revoked")


class InvitationInvalid(NotFound):
    """Unknown, expired, used or revoked: one answer for every case."""

    default_detail = "This invitation is no longer valid."


def invitation_status(invitation: Invitation, now: datetime) -> InvitationStatus:
    """Where the invitation stands at ``now``; it expires at ``expires_at`` exactly."""
    if invitation.accepted_at is not None:
        return InvitationStatus.ACCEPTED
    if invitation.revoked_at is not None:
        return InvitationStatus.REVOKED
    if now >= invitation.expires_at:
        return InvitationStatus.EXPIRED
    return InvitationStatus.PENDING


@dataclass(frozen=True, slots=True)
class InvitationRow:
    """One line of the admin's list."""

    invitation: Invitation
    status: InvitationStatus

    @property
    def role_label(self) -> str:
        return str(Role(self.invitation.role).label)

    @property
    def revocable(self) -> bool:
        return self.status in (InvitationStatus.PENDING, InvitationStatus.EXPIRED)


def invitation_list_for(*, actor: Actor) -> list[InvitationRow]:
    """The actor's organisation's invitations that were not revoked, newest first.

    The caller checks ``Perm.OrgManageMembers`` (the route, and the page before it renders).
    Revoked ones are left out: re-inviting revokes, and the audit trail keeps them.
    """
    now = clock.now()
    invitations = (
        Invitation.objects.filter(organization_id=actor.membership.organization_id)
        .filter(revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at")
    )
    return [InvitationRow(inv, invitation_status(inv, now)) for inv in invitations]


def invitation_pending_by_hash(*, token_hash: str, for_update: bool = False) -> Invitation:
    """The pending invitation whose token has this digest, with its organisation.

    Raises :class:`InvitationInvalid` (a ``NotFound``) when there is none, or it expired, was
    used or was revoked. ``for_update`` locks the row for the rest of the transaction, so two
    acceptances of one token cannot both succeed.
    """
    query = Invitation.objects.select_related("organization", "invited_by")
    if for_update:
        query = query.select_for_update(of=("self",))
    invitation = query.filter(token_hash=token_hash).first()
    if invitation is None or invitation_status(invitation, clock.now()) != InvitationStatus.PENDING:
        raise InvitationInvalid
    return invitation


def invitation_has_account(invitation: Invitation) -> bool:
    """Whether the invited address already has an account (for the invitee's page only)."""
    return User.objects.filter(email__iexact=invitation.email).exists()
