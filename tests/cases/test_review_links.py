"""Review links: creating and revoking them, what a link opens, and what it never shows.

Services, selectors and policies are exercised through the real code on the test database
(encryption, audit chain, cache); the public pages through Django's test client, signed out,
as a reviewer without an account would reach them. Audit events are read from the table.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.hashers import check_password
from django.core.cache import cache
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import DjangoAssertNumQueries, Settings

from cuspid.access import routes
from cuspid.access.matrix import AccessRole
from cuspid.access.permissions import Perm
from cuspid.access.policy import can
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.enums import AttachmentKind, Layer
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Annotation, Attachment, Comment, ReviewLink
from cuspid.cases.policies.review_links import (
    ReviewLinkRefused,
    access_review_link,
    can_comment_review_link,
    review_link_holder,
    review_link_is_active,
)
from cuspid.cases.review_actor import ReviewLinkHolder
from cuspid.cases.selectors.review_links import (
    ReviewLinkStatus,
    review_link_annotation_list_for,
    review_link_comment_list_for,
    review_link_file_list_for,
    review_link_list_for,
    review_link_status,
    reviewer_comment_parts,
)
from cuspid.cases.services.review import annotation_create, comment_create
from cuspid.cases.services.review_links import (
    DEFAULT_HOURS,
    MAX_HOURS,
    PASSCODE_TRIES,
    ReviewLinkThrottled,
    review_link_comment_add,
    review_link_deny,
    review_link_file_read,
    review_link_open,
    review_link_passcode_check,
    review_link_resolve,
    review_link_revoke,
)
from cuspid.cases.views.review_links import PASS_SESSION_KEY
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotFound, PermissionDenied
from cuspid.core.logging import JsonFormatter, RedactFilter
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_membership
from tests.factories.cases import actor_of, make_case, make_revision, send_case, transition
from tests.factories.review_links import (
    DESIGN_NAME,
    IDENTITY,
    SharedRevision,
    make_review_link,
    shared_revision,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[..., Client]
PASSCODE = "molar-4217"


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    """Stored files of the test under its own directory."""
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


@pytest.fixture
def shared(
    clinic: Organization, lab: Organization, connection_: object, member_of: MemberOf
) -> SharedRevision:
    return shared_revision(member_of(clinic, Role.CLINICIAN), member_of(lab, Role.DESIGNER), lab)


def _last_sequence() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _events_since(sequence: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def _only_event(sequence: int) -> AuditEvent:
    events = _events_since(sequence)
    assert len(events) == 1, [(e.action, e.outcome) for e in events]
    return events[0]


def _expire(link: ReviewLink) -> None:
    ReviewLink.objects.filter(pk=link.pk).update(expires_at=clock.now() - timedelta(seconds=1))


def _holder(token: str) -> ReviewLinkHolder:
    return review_link_holder(token)


# --- creating a link ---------------------------------------------------------------------------


def test_a_clinician_creates_a_link_whose_token_has_256_bits_and_is_stored_only_hashed(
    shared: SharedRevision,
) -> None:
    mark = _last_sequence()
    before = clock.now()
    link, token = make_review_link(shared.clinician, shared.revision, label="Dr Roy")

    # 43 URL-safe characters: 32 random bytes from secrets.token_urlsafe (>= 128 bits).
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # The token itself is in no column of the row, nor in the audit event.
    stored = ReviewLink.objects.filter(pk=link.pk).values().get()
    assert all(token not in str(value) for value in stored.values())
    event = _only_event(mark)
    assert token not in json.dumps(
        {f.name: str(getattr(event, f.name)) for f in AuditEvent._meta.fields}
    )
    assert (event.action, event.outcome, event.target_type, event.target_id) == (
        AuditAction.Case.ReviewLinkCreated,
        Outcome.ALLOWED,
        "review_link",
        str(link.id),
    )
    assert (event.actor_user_id, event.subject_patient) == (
        shared.clinician.user_id,
        str(shared.patient.id),
    )
    # The defaults: 72 hours, view only, no passcode; sealed label; one revision.
    assert DEFAULT_HOURS == 72
    assert before + timedelta(hours=72) <= link.expires_at <= clock.now() + timedelta(hours=72)
    assert (link.allow_comments, link.passcode_hash, link.revision_id) == (
        False,
        "",
        shared.revision.id,
    )
    assert ReviewLink.objects.get(pk=link.pk).label == "Dr Roy"
    assert link.organization_id == shared.case.organization_id
    assert "Dr Roy" not in str(stored["label"])


def test_two_links_never_share_a_token(shared: SharedRevision) -> None:
    tokens = {make_review_link(shared.clinician, shared.revision)[1] for _ in range(5)}
    assert len(tokens) == 5


@pytest.mark.parametrize("hours", [1, 24, 72, MAX_HOURS])
def test_expiry_between_one_hour_and_seven_days_is_accepted(
    shared: SharedRevision, hours: int
) -> None:
    link, _token = make_review_link(shared.clinician, shared.revision, expires_in_hours=hours)
    assert link.expires_at - link.created_at == pytest.approx(
        timedelta(hours=hours), abs=timedelta(seconds=5)
    )
    assert MAX_HOURS == 168


@pytest.mark.parametrize("hours", [0, -1, 169, 24 * 30])
def test_expiry_outside_one_hour_to_seven_days_is_refused(
    shared: SharedRevision, hours: int
) -> None:
    with pytest.raises(InvalidInput, match="1 hour to 7 days"):
        make_review_link(shared.clinician, shared.revision, expires_in_hours=hours)
    assert not ReviewLink.objects.exists()


def test_a_passcode_is_stored_as_a_password_hash(shared: SharedRevision) -> None:
    link, _token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    assert PASSCODE not in link.passcode_hash
    assert check_password(PASSCODE, link.passcode_hash)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"passcode": "12345"}, "passcode"),
        ({"passcode": "x" * 129}, "passcode"),
        ({"label": "x" * 101}, "at most 100"),
    ],
)
def test_a_short_passcode_or_a_long_label_is_refused(
    shared: SharedRevision, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        make_review_link(shared.clinician, shared.revision, **options)
    assert not ReviewLink.objects.exists()


def test_only_a_clinician_of_the_case_clinic_may_create_or_revoke(
    shared: SharedRevision, clinic: Organization, lab: Organization, member_of: MemberOf
) -> None:
    link, _token = make_review_link(shared.clinician, shared.revision)
    other_clinic = make_membership(role=Role.CLINICIAN)
    # A clinician's role in a lab's organisation: the permission, from the wrong side.
    lab_clinician = member_of(lab, Role.CLINICIAN)
    refused = [
        member_of(clinic, Role.STAFF),
        member_of(clinic, Role.ORG_ADMIN),
        shared.designer,
        member_of(lab, Role.LAB_STAFF),
        other_clinic,
        lab_clinician,
    ]
    mark = _last_sequence()
    for membership in refused:
        with pytest.raises(PermissionDenied):
            make_review_link(membership, shared.revision)
        with pytest.raises(PermissionDenied):
            review_link_revoke(actor=actor_of(membership), link=link)
        with pytest.raises(PermissionDenied):
            review_link_list_for(actor=actor_of(membership), revision=shared.revision)
    assert ReviewLink.objects.count() == 1
    assert ReviewLink.objects.get().revoked_at is None
    assert _events_since(mark) == []


# --- revoking ----------------------------------------------------------------------------------


def test_revoking_cuts_access_at_once_and_a_second_revoke_changes_nothing(
    shared: SharedRevision,
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision)
    holder = review_link_resolve(token=token)
    mark = _last_sequence()
    revoked = review_link_revoke(actor=actor_of(shared.clinician), link=link)
    event = _only_event(mark)
    assert (event.action, event.target_id, event.actor_user_id) == (
        AuditAction.Case.ReviewLinkRevoked,
        str(link.id),
        shared.clinician.user_id,
    )
    assert revoked.revoked_at is not None
    assert revoked.revoked_by_id == shared.clinician.user_id

    # Even a holder resolved before the revocation is refused from its next step on.
    with pytest.raises(ReviewLinkRefused):
        review_link_open(holder=holder)
    with pytest.raises(ReviewLinkRefused):
        review_link_resolve(token=token)

    mark = _last_sequence()
    again = review_link_revoke(actor=actor_of(shared.clinician), link=link)
    assert again.revoked_at == revoked.revoked_at
    assert _events_since(mark) == []


# --- resolving a token -------------------------------------------------------------------------


def test_a_working_link_resolves_to_its_holder_without_an_audit_event(
    shared: SharedRevision,
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision)
    mark = _last_sequence()
    holder = review_link_resolve(token=token)
    assert holder.link.id == link.id
    assert (holder.access_role, holder.organization_id, holder.user_id) == (
        AccessRole.EXTERNAL_REVIEWER,
        None,
        None,
    )
    assert holder.revision_id == shared.revision.id
    assert holder.review_link is holder.link
    assert _events_since(mark) == []


def test_an_expired_revoked_guessed_or_malformed_token_is_refused_and_audited(
    shared: SharedRevision,
) -> None:
    expired, expired_token = make_review_link(shared.clinician, shared.revision)
    _expire(expired)
    revoked, revoked_token = make_review_link(shared.clinician, shared.revision)
    review_link_revoke(actor=actor_of(shared.clinician), link=revoked)
    cases = [
        (expired_token, expired),
        (revoked_token, revoked),
        ("A" * 43, None),  # well formed, matches nothing
        ("not-a-token", None),
        ("x" * 200, None),
        (expired_token + "A", None),
    ]
    for token, link in cases:
        mark = _last_sequence()
        with pytest.raises(NotFound) as raised:
            review_link_resolve(token=token)
        assert isinstance(raised.value, ReviewLinkRefused)
        event = _only_event(mark)
        assert (event.action, event.outcome, event.actor_role, event.actor_user_id) == (
            AuditAction.Case.ReviewLinkOpened,
            Outcome.DENIED,
            AccessRole.EXTERNAL_REVIEWER,
            None,
        )
        if link is None:
            # Nothing identifying: no link, no patient, no clinic.
            assert (event.target_id, event.subject_patient, event.actor_organization_id) == (
                "",
                "",
                None,
            )
            assert event.system_reason == ""
        else:
            assert (event.target_type, event.target_id, event.system_reason) == (
                "review_link",
                str(link.id),
                f"review_link:{link.id}",
            )
            assert event.actor_organization_id == shared.case.organization_id


def test_a_link_expires_at_its_expiry_exactly(shared: SharedRevision) -> None:
    link, token = make_review_link(shared.clinician, shared.revision)
    assert review_link_is_active(link, link.expires_at - timedelta(microseconds=1))
    assert not review_link_is_active(link, link.expires_at)
    assert review_link_holder(token, now=link.expires_at - timedelta(seconds=1))
    with pytest.raises(ReviewLinkRefused) as raised:
        review_link_holder(token, now=link.expires_at)
    assert raised.value.link is not None
    assert raised.value.link.id == link.id


def test_opening_counts_and_audits_each_open_with_the_patient(shared: SharedRevision) -> None:
    link, token = make_review_link(shared.clinician, shared.revision)
    holder = review_link_resolve(token=token)
    for expected in (1, 2):
        mark = _last_sequence()
        review_link_open(holder=holder)
        event = _only_event(mark)
        assert (event.action, event.outcome, event.subject_patient, event.target_id) == (
            AuditAction.Case.ReviewLinkOpened,
            Outcome.ALLOWED,
            str(shared.patient.id),
            str(link.id),
        )
        assert event.actor_role == AccessRole.EXTERNAL_REVIEWER
        link.refresh_from_db()
        assert link.open_count == expected
        assert link.last_opened_at is not None


def test_an_open_after_expiry_is_refused_and_audited_denied(shared: SharedRevision) -> None:
    link, token = make_review_link(shared.clinician, shared.revision)
    holder = review_link_resolve(token=token)
    _expire(link)
    mark = _last_sequence()
    with pytest.raises(ReviewLinkRefused):
        review_link_open(holder=holder)
    event = _only_event(mark)
    assert (event.action, event.outcome, event.target_id) == (
        AuditAction.Case.ReviewLinkOpened,
        Outcome.DENIED,
        str(link.id),
    )
    link.refresh_from_db()
    assert link.open_count == 0


def test_deny_without_a_link_records_nothing_identifying(db: None) -> None:
    mark = _last_sequence()
    review_link_deny(link=None)
    event = _only_event(mark)
    assert (event.outcome, event.target_type, event.target_id, event.subject_patient) == (
        Outcome.DENIED,
        "",
        "",
        "",
    )


# --- the passcode ------------------------------------------------------------------------------


def test_a_link_without_passcode_needs_none(shared: SharedRevision) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision)
    mark = _last_sequence()
    assert review_link_passcode_check(holder=_holder(token), passcode="")
    assert _events_since(mark) == []


def test_a_wrong_passcode_is_refused_and_audited_the_right_one_is_not(
    shared: SharedRevision,
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    holder = _holder(token)
    mark = _last_sequence()
    assert not review_link_passcode_check(holder=holder, passcode="molar-4218")
    event = _only_event(mark)
    assert (event.action, event.outcome, event.target_id) == (
        AuditAction.Case.ReviewLinkOpened,
        Outcome.DENIED,
        str(link.id),
    )
    mark = _last_sequence()
    assert review_link_passcode_check(holder=holder, passcode=PASSCODE)
    assert _events_since(mark) == []


def test_passcode_tries_are_throttled_per_link(shared: SharedRevision) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    other, other_token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    holder = _holder(token)
    for _ in range(PASSCODE_TRIES):
        assert not review_link_passcode_check(holder=holder, passcode="wrong-guess")
    mark = _last_sequence()
    # The sixth try is refused unchecked, even with the right passcode.
    with pytest.raises(ReviewLinkThrottled):
        review_link_passcode_check(holder=holder, passcode=PASSCODE)
    event = _only_event(mark)
    assert (event.outcome, event.target_id) == (Outcome.DENIED, str(link.id))
    # Another link is not affected.
    assert review_link_passcode_check(holder=_holder(other_token), passcode=PASSCODE)
    # The window ends: the link takes tries again.
    cache.delete(f"cuspid:review_link:passcode_tries:{link.id}")
    assert review_link_passcode_check(holder=holder, passcode=PASSCODE)
    assert other.id != link.id


def test_a_try_that_meets_the_end_of_its_window_opens_a_new_one(
    shared: SharedRevision, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    key = f"cuspid:review_link:passcode_tries:{link.id}"
    cache.set(key, PASSCODE_TRIES)
    # The running window ends between add() (which sees it and leaves it) and incr().
    monkeypatch.setattr(cache, "add", lambda *args, **kwargs: cache.delete(key) and False)
    assert review_link_passcode_check(holder=_holder(token), passcode=PASSCODE)
    assert cache.get(key) == 1


# --- files -------------------------------------------------------------------------------------


def test_a_link_shows_the_revision_files_and_the_clinic_scans_but_no_photo(
    clinic: Organization, lab: Organization, connection_: object, member_of: MemberOf
) -> None:
    shared = shared_revision(
        member_of(clinic, Role.CLINICIAN), member_of(lab, Role.DESIGNER), lab, photo=True
    )
    _link, token = make_review_link(shared.clinician, shared.revision)
    holder = _holder(token)
    files = list(review_link_file_list_for(holder=holder))
    assert [(f.kind, f.layer, f.revision_id) for f in files] == [
        (AttachmentKind.SCAN, Layer.PREPARED, None),
        (AttachmentKind.SCAN, Layer.ANTAGONIST, None),
        (AttachmentKind.SCAN, Layer.PROPOSAL, shared.revision.id),
    ]
    photo = Attachment.objects.get(case=shared.case, kind=AttachmentKind.PHOTO)

    mark = _last_sequence()
    read = review_link_file_read(holder=holder, attachment_id=files[2].id)
    assert read.id == files[2].id
    event = _only_event(mark)
    assert (event.action, event.outcome, event.target_id, event.subject_patient) == (
        AuditAction.Record.Read,
        Outcome.ALLOWED,
        str(files[2].id),
        str(shared.patient.id),
    )
    assert event.actor_role == AccessRole.EXTERNAL_REVIEWER

    for refused in (photo.id, uuid.uuid4()):
        mark = _last_sequence()
        with pytest.raises(NotFound):
            review_link_file_read(holder=holder, attachment_id=refused)
        event = _only_event(mark)
        assert (event.action, event.outcome, event.target_id, event.subject_patient) == (
            AuditAction.Record.Read,
            Outcome.DENIED,
            str(refused),
            "",
        )


def test_a_link_shows_nothing_of_another_revision_or_case(
    shared: SharedRevision, lab: Organization
) -> None:
    first, token = make_review_link(shared.clinician, shared.revision)
    other_case = send_case(shared.clinician, make_case(shared.clinician), lab)
    other_case = transition(shared.designer, other_case, "accept")
    other_revision = make_revision(shared.designer, other_case)
    holder = _holder(token)
    foreign = Attachment.objects.filter(case=other_case)
    assert foreign.exists()
    for attachment in foreign:
        with pytest.raises(NotFound):
            review_link_file_read(holder=holder, attachment_id=attachment.id)
    assert all(f.case_id == shared.case.id for f in review_link_file_list_for(holder=holder))
    assert not can(holder, Perm.CaseView, other_revision.files.first())
    assert first.revision_id == shared.revision.id


# --- pins and comments -------------------------------------------------------------------------


def _pin(shared: SharedRevision, text: str = "Open contact on the mesial.") -> Annotation:
    return annotation_create(
        actor=actor_of(shared.clinician),
        revision=shared.revision,
        point=[1.0, 2.0, 3.0],
        normal=[0.0, 0.0, 1.0],
        text=text,
    )


def test_the_holder_reads_the_revision_pins(shared: SharedRevision) -> None:
    _pin(shared)
    _pin(shared, "Thicken the occlusal.")
    _link, token = make_review_link(shared.clinician, shared.revision)
    pins = review_link_annotation_list_for(holder=_holder(token))
    assert [(p.number, p.text) for p in pins] == [
        (1, "Open contact on the mesial."),
        (2, "Thicken the occlusal."),
    ]


def test_a_commenting_link_adds_comments_signed_with_a_name(shared: SharedRevision) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    holder = _holder(token)
    assert can_comment_review_link(holder)
    # A member's comment on the same revision is not part of the holder's list.
    comment_create(actor=actor_of(shared.clinician), revision=shared.revision, body="Internal.")
    mark = _last_sequence()
    comment = review_link_comment_add(
        holder=holder, author_name="  Dr   Roy ", text="  The margin looks short.  "
    )
    event = _only_event(mark)
    assert (event.action, event.outcome, event.target_id, event.subject_patient) == (
        AuditAction.Case.CommentAdded,
        Outcome.ALLOWED,
        str(comment.id),
        str(shared.patient.id),
    )
    assert (event.actor_role, event.actor_user_id, event.system_reason) == (
        AccessRole.EXTERNAL_REVIEWER,
        None,
        f"review_link:{link.id}",
    )
    stored = Comment.objects.get(pk=comment.pk)
    assert (stored.review_link_id, stored.author_id, stored.revision_id) == (
        link.id,
        None,
        shared.revision.id,
    )
    listed = review_link_comment_list_for(holder=holder)
    assert [c.id for c in listed] == [comment.id]
    parts = reviewer_comment_parts(listed[0])
    assert (parts.author_name, parts.text) == ("Dr Roy", "The margin looks short.")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("", "Fine.", "your name"),
        ("   ", "Fine.", "your name"),
        ("R" * 81, "Fine.", "your name"),
        ("Dr Roy", "   ", "your comment"),
        ("Dr Roy", "x" * 4000, "at most 4000"),
    ],
)
def test_a_comment_needs_a_name_and_a_text(
    shared: SharedRevision, name: str, text: str, message: str
) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    with pytest.raises(InvalidInput, match=f"(?i){message}"):
        review_link_comment_add(holder=_holder(token), author_name=name, text=text)
    assert not Comment.objects.exists()


def test_a_view_only_or_revoked_link_cannot_comment(shared: SharedRevision) -> None:
    _view_only, token = make_review_link(shared.clinician, shared.revision)
    holder = _holder(token)
    assert not can_comment_review_link(holder)
    with pytest.raises(PermissionDenied):
        review_link_comment_add(holder=holder, author_name="Dr Roy", text="Hello.")
    link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    holder = _holder(token)
    review_link_revoke(actor=actor_of(shared.clinician), link=link)
    with pytest.raises(PermissionDenied):
        review_link_comment_add(holder=holder, author_name="Dr Roy", text="Hello.")
    assert not Comment.objects.exists()


def test_a_cancelled_case_takes_no_more_comments_from_a_link(shared: SharedRevision) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    holder = _holder(token)
    transition(shared.clinician, shared.case, "cancel")
    with pytest.raises(InvalidTransition):
        review_link_comment_add(holder=holder, author_name="Dr Roy", text="Hello.")


# --- the policy: one revision, never approval --------------------------------------------------


def test_the_link_holder_sees_its_revision_only_and_can_never_approve(
    shared: SharedRevision,
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    holder = _holder(token)
    pin = _pin(shared)
    design = Attachment.objects.get(revision=shared.revision)
    assert can(holder, Perm.CaseView, link)
    assert can(holder, Perm.CaseView, pin)
    assert can(holder, Perm.CaseView, design)
    assert can(holder, Perm.CaseComment, link)
    # Approval needs an account: the role never holds it, on anything.
    for obj in (None, link, shared.revision, shared.case, pin, design):
        assert not can(holder, Perm.CaseApprove, obj)
    for perm in (Perm.CaseEdit, Perm.ReviewLinkManage, Perm.PatientView, Perm.DesignEdit):
        assert not can(holder, perm, link)
    # Objects that are not scoped to its revision are not visible: the case, the patient.
    assert not can(holder, Perm.CaseView, shared.case)
    assert not can(holder, Perm.CaseView, shared.patient)


# --- the clinic's list -------------------------------------------------------------------------


def test_the_clinic_lists_a_revision_links_with_status_in_a_fixed_number_of_queries(
    shared: SharedRevision, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    active, _t1 = make_review_link(shared.clinician, shared.revision, label="Dr Roy")
    expired, _t2 = make_review_link(shared.clinician, shared.revision, label="Dr Lee")
    _expire(expired)
    revoked, _t3 = make_review_link(shared.clinician, shared.revision)
    review_link_revoke(actor=actor_of(shared.clinician), link=revoked)
    actor = actor_of(shared.clinician)
    from cuspid.keys.crypto import dek_cache

    dek_cache.clear()
    with django_assert_num_queries(2):
        rows = review_link_list_for(actor=actor, revision=shared.revision)
        labels = [row.link.label for row in rows]
    assert [(row.link.id, row.status) for row in rows] == [
        (revoked.id, ReviewLinkStatus.REVOKED),
        (expired.id, ReviewLinkStatus.EXPIRED),
        (active.id, ReviewLinkStatus.ACTIVE),
    ]
    assert labels == [None, "Dr Lee", "Dr Roy"]
    assert [row.revocable for row in rows] == [False, False, True]


def test_status_revoked_wins_over_expired(shared: SharedRevision) -> None:
    link, _token = make_review_link(shared.clinician, shared.revision)
    now = clock.now()
    assert review_link_status(link, now) == ReviewLinkStatus.ACTIVE
    assert review_link_status(link, link.expires_at) == ReviewLinkStatus.EXPIRED
    link.revoked_at = now
    assert review_link_status(link, link.expires_at) == ReviewLinkStatus.REVOKED


def test_access_review_link_answers_the_same_for_foreign_and_absent(
    shared: SharedRevision, other_clinic: Organization
) -> None:
    link, _token = make_review_link(shared.clinician, shared.revision)
    assert access_review_link(actor_of(shared.clinician), link.id).id == link.id
    stranger = actor_of(make_membership(organization=other_clinic, role=Role.CLINICIAN))
    for link_id in (link.id, uuid.uuid4()):
        with pytest.raises(NotFound):
            access_review_link(stranger, link_id)


# --- the public page ---------------------------------------------------------------------------


def _page(client: Client, token: str) -> TestResponse:
    return client.get(reverse("cases:review_link_page", args=[token]))


def _file(client: Client, token: str, attachment_id: uuid.UUID) -> TestResponse:
    return client.get(reverse("cases:review_link_file", args=[token, attachment_id]))


def test_the_page_shows_the_case_and_revision_but_nothing_of_the_patient(
    shared: SharedRevision,
) -> None:
    _pin(shared, "Contact point too light.")
    link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    mark = _last_sequence()
    response = _page(Client(), token)
    assert response.status_code == 200
    html = response.content.decode()
    # What it shows: case reference, teeth, type, material, shade, revision, clinic, pins.
    reference = shared.case.reference
    for shown in (
        f"Design review — case {reference}, revision 1",
        "36, 37",
        "Crown",
        "Lithium disilicate",
        "A3.5",
        shared.case.organization.name,
        "Contact point too light.",
        'class="viewer-canvas"',
    ):
        assert shown in html, shown
    # Its meshes are streamed from the link's own endpoint.
    config = json.loads(re.search(r'id="viewer-config"[^>]*>(.*?)</script>', html, re.S)[1])  # type: ignore[index]  # the page has it
    urls = [mesh["url"] for mesh in config["meshes"]]
    assert len(urls) == 3
    assert all(url.startswith(f"/review/{token}/files/") for url in urls)
    assert config["canPin"] is False
    # What it never shows: the patient's identity, notes, the uploaded file names.
    lowered = html.lower()
    leaks = [value for value in IDENTITY if value.lower() in lowered]
    assert leaks == []
    assert "patient" not in lowered
    # No approval control, no way into the app.
    assert not re.search(r"<(form|button)[^>]*approve", lowered)
    assert 'name="action"' not in html
    assert f'href="{reverse("web:dashboard")}"' not in html
    assert "approval happens" in lowered or "never through this link" in lowered
    # Not cached, not indexed, no Referer to other sites.
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"
    assert "noindex" in response["X-Robots-Tag"]
    # One audited open, naming the patient.
    event = _only_event(mark)
    assert (event.action, event.outcome, event.subject_patient) == (
        AuditAction.Case.ReviewLinkOpened,
        Outcome.ALLOWED,
        str(shared.patient.id),
    )
    link.refresh_from_db()
    assert link.open_count == 1


def test_every_refused_link_answers_the_same_404_page_and_is_audited(
    shared: SharedRevision,
) -> None:
    expired, expired_token = make_review_link(shared.clinician, shared.revision)
    _expire(expired)
    revoked, revoked_token = make_review_link(shared.clinician, shared.revision)
    review_link_revoke(actor=actor_of(shared.clinician), link=revoked)
    _working, working_token = make_review_link(shared.clinician, shared.revision)
    guessed = "B" * 43
    bodies = set()
    client = Client()
    for token, target in (
        (expired_token, str(expired.id)),
        (revoked_token, str(revoked.id)),
        (guessed, ""),
        ("short", ""),
        (working_token[:-1] + ("A" if working_token[-1] != "A" else "B"), ""),
    ):
        mark = _last_sequence()
        response = _page(client, token)
        assert response.status_code == 404
        bodies.add(response.content)
        event = _only_event(mark)
        assert (event.action, event.outcome, event.target_id) == (
            AuditAction.Case.ReviewLinkOpened,
            Outcome.DENIED,
            target,
        )
        assert response["Cache-Control"] == "no-store"
    assert len(bodies) == 1
    body = bodies.pop().decode()
    assert "This review link is not available" in body
    assert shared.case.reference not in body


def test_revocation_stops_the_open_page_and_its_mesh_stream_at_once(
    shared: SharedRevision,
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision)
    client = Client()
    assert _page(client, token).status_code == 200
    design = Attachment.objects.get(revision=shared.revision)
    response = _file(client, token, design.id)
    assert response.status_code == 200
    assert response.getvalue() == b"".join(_design_bytes(design))
    assert response["Cache-Control"] == "no-store"
    assert DESIGN_NAME not in response["Content-Disposition"]

    review_link_revoke(actor=actor_of(shared.clinician), link=link)
    mark = _last_sequence()
    assert _file(client, token, design.id).status_code == 404
    assert _page(client, token).status_code == 404
    events = _events_since(mark)
    assert [(e.action, e.outcome, e.target_id) for e in events] == [
        (AuditAction.Case.ReviewLinkOpened, Outcome.DENIED, str(link.id)),
        (AuditAction.Case.ReviewLinkOpened, Outcome.DENIED, str(link.id)),
    ]


def _design_bytes(design: Attachment) -> Iterator[bytes]:
    from cuspid.keys.blobs import blob_chunks

    return blob_chunks(design.blob)


def test_a_stream_of_a_file_outside_the_link_is_404_and_audited(
    shared: SharedRevision,
) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision)
    mark = _last_sequence()
    response = _file(Client(), token, uuid.uuid4())
    assert response.status_code == 404
    assert b"This review link is not available" in response.content
    event = _only_event(mark)
    assert (event.action, event.outcome) == (AuditAction.Record.Read, Outcome.DENIED)


def test_the_passcode_form_comes_first_then_the_right_passcode_opens_the_page(
    shared: SharedRevision,
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    design = Attachment.objects.get(revision=shared.revision)
    client = Client()
    mark = _last_sequence()
    response = _page(client, token)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter the passcode" in html
    assert shared.case.reference not in html
    assert _events_since(mark) == []
    # Streams need the passcode too.
    assert _file(client, token, design.id).status_code == 404
    assert _only_event(mark).outcome == Outcome.DENIED

    url = reverse("cases:review_link_page", args=[token])
    mark = _last_sequence()
    wrong = client.post(url, {"passcode": "molar-0000"})
    assert wrong.status_code == 422
    assert "not right" in wrong.content.decode()
    assert _only_event(mark).outcome == Outcome.DENIED

    session_before = client.session.session_key
    right = client.post(url, {"passcode": PASSCODE})
    assert right.status_code == 302
    assert right["Location"] == url
    # A new session id once the passcode is given; the pass names this link only.
    assert client.session.session_key != session_before
    assert list(client.session[PASS_SESSION_KEY]) == [str(link.id)]
    mark = _last_sequence()
    response = _page(client, token)
    assert response.status_code == 200
    assert shared.case.reference in response.content.decode()
    assert _only_event(mark).outcome == Outcome.ALLOWED
    assert _file(client, token, design.id).status_code == 200
    # Another browser has no pass.
    assert "Enter the passcode" in _page(Client(), token).content.decode()


def test_the_pass_runs_out_and_is_bound_to_its_link(shared: SharedRevision) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    other, other_token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    client = Client()
    client.post(reverse("cases:review_link_page", args=[token]), {"passcode": PASSCODE})
    assert "Enter the passcode" in _page(client, other_token).content.decode()
    assert "Enter the passcode" not in _page(client, token).content.decode()
    session = client.session
    session[PASS_SESSION_KEY] = {str(link.id): clock.now().timestamp() - 1, "x": "bad"}
    session.save()
    assert "Enter the passcode" in _page(client, token).content.decode()
    assert other.id != link.id


def test_passcode_guesses_are_throttled_on_the_page(shared: SharedRevision) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision, passcode=PASSCODE)
    url = reverse("cases:review_link_page", args=[token])
    client = Client()
    for _ in range(PASSCODE_TRIES):
        assert client.post(url, {"passcode": "guess-guess"}).status_code == 422
    mark = _last_sequence()
    throttled = client.post(url, {"passcode": PASSCODE})
    assert throttled.status_code == 429
    assert "Too many tries" in throttled.content.decode()
    assert _only_event(mark).outcome == Outcome.DENIED
    assert PASS_SESSION_KEY not in client.session


def test_a_link_without_passcode_ignores_a_posted_passcode(shared: SharedRevision) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision)
    url = reverse("cases:review_link_page", args=[token])
    response = Client().post(url, {"passcode": ""})
    assert (response.status_code, response["Location"]) == (302, url)


def test_the_holder_comments_from_the_page(shared: SharedRevision) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    client = Client()
    url = reverse("cases:review_link_comment", args=[token])
    response = client.post(url, {"author_name": "Dr Roy", "text": "Margin short on 36."})
    assert response.status_code == 302
    assert response["Location"].endswith("#comments")
    page = _page(client, token).content.decode()
    assert "Comment sent." in page
    assert "Dr Roy" in page
    assert "Margin short on 36." in page
    assert Comment.objects.get().review_link_id == link.id

    invalid = client.post(url, {"author_name": "", "text": "No name."})
    assert invalid.status_code == 422
    assert Comment.objects.count() == 1
    transition(shared.clinician, shared.case, "cancel")
    ended = client.post(url, {"author_name": "Dr Roy", "text": "Too late."})
    assert ended.status_code == 422
    assert "has ended" in ended.content.decode()


def test_a_view_only_or_revoked_link_cannot_post_a_comment(shared: SharedRevision) -> None:
    _view_only, token = make_review_link(shared.clinician, shared.revision)
    url = reverse("cases:review_link_comment", args=[token])
    page = _page(Client(), token).content.decode()
    assert "Send comment" not in page
    mark = _last_sequence()
    response = Client().post(url, {"author_name": "Dr Roy", "text": "Hello."})
    assert response.status_code == 404
    assert _only_event(mark).outcome == Outcome.DENIED

    link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    review_link_revoke(actor=actor_of(shared.clinician), link=link)
    url = reverse("cases:review_link_comment", args=[token])
    assert Client().post(url, {"author_name": "Dr Roy", "text": "Hi."}).status_code == 404
    assert not Comment.objects.exists()


def test_a_comment_racing_a_revocation_is_refused_like_any_refused_link(
    shared: SharedRevision, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link is revoked after the view checked it, before the comment is stored."""
    from cuspid.cases.views import review_links as views

    link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    real_add = review_link_comment_add

    def revoke_then_add(**kwargs: object) -> Comment:
        review_link_revoke(actor=actor_of(shared.clinician), link=link)
        return real_add(**kwargs)  # type: ignore[arg-type]  # the view's own arguments

    monkeypatch.setattr(views, "review_link_comment_add", revoke_then_add)
    url = reverse("cases:review_link_comment", args=[token])
    mark = _last_sequence()
    response = Client().post(url, {"author_name": "Dr Roy", "text": "Hi."})
    assert response.status_code == 404
    assert [(e.action, e.outcome) for e in _events_since(mark)] == [
        (AuditAction.Case.ReviewLinkRevoked, Outcome.ALLOWED),
        (AuditAction.Case.ReviewLinkOpened, Outcome.DENIED),
    ]
    assert not Comment.objects.exists()


def test_an_open_racing_a_revocation_answers_the_refused_page(
    shared: SharedRevision, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cuspid.cases.views import review_links as views

    link, token = make_review_link(shared.clinician, shared.revision)
    real_open = review_link_open

    def revoke_then_open(**kwargs: object) -> None:
        review_link_revoke(actor=actor_of(shared.clinician), link=link)
        real_open(**kwargs)  # type: ignore[arg-type]  # the view's own arguments

    monkeypatch.setattr(views, "review_link_open", revoke_then_open)
    response = _page(Client(), token)
    assert response.status_code == 404
    assert b"This review link is not available" in response.content


def test_an_approval_route_is_out_of_reach_of_a_link_holder(shared: SharedRevision) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision, allow_comments=True)
    client = Client()
    assert _page(client, token).status_code == 200
    transition(shared.designer, shared.case, "send_for_review")
    # The holder's browser is signed out: the case's workflow and the API need an account.
    page = client.post(
        reverse("cases:case_transition", args=[shared.case.id]), {"action": "approve"}
    )
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("account_login"))
    api = client.post(
        f"/api/v1/cases/{shared.case.id}/transitions",
        {"action": "approve"},
        content_type="application/json",
    )
    assert api.status_code == 401
    shared.case.refresh_from_db()
    assert shared.case.status == "awaiting_review"
    # The public routes are the link's page, its files and its comments: nothing else.
    public = {
        name
        for name, rule in routes.PAGES.items()
        if name.startswith("cases:") and rule.access == routes.Access.PUBLIC
    }
    assert public == {
        "cases:review_link_page",
        "cases:review_link_file",
        "cases:review_link_comment",
    }


# --- the request log never holds a token -------------------------------------------------------


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter())
    loggers = [logging.getLogger("cuspid.access"), logging.getLogger("django.request")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield stream
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def test_the_request_log_records_review_paths_without_the_token(
    shared: SharedRevision, access_lines: io.StringIO
) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision)
    design = Attachment.objects.get(revision=shared.revision)
    client = Client()
    _page(client, token)
    _file(client, token, design.id)
    # Paths the URL map does not resolve (no capture to mask) are masked all the same.
    client.get(f"/review/{token}/files/not-a-uuid")
    client.get(f"/review/{token}/nothing/here/")
    _page(client, "C" * 43)
    lines = access_lines.getvalue()
    assert lines.count('"path"') >= 5
    assert token not in lines
    assert "C" * 43 not in lines
    paths = [json.loads(line)["path"] for line in lines.splitlines() if '"path"' in line]
    assert all(path.startswith("/review/…") for path in paths), paths


def test_redaction_masks_review_link_tokens_in_any_log_text() -> None:
    from cuspid.core.logging import redact

    text = (
        'GET /review/abcDEF_123-xyz/files/1 and "/review/tok?q=1" /reviews/x /api/v1/review-links/'
    )
    assert redact(text) == (
        'GET /review/…/files/1 and "/review/…" /reviews/x /api/v1/review-links/'
    )


# --- the clinic's panel ------------------------------------------------------------------------


def test_the_panel_creates_a_link_and_shows_its_address_once(
    shared: SharedRevision, signed_in: SignedIn
) -> None:
    client = signed_in(shared.clinician.user)
    url = reverse("cases:review_link_panel", args=[shared.revision.id])
    htmx = {"HX-Request": "true"}
    empty = client.get(url, headers=htmx)
    assert empty.status_code == 200
    assert "No review links for this revision yet." in empty.content.decode()

    response = client.post(
        url,
        {"expires_in_hours": "24", "allow_comments": "on", "passcode": "", "label": "Dr Roy"},
        headers=htmx,
    )
    assert response.status_code == 200
    assert response["Cache-Control"].count("no-store") == 1
    html = response.content.decode()
    link = ReviewLink.objects.get()
    match = re.search(r'value="(http://testserver/review/([A-Za-z0-9_-]{43})/)"', html)
    assert match is not None
    assert hashlib.sha256(match[2].encode()).hexdigest() == link.token_hash
    assert "it will not be shown again" in html
    assert "Dr Roy" in html
    assert "View and comment" in html
    assert link.allow_comments
    assert link.expires_at - link.created_at == pytest.approx(
        timedelta(hours=24), abs=timedelta(seconds=5)
    )

    again = client.get(url, headers=htmx).content.decode()
    assert match[2] not in again
    assert "Dr Roy" in again

    page = client.get(url)
    assert page.status_code == 200
    assert "Review links — case" in page.content.decode()


def test_the_panel_refuses_bad_input_with_the_form(
    shared: SharedRevision, signed_in: SignedIn
) -> None:
    client = signed_in(shared.clinician.user)
    url = reverse("cases:review_link_panel", args=[shared.revision.id])
    htmx = {"HX-Request": "true"}
    short = client.post(url, {"expires_in_hours": "72", "passcode": "123"}, headers=htmx)
    assert short.status_code == 422
    assert "A passcode has 6 to 128 characters" in short.content.decode()
    unknown = client.post(url, {"expires_in_hours": "500"}, headers=htmx)
    assert unknown.status_code == 422
    assert not ReviewLink.objects.exists()


def test_the_panel_revokes_a_link(shared: SharedRevision, signed_in: SignedIn) -> None:
    link, token = make_review_link(shared.clinician, shared.revision, label="Dr Roy")
    client = signed_in(shared.clinician.user)
    revoke = reverse("cases:review_link_revoke", args=[link.id])
    response = client.post(revoke, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Revoked" in html
    assert revoke not in html  # no revoke button left
    assert _page(Client(), token).status_code == 404

    other, _other_token = make_review_link(shared.clinician, shared.revision)
    plain = client.post(reverse("cases:review_link_revoke", args=[other.id]))
    assert plain.status_code == 302
    assert plain["Location"] == reverse("cases:review_link_panel", args=[shared.revision.id])


def test_the_review_page_shows_the_panel_to_the_clinician_only(
    shared: SharedRevision, signed_in: SignedIn, clinic: Organization, member_of: MemberOf
) -> None:
    _link, token = make_review_link(shared.clinician, shared.revision, label="Dr Roy")
    _page(Client(), token)
    _page(Client(), token)
    url = reverse("cases:revision_review", args=[shared.revision.id])
    clinician = signed_in(shared.clinician.user).get(url).content.decode()
    assert 'id="review-links-panel"' in clinician
    assert "Dr Roy" in clinician
    assert "Opened 2 times, last" in clinician
    assert token not in clinician
    for membership in (member_of(clinic, Role.STAFF), shared.designer):
        html = signed_in(membership.user).get(url).content.decode()
        assert 'id="review-links-panel"' not in html
        assert "Dr Roy" not in html


def test_the_panel_refuses_a_clinician_role_on_the_lab_side(
    shared: SharedRevision, signed_in: SignedIn, lab: Organization, member_of: MemberOf
) -> None:
    lab_clinician = member_of(lab, Role.CLINICIAN)
    url = reverse("cases:review_link_panel", args=[shared.revision.id])
    client = signed_in(lab_clinician.user)
    assert client.get(url).status_code == 403
    assert client.post(url, {"expires_in_hours": "72"}).status_code == 403
    assert not ReviewLink.objects.exists()
