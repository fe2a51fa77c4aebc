"""Review links: one revision shown to someone without an account, for at most seven days.

The clinic's clinicians create and revoke links (``Perm.ReviewLinkManage``, clinic side).
A link's token is 256 bits from ``secrets``, handed out once; only its SHA-256 is stored,
and the optional passcode is stored with Django's password hasher (Argon2). The holder of a
working link opens the page, streams the revision's meshes and, when the link allows it,
comments; each of these is audited, and so is every refusal: an expired, revoked, unknown or
malformed token, a wrong passcode, a file outside the link. Refusals are recorded in their
own transaction, so they survive the error the caller answers with.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.secrets import new_secret, secret_digest
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.identity import AuditIdentity
from cuspid.audit.services import audit_emit
from cuspid.cases.models import Attachment, Comment, ReviewLink, Revision
from cuspid.cases.policies import side_of
from cuspid.cases.policies.review_links import (
    ReviewLinkRefused,
    can_comment_review_link,
    review_link_holder,
)
from cuspid.cases.review_actor import UNKNOWN_LINK_HOLDER, ReviewLinkHolder
from cuspid.cases.selectors.review_links import review_link_files
from cuspid.cases.services.review import comment_create
from cuspid.cases.workflow import Side
from cuspid.core import clock
from cuspid.core.errors import CuspidError, InvalidInput, NotFound, PermissionDenied
from cuspid.tenancy.actor import Actor

MIN_HOURS = 1
MAX_HOURS = 7 * 24
DEFAULT_HOURS = 72
PASSCODE_MIN = 6
PASSCODE_MAX = 128
LABEL_MAX = 100
REVIEWER_NAME_MAX = 80
# Passcode tries: this many per link within the window, then refused until it ends.
PASSCODE_TRIES = 5
PASSCODE_WINDOW_SECONDS = 15 * 60
TARGET_TYPE = "review_link"
CASE_DATA_TYPE = "case"
CASE_FILE = "case_file"
PURPOSE = "treatment"


class ReviewLinkThrottled(CuspidError):
    """Too many wrong passcodes for this link: wait for the window to end."""

    status = 429
    code = "throttled"
    default_detail = "Too many wrong passcodes. Wait 15 minutes, then try again."


def _require_clinic(actor: Actor, revision: Revision) -> None:
    require(actor, Perm.ReviewLinkManage, revision.case)
    if side_of(actor, revision.case) != Side.CLINIC:
        raise PermissionDenied


def _audit(
    action: AuditAction.Case,
    actor: Actor | ReviewLinkHolder | AuditIdentity,
    link: ReviewLink | None,
    *,
    outcome: Outcome = Outcome.ALLOWED,
    request: HttpRequest | None = None,
) -> None:
    audit_emit(
        action=action,
        actor=actor,
        outcome=outcome,
        target_type=TARGET_TYPE if link is not None else "",
        target_id=link.id if link is not None else "",
        subject_patient=link.patient_id if link is not None else None,
        data_type=CASE_DATA_TYPE,
        purpose=PURPOSE,
        request=request,
    )


# --- the clinic: create, revoke ----------------------------------------------------------------


@transaction.atomic(durable=True)
def review_link_create(
    *,
    actor: Actor,
    revision: Revision,
    expires_in_hours: int = DEFAULT_HOURS,
    allow_comments: bool = False,
    passcode: str = "",
    label: str = "",
    request: HttpRequest | None = None,
) -> tuple[ReviewLink, str]:
    """Create a link to one revision; returns the link and its token, which is never shown
    again (Cuspid keeps only its SHA-256).

    The token is 256 random bits (``secrets.token_urlsafe(32)``); the passcode, when given,
    is stored as a password hash. Raises PermissionDenied without ``Perm.ReviewLinkManage``
    on the case or from the lab's side; InvalidInput for an expiry outside 1 hour to 7 days,
    a passcode shorter than 6 or longer than 128 characters, or a label over 100 characters.
    Audits ``AuditAction.Case.ReviewLinkCreated`` (the link's id, never the token).
    """
    _require_clinic(actor, revision)
    if not MIN_HOURS <= expires_in_hours <= MAX_HOURS:
        raise InvalidInput("A review link expires within 1 hour to 7 days.")
    if passcode and not PASSCODE_MIN <= len(passcode) <= PASSCODE_MAX:
        raise InvalidInput(
            f"A passcode has {PASSCODE_MIN} to {PASSCODE_MAX} characters, or leave it empty."
        )
    name = label.strip()
    if len(name) > LABEL_MAX:
        raise InvalidInput(f"Who the link is for: at most {LABEL_MAX} characters.")
    token = new_secret()
    link = ReviewLink.objects.create(
        case=revision.case,
        patient_id=revision.patient_id,
        revision=revision,
        token_hash=secret_digest(token),
        label=name or None,
        allow_comments=allow_comments,
        passcode_hash=make_password(passcode) if passcode else "",
        expires_at=clock.now() + timedelta(hours=expires_in_hours),
        created_by=actor.user,
        organization=actor.organization,
    )
    _audit(AuditAction.Case.ReviewLinkCreated, actor, link, request=request)
    return link, token


@transaction.atomic(durable=True)
def review_link_revoke(
    *, actor: Actor, link: ReviewLink, request: HttpRequest | None = None
) -> ReviewLink:
    """Revoke a link at once: its next request, a page or a file, is refused.

    The caller found ``link`` with ``access_review_link``. Revoking a revoked link changes
    nothing and audits nothing. Raises PermissionDenied as :func:`review_link_create`.
    Audits ``AuditAction.Case.ReviewLinkRevoked``.
    """
    _require_clinic(actor, link.revision)
    link = ReviewLink.objects.select_for_update().select_related("case", "revision").get(pk=link.pk)
    if link.revoked_at is not None:
        return link
    link.revoked_at = clock.now()
    link.revoked_by = actor.user
    link.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    _audit(AuditAction.Case.ReviewLinkRevoked, actor, link, request=request)
    return link


# --- the holder: open, passcode, files, comments -----------------------------------------------


def review_link_deny(*, link: ReviewLink | None, request: HttpRequest | None = None) -> None:
    """Record one refused open of a link, in its own transaction (it must outlive the
    caller's error). ``link`` is the link the token matched, or ``None`` (nothing
    identifying is recorded then). Audits ``AuditAction.Case.ReviewLinkOpened`` denied."""
    actor = ReviewLinkHolder(link) if link is not None else UNKNOWN_LINK_HOLDER
    with transaction.atomic():
        _audit(
            AuditAction.Case.ReviewLinkOpened,
            actor,
            link,
            outcome=Outcome.DENIED,
            request=request,
        )


def review_link_resolve(*, token: str, request: HttpRequest | None = None) -> ReviewLinkHolder:
    """The holder of the working link ``token`` opens; checked anew on every request.

    Raises ``ReviewLinkRefused`` (a NotFound: the same 404 for every refusal) for an
    expired, revoked, unknown or malformed token, after auditing
    ``AuditAction.Case.ReviewLinkOpened`` denied (see :func:`review_link_deny`). Audits
    nothing when the link works: what the holder then does is audited by its own service.
    """
    try:
        return review_link_holder(token)
    except ReviewLinkRefused as refused:
        review_link_deny(link=refused.link, request=request)
        raise


def review_link_open(*, holder: ReviewLinkHolder, request: HttpRequest | None = None) -> None:
    """Count one open of the link's page (``open_count``, ``last_opened_at``).

    The count is taken only while the link still works, so a revocation that lands between
    the check and the count refuses the open: ``ReviewLinkRefused``. Audits
    ``AuditAction.Case.ReviewLinkOpened``: allowed, naming the patient, or denied.
    """
    if not _open_counted(holder, request):
        raise ReviewLinkRefused(holder.link)


@transaction.atomic(durable=True)
def _open_counted(holder: ReviewLinkHolder, request: HttpRequest | None) -> bool:
    now = clock.now()
    counted = ReviewLink.objects.filter(
        pk=holder.link.pk, revoked_at__isnull=True, expires_at__gt=now
    ).update(open_count=F("open_count") + 1, last_opened_at=now)
    outcome = Outcome.ALLOWED if counted else Outcome.DENIED
    _audit(AuditAction.Case.ReviewLinkOpened, holder, holder.link, outcome=outcome, request=request)
    return bool(counted)


def _count_try(link: ReviewLink) -> int:
    """Count one passcode try on the link (before it is checked, so that parallel guesses
    are counted too: ``incr`` is atomic in Redis) and return how many its window holds."""
    key = f"cuspid:review_link:passcode_tries:{link.id}"
    # The window starts at the first try; add() leaves a running window alone.
    cache.add(key, 0, timeout=PASSCODE_WINDOW_SECONDS)
    try:
        return int(cache.incr(key))
    except ValueError:
        # The window ended between the two calls: this try opens the next one.
        cache.set(key, 1, timeout=PASSCODE_WINDOW_SECONDS)
        return 1


def review_link_passcode_check(
    *, holder: ReviewLinkHolder, passcode: str, request: HttpRequest | None = None
) -> bool:
    """Whether ``passcode`` is the link's; a link without a passcode needs none (True).

    Throttled per link: 5 tries within 15 minutes (counted in the shared cache), then every
    try is refused unchecked until the window ends: ReviewLinkThrottled. Audits
    ``AuditAction.Case.ReviewLinkOpened`` denied for a wrong or throttled try; a right one
    audits nothing (the open that follows is audited).
    """
    link = holder.link
    if not link.passcode_hash:
        return True
    if _count_try(link) > PASSCODE_TRIES:
        review_link_deny(link=link, request=request)
        raise ReviewLinkThrottled
    if check_password(passcode, link.passcode_hash):
        return True
    review_link_deny(link=link, request=request)
    return False


def review_link_file_read(
    *, holder: ReviewLinkHolder, attachment_id: UUID, request: HttpRequest | None = None
) -> Attachment:
    """One file the link shows, for streaming; any other id is NotFound.

    Audits ``AuditAction.Record.Read``: allowed (naming the patient) for a file of the
    link, denied (naming nothing but the id asked for) otherwise, in its own transaction.
    """
    require(holder, Perm.CaseView, holder.link)
    attachment = (
        Attachment.objects.select_related("case", "blob", "revision")
        .filter(review_link_files(holder.link), id=attachment_id)
        .first()
    )
    with transaction.atomic():
        audit_emit(
            action=AuditAction.Record.Read,
            actor=holder,
            outcome=Outcome.ALLOWED if attachment is not None else Outcome.DENIED,
            target_type=CASE_FILE,
            target_id=attachment_id,
            subject_patient=attachment.patient_id if attachment is not None else None,
            data_type=CASE_FILE,
            purpose=PURPOSE,
            request=request,
        )
    if attachment is None:
        raise NotFound
    return attachment


def reviewer_comment_body(author_name: str, text: str) -> str:
    """How a link holder's comment is stored: their name on the first line, then the text.

    ``Comment`` has no name field (its ``author`` is an account); the body is sealed, so the
    name is too. ``selectors.review_links.reviewer_comment_parts`` splits it again.
    """
    return f"{author_name}\n{text}"


def review_link_comment_add(
    *,
    holder: ReviewLinkHolder,
    author_name: str,
    text: str,
) -> Comment:
    """Add a comment on the link's revision, signed with the name the holder gives.

    Stored by the review feature's ``comment_create`` (the comment's ``review_link`` is set,
    its ``author`` empty), with the name on the body's first line
    (:func:`reviewer_comment_body`). Raises PermissionDenied when the link does not allow
    comments, or was revoked or expired meanwhile (``comment_create`` checks the stored
    row again under the case's lock); InvalidInput without a name (one line, at most 80
    characters) or text (at most 4000 characters in all); InvalidTransition once the case
    is closed or cancelled. Audits ``AuditAction.Case.CommentAdded`` with the link holder as
    the actor (``comment_create``).
    """
    if not can_comment_review_link(holder):
        raise PermissionDenied
    name = " ".join(author_name.split())
    if not name or len(name) > REVIEWER_NAME_MAX:
        raise InvalidInput(f"Give your name (at most {REVIEWER_NAME_MAX} characters), e.g. Dr Roy.")
    body = text.strip()
    if not body:
        raise InvalidInput("Write your comment.")
    return comment_create(
        actor=holder, revision=holder.link.revision, body=reviewer_comment_body(name, body)
    )
