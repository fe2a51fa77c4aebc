"""The one catalogue of audit actions: ``AuditAction.<Area>.<Event> = "<area>:<verb>"``.

New features add a member here (and a label below); ``audit_emit`` refuses anything else.
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class AuditAction:
    """Namespace of the nested enums; each member's value is what the audit table stores."""

    class Auth(StrEnum):
        SignedIn = "auth:sign_in"
        SignedOut = "auth:sign_out"
        SignInFailed = "auth:sign_in_failed"
        # A refused attempt: too many failed passwords or second factors in the window.
        Throttled = "auth:throttle"
        Locked = "auth:lock"
        Unlocked = "auth:unlock"
        SecondFactorFailed = "auth:second_factor_failed"
        RecoveryCodeUsed = "auth:recovery_code_use"
        PasskeySignedIn = "auth:passkey_sign_in"
        NewDevice = "auth:new_device"
        SteppedUp = "auth:step_up"
        PasswordChanged = "auth:password_change"
        PasswordReset = "auth:password_reset"

    class Mfa(StrEnum):
        Enrolled = "mfa:enrol"
        Removed = "mfa:remove"
        RecoveryCodesRegenerated = "mfa:recovery_codes_regenerate"

    class Device(StrEnum):
        Trusted = "device:trust"
        Revoked = "device:revoke"

    class Session(StrEnum):
        Revoked = "session:revoke"
        Expired = "session:expire"

    class Token(StrEnum):
        Created = "token:create"
        Revoked = "token:revoke"
        Used = "token:use"
        Denied = "token:deny"

    class Invitation(StrEnum):
        Sent = "invitation:send"
        Accepted = "invitation:accept"
        Revoked = "invitation:revoke"

    class Org(StrEnum):
        Switched = "org:switch"

    class Record(StrEnum):
        # A read of a PHI-scoped page or endpoint.
        Read = "record:read"
        # A refused change to a PHI-scoped route (403, 404): the service never ran.
        WriteDenied = "record:write_deny"

    class Patient(StrEnum):
        Created = "patient:create"
        Updated = "patient:update"

    class Case(StrEnum):
        Created = "case:create"
        Updated = "case:update"
        # One action per workflow transition (cuspid.cases.workflow.Action).
        Submitted = "case:submit"
        Accepted = "case:accept"
        Declined = "case:decline"
        DesignStarted = "case:start_design"
        SentForReview = "case:send_for_review"
        ChangesRequested = "case:request_changes"
        Approved = "case:approve"
        ProductionStarted = "case:start_production"
        Shipped = "case:ship"
        Delivered = "case:confirm_delivery"
        Closed = "case:close"
        Cancelled = "case:cancel"
        ShareRevoked = "case:revoke_share"
        AttachmentAdded = "case:attachment_add"
        RevisionCreated = "case:revision_create"
        # Review (issue 8): pins and comments on a revision, links, comparisons, packages.
        AnnotationAdded = "case:annotation_add"
        AnnotationDeleted = "case:annotation_delete"
        CommentAdded = "case:comment_add"
        ReviewLinkCreated = "case:review_link_create"
        ReviewLinkRevoked = "case:review_link_revoke"
        # Every open of a review link, including refused ones (expired, revoked, guessed).
        ReviewLinkOpened = "case:review_link_open"
        ComparisonRequested = "case:compare"
        PackageCreated = "case:package_create"
        PackageDownloaded = "case:package_download"
        # approvals_verify read every approved file back (a system check, counts only).
        ApprovalsVerified = "case:approvals_verify"
        # AI suggestions (issue 9): a designer asks; the platform reports the outcome.
        AiSuggestionRequested = "case:ai_suggest"
        AiSuggestionReady = "case:ai_suggestion_ready"
        AiSuggestionFailed = "case:ai_suggestion_fail"

    class BreakGlass(StrEnum):
        Started = "breakglass:start"
        Accessed = "breakglass:access"
        Expired = "breakglass:expire"

    class Keys(StrEnum):
        # The id of the destroyed data key (crypto-shredding, or replaying the forget list).
        Shredded = "keys:shred"
        # Rotation: the target is the new primary key's id; the retired or re-wrapped ids and
        # the counts go in the details. Key material never appears.
        KekRotated = "keys:rotate_kek"
        DekRotated = "keys:rotate_dek"
        Retired = "keys:retire"

    class Audit(StrEnum):
        Exported = "audit:export"
        CheckpointSigned = "audit:checkpoint_sign"


AREAS: tuple[type[StrEnum], ...] = (
    AuditAction.Auth,
    AuditAction.Mfa,
    AuditAction.Device,
    AuditAction.Session,
    AuditAction.Token,
    AuditAction.Invitation,
    AuditAction.Org,
    AuditAction.Record,
    AuditAction.Patient,
    AuditAction.Case,
    AuditAction.BreakGlass,
    AuditAction.Keys,
    AuditAction.Audit,
)

ACTION_LABELS: dict[str, str | Promise] = {
    AuditAction.Auth.SignedIn: _("Signed in"),
    AuditAction.Auth.SignedOut: _("Signed out"),
    AuditAction.Auth.SignInFailed: _("Sign-in failed"),
    AuditAction.Auth.Throttled: _("Sign-in attempts throttled"),
    AuditAction.Auth.Locked: _("Account locked"),
    AuditAction.Auth.Unlocked: _("Account unlocked"),
    AuditAction.Auth.SecondFactorFailed: _("Second factor failed"),
    AuditAction.Auth.RecoveryCodeUsed: _("Used a recovery code"),
    AuditAction.Auth.PasskeySignedIn: _("Signed in with a passkey"),
    AuditAction.Auth.NewDevice: _("Signed in from a new device"),
    AuditAction.Auth.SteppedUp: _("Confirmed identity again"),
    AuditAction.Auth.PasswordChanged: _("Changed password"),
    AuditAction.Auth.PasswordReset: _("Reset password"),
    AuditAction.Mfa.Enrolled: _("Added a second factor"),
    AuditAction.Mfa.Removed: _("Removed a second factor"),
    AuditAction.Mfa.RecoveryCodesRegenerated: _("Made new recovery codes"),
    AuditAction.Device.Trusted: _("Trusted a browser"),
    AuditAction.Device.Revoked: _("Revoked a trusted browser"),
    AuditAction.Session.Revoked: _("Signed out a session"),
    AuditAction.Session.Expired: _("Session expired"),
    AuditAction.Token.Created: _("Created an API token"),
    AuditAction.Token.Revoked: _("Revoked an API token"),
    AuditAction.Token.Used: _("Used an API token"),
    AuditAction.Token.Denied: _("API token refused"),
    AuditAction.Invitation.Sent: _("Invited a member"),
    AuditAction.Invitation.Accepted: _("Accepted an invitation"),
    AuditAction.Invitation.Revoked: _("Revoked an invitation"),
    AuditAction.Org.Switched: _("Switched organization"),
    AuditAction.Record.Read: _("Read a record"),
    AuditAction.Record.WriteDenied: _("Change refused"),
    AuditAction.Patient.Created: _("Registered a patient"),
    AuditAction.Patient.Updated: _("Updated a patient"),
    AuditAction.Case.Created: _("Opened a case"),
    AuditAction.Case.Updated: _("Updated a case"),
    AuditAction.Case.Submitted: _("Sent a case to a lab"),
    AuditAction.Case.Accepted: _("Accepted a case"),
    AuditAction.Case.Declined: _("Declined a case"),
    AuditAction.Case.DesignStarted: _("Started the design"),
    AuditAction.Case.SentForReview: _("Sent a design for review"),
    AuditAction.Case.ChangesRequested: _("Asked for changes"),
    AuditAction.Case.Approved: _("Approved a design"),
    AuditAction.Case.ProductionStarted: _("Started production"),
    AuditAction.Case.Shipped: _("Shipped a case"),
    AuditAction.Case.Delivered: _("Confirmed delivery"),
    AuditAction.Case.Closed: _("Closed a case"),
    AuditAction.Case.Cancelled: _("Cancelled a case"),
    AuditAction.Case.ShareRevoked: _("Withdrew a case from a lab"),
    AuditAction.Case.AttachmentAdded: _("Added a file to a case"),
    AuditAction.Case.RevisionCreated: _("Uploaded a design revision"),
    AuditAction.Case.AnnotationAdded: _("Pinned a note on a design"),
    AuditAction.Case.AnnotationDeleted: _("Removed a pinned note"),
    AuditAction.Case.CommentAdded: _("Commented on a design"),
    AuditAction.Case.ReviewLinkCreated: _("Created a review link"),
    AuditAction.Case.ReviewLinkRevoked: _("Revoked a review link"),
    AuditAction.Case.ReviewLinkOpened: _("Opened a review link"),
    AuditAction.Case.ComparisonRequested: _("Compared two revisions"),
    AuditAction.Case.PackageCreated: _("Created a production package"),
    AuditAction.Case.PackageDownloaded: _("Downloaded a production package"),
    AuditAction.Case.ApprovalsVerified: _("Verified the signed approvals"),
    AuditAction.Case.AiSuggestionRequested: _("Asked for an AI design suggestion"),
    AuditAction.Case.AiSuggestionReady: _("Made an AI design suggestion"),
    AuditAction.Case.AiSuggestionFailed: _("Could not make an AI design suggestion"),
    AuditAction.BreakGlass.Started: _("Started break-glass access"),
    AuditAction.BreakGlass.Accessed: _("Accessed under break-glass"),
    AuditAction.BreakGlass.Expired: _("Break-glass access expired"),
    AuditAction.Keys.Shredded: _("Destroyed a data key"),
    AuditAction.Keys.KekRotated: _("Rotated the master key"),
    AuditAction.Keys.DekRotated: _("Rotated a data key"),
    AuditAction.Keys.Retired: _("Retired old keys"),
    AuditAction.Audit.Exported: _("Exported the audit log"),
    AuditAction.Audit.CheckpointSigned: _("Signed an audit checkpoint"),
}


def all_actions() -> list[StrEnum]:
    """Every action in the catalogue, area by area (tests pin it; forms offer it)."""
    return [member for area in AREAS for member in area]


def all_action_values() -> frozenset[str]:
    """The stored value of every action."""
    return frozenset(str(member) for member in all_actions())


def action_label(value: str) -> str | Promise:
    """A readable label for a stored action value; the raw value if it is no longer known."""
    return ACTION_LABELS.get(value, value)
