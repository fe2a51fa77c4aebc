"""Review of a revision: pins, comment threads, @mentions, the mentions inbox and the review
flow (send for review, request changes), through the real services, selectors, policies and
pages.

Audit events are read straight from the audit table: every change leaves exactly its one
action (the change request two: the transition and its comment).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Max
from django.test import Client
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings

from cuspid.access.matrix import AccessRole
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.identity import AuditIdentity
from cuspid.audit.models import AuditEvent
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import (
    Annotation,
    Attachment,
    Case,
    CaseEvent,
    Comment,
    Mention,
    ReviewLink,
    Revision,
)
from cuspid.cases.policies.review import access_annotation, access_mention, thread_parent_for
from cuspid.cases.selectors.review import (
    PARTICIPANT_ROLES,
    annotation_list_for,
    case_participants_for,
    comment_threads_for,
    handle_of,
    latest_revision_number,
    mention_list_for,
    mention_unread_count,
    mentioned_in,
)
from cuspid.cases.services import Upload, attachment_add
from cuspid.cases.services.review import (
    MAX_COMMENT,
    MAX_PIN_TEXT,
    annotation_create,
    annotation_delete,
    comment_create,
    mention_mark_all_read,
    mention_mark_read,
    pin_geometry,
    revision_request_changes,
    revision_send_for_review,
)
from cuspid.cases.workflow import State
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotFound, PermissionDenied
from cuspid.keys.fields import preload_keys
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.factories import make_lab, make_membership
from tests.factories.cases import (
    actor_of,
    first_scan,
    make_case,
    make_revision,
    transition,
)
from tests.factories.review import (
    NORMAL,
    POINT,
    ReviewTeam,
    make_comment,
    make_pin,
    make_review_team,
    member,
)

SignedIn = Callable[[User], Client]
HTMX = {"HX-Request": "true"}
MENTIONS_PROCESSOR = "cuspid.cases.context_processors.mentions"


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
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
def team(clinic: Organization, lab: Organization) -> ReviewTeam:
    return make_review_team(clinic, lab)


def _mark() -> int:
    return int(AuditEvent.objects.aggregate(n=Max("sequence"))["n"] or 0)


def _actions_since(mark: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(sequence__gt=mark)
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def _events_since(mark: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=mark).order_by("sequence"))


def _fresh(case: Case) -> Case:
    return Case.objects.select_related("organization", "shared_with_lab").get(pk=case.pk)


def _revision(revision: Revision) -> Revision:
    return Revision.objects.select_related("case").get(pk=revision.pk)


def _in_review(team: ReviewTeam) -> None:
    """Revision 1 sent for review: the clinic holds it."""
    revision_send_for_review(actor=actor_of(team.designer), revision=_revision(team.revision))


def _revoked(team: ReviewTeam) -> None:
    transition(team.clinician, _fresh(team.case), "revoke_share")


def _cancelled(team: ReviewTeam) -> None:
    transition(team.clinician, _fresh(team.case), "cancel")


# --- pins ------------------------------------------------------------------------------------


def test_pins_are_numbered_per_revision_and_each_is_audited_once(team: ReviewTeam) -> None:
    mark = _mark()
    first = make_pin(team.clinician, team.revision, "Margin open.")
    second = make_pin(team.designer, team.revision, "Contact point here.")
    third = make_pin(team.staff, team.revision, "Shade check.")
    assert [first.number, second.number, third.number] == [1, 2, 3]
    events = _events_since(mark)
    assert [e.action for e in events] == [str(AuditAction.Case.AnnotationAdded)] * 3
    assert [e.target_id for e in events] == [str(a.id) for a in (first, second, third)]
    assert {e.target_type for e in events} == {"annotation"}
    assert {e.subject_patient for e in events} == {str(team.patient.id)}
    stored = Annotation.objects.get(pk=first.pk)
    assert stored.point == list(POINT)
    assert stored.normal == [0.0, 0.0, 1.0]
    assert (stored.author_id, stored.organization_id) == (team.clinician.user_id, team.clinic.id)
    assert stored.text == "Margin open."


def test_a_new_revision_numbers_its_pins_from_one(team: ReviewTeam) -> None:
    make_pin(team.clinician, team.revision)
    second_revision = make_revision(team.designer, _fresh(team.case), note="Second.")
    assert make_pin(team.clinician, second_revision).number == 1
    assert make_pin(team.clinician, team.revision).number == 2


@pytest.mark.parametrize(
    ("point", "normal", "message"),
    [
        ((1.0, 2.0), NORMAL, "three numbers"),
        ((1.0, 2.0, 3.0, 4.0), NORMAL, "three numbers"),
        ("1,2,3", NORMAL, "three numbers"),
        ((1.0, True, 3.0), NORMAL, "three numbers"),
        ((1.0, "2", 3.0), NORMAL, "three numbers"),
        ((1.0, math.nan, 3.0), NORMAL, "not a finite number"),
        ((math.inf, 0.0, 0.0), NORMAL, "not a finite number"),
        ((0.0, 500.5, 0.0), NORMAL, "500 mm"),
        ((0.0, 0.0, -501), NORMAL, "500 mm"),
        (POINT, (0.0, 0.0, 0.0), "zero"),
        (POINT, (0.0, math.nan, 1.0), "not a finite number"),
        (POINT, (1.0, 1.0), "three numbers"),
    ],
)
def test_a_pin_needs_a_finite_point_within_bounds_and_a_nonzero_normal(
    team: ReviewTeam, point: Any, normal: Any, message: str
) -> None:
    mark = _mark()
    with pytest.raises(InvalidInput, match=message):
        make_pin(team.clinician, team.revision, point=point, normal=normal)
    assert Annotation.objects.count() == 0
    assert _actions_since(mark) == []


def test_the_bounds_and_the_normalisation_at_their_edges() -> None:
    point, normal = pin_geometry([500, -500.0, 0], [3, 4, 0])
    assert point == (500.0, -500.0, 0.0)
    assert normal == pytest.approx((0.6, 0.8, 0.0))


@pytest.mark.parametrize(
    ("text", "ok"), [("", False), ("   \n", False), ("x" * MAX_PIN_TEXT, True), ("x" * 2001, False)]
)
def test_a_pin_note_is_1_to_2000_characters(team: ReviewTeam, text: str, ok: bool) -> None:
    if ok:
        assert make_pin(team.clinician, team.revision, text=text).text == text
    else:
        with pytest.raises(InvalidInput):
            make_pin(team.clinician, team.revision, text=text)


def test_a_pin_sits_on_a_mesh_of_the_revision_or_a_scan_of_the_case(
    team: ReviewTeam, other_clinic: Organization
) -> None:
    actor = actor_of(team.clinician)
    revision = _revision(team.revision)
    design = Attachment.objects.get(revision=revision)
    scan = first_scan(team.case)

    def pin(attachment: Attachment) -> Annotation:
        return annotation_create(
            actor=actor,
            revision=revision,
            point=POINT,
            normal=NORMAL,
            text="Here.",
            attachment=attachment,
        )

    assert pin(design).attachment_id == design.id
    assert pin(scan).attachment_id == scan.id
    # A photo of the case is no mesh; another case's scan, or a later revision's design, is
    # not on this revision.
    photo = attachment_add(actor=actor, case=_fresh(team.case), upload=_png())
    stranger = member(other_clinic, Role.CLINICIAN)
    foreign = first_scan(make_case(stranger))
    later = make_revision(team.designer, _fresh(team.case), note="Second.")
    for wrong in (photo, foreign, Attachment.objects.get(revision=later)):
        with pytest.raises(InvalidInput, match="model of this revision"):
            pin(wrong)
    assert Annotation.objects.count() == 2


def _png() -> Upload:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 180, 160)).save(out, format="PNG")
    out.seek(0)
    return Upload(file=out, filename="smile.png")


def test_lab_staff_may_not_pin_and_the_lab_may_not_once_the_case_is_withdrawn(
    team: ReviewTeam,
) -> None:
    with pytest.raises(PermissionDenied):
        make_pin(team.lab_staff, team.revision)
    # The designer still holds the revision object loaded before the clinic withdrew the
    # case: the locked row decides.
    stale = _revision(team.revision)
    _revoked(team)
    with pytest.raises(PermissionDenied):
        annotation_create(
            actor=actor_of(team.designer), revision=stale, point=POINT, normal=NORMAL, text="x"
        )
    assert Annotation.objects.count() == 0


def test_an_ended_case_takes_no_pins(team: ReviewTeam) -> None:
    _cancelled(team)
    mark = _mark()
    for who in (team.clinician, team.designer):
        with pytest.raises(InvalidTransition) as raised:
            make_pin(who, _revision(team.revision))
        assert raised.value.state == State.CANCELLED
        assert raised.value.allowed == ()
    assert Annotation.objects.count() == 0
    assert _actions_since(mark) == []


def test_the_author_deletes_a_pin_and_the_others_keep_their_numbers(team: ReviewTeam) -> None:
    pins = [make_pin(team.clinician, team.revision, f"Pin {n}.") for n in (1, 2, 3)]
    mark = _mark()
    annotation_delete(
        actor=actor_of(team.clinician),
        annotation=access_annotation(actor_of(team.clinician), pins[1].id),
    )
    events = _events_since(mark)
    assert [e.action for e in events] == [str(AuditAction.Case.AnnotationDeleted)]
    assert events[0].target_id == str(pins[1].id)
    assert list(annotation_list_for(revision=team.revision).values_list("number", flat=True)) == [
        1,
        3,
    ]
    assert make_pin(team.clinician, team.revision).number == 4


def test_only_the_author_deletes_a_pin(team: ReviewTeam) -> None:
    pin = make_pin(team.clinician, team.revision)
    loaded = access_annotation(actor_of(team.staff), pin.id)
    mark = _mark()
    for who in (team.staff, team.designer):
        with pytest.raises(PermissionDenied):
            annotation_delete(actor=actor_of(who), annotation=loaded)
    with pytest.raises(PermissionDenied):
        annotation_delete(actor=actor_of(team.lab_staff), annotation=loaded)
    assert Annotation.objects.filter(pk=pin.pk).exists()
    assert _actions_since(mark) == []


def test_a_pin_cannot_be_deleted_once_the_case_ended_or_left_the_lab(team: ReviewTeam) -> None:
    by_lab = make_pin(team.designer, team.revision)
    stale = access_annotation(actor_of(team.designer), by_lab.id)
    _revoked(team)
    with pytest.raises(PermissionDenied):
        annotation_delete(actor=actor_of(team.designer), annotation=stale)
    by_clinic = make_pin(team.clinician, team.revision)
    _cancelled(team)
    with pytest.raises(InvalidTransition):
        annotation_delete(
            actor=actor_of(team.clinician),
            annotation=access_annotation(actor_of(team.clinician), by_clinic.id),
        )
    assert Annotation.objects.count() == 2


# --- comments --------------------------------------------------------------------------------


def test_comments_and_replies_are_stored_threaded_and_audited_once_each(team: ReviewTeam) -> None:
    mark = _mark()
    top = make_comment(team.clinician, team.revision, "Please check pin 1.")
    reply = make_comment(team.designer, team.revision, "Fixed in the next one.", parent=top)
    events = _events_since(mark)
    assert [e.action for e in events] == [str(AuditAction.Case.CommentAdded)] * 2
    assert [e.target_id for e in events] == [str(top.id), str(reply.id)]
    assert {e.target_type for e in events} == {"comment"}
    stored = Comment.objects.get(pk=reply.pk)
    assert (stored.parent_id, stored.author_id, stored.organization_id, stored.review_link_id) == (
        top.id,
        team.designer.user_id,
        team.lab.id,
        None,
    )
    assert stored.body == "Fixed in the next one."
    [thread] = comment_threads_for(revision=team.revision)
    assert thread == top
    assert list(thread.replies.all()) == [reply]


def test_threads_are_one_level_deep_and_stay_on_their_revision(team: ReviewTeam) -> None:
    top = make_comment(team.clinician, team.revision)
    reply = make_comment(team.designer, team.revision, parent=top)
    later = make_revision(team.designer, _fresh(team.case), note="Second.")
    mark = _mark()
    with pytest.raises(InvalidInput, match="starts a thread"):
        make_comment(team.clinician, team.revision, parent=reply)
    with pytest.raises(InvalidInput, match="starts a thread"):
        make_comment(team.clinician, later, parent=top)
    assert Comment.objects.count() == 2
    assert _actions_since(mark) == []


@pytest.mark.parametrize(
    ("body", "ok"), [("", False), (" \n ", False), ("y" * MAX_COMMENT, True), ("y" * 4001, False)]
)
def test_a_comment_is_1_to_4000_characters(team: ReviewTeam, body: str, ok: bool) -> None:
    if ok:
        assert make_comment(team.clinician, team.revision, body).body == body
    else:
        with pytest.raises(InvalidInput):
            make_comment(team.clinician, team.revision, body)


def test_lab_staff_may_not_comment_and_nobody_comments_on_an_ended_case(team: ReviewTeam) -> None:
    with pytest.raises(PermissionDenied):
        make_comment(team.lab_staff, team.revision)
    stale = _revision(team.revision)
    _revoked(team)
    with pytest.raises(PermissionDenied):
        comment_create(actor=actor_of(team.designer), revision=stale, body="Still here?")
    _cancelled(team)
    with pytest.raises(InvalidTransition):
        make_comment(team.clinician, _revision(team.revision))
    assert Comment.objects.count() == 0


# --- mentions --------------------------------------------------------------------------------


def _mentioned(comment: Comment) -> set[uuid.UUID]:
    return set(Mention.objects.filter(comment=comment).values_list("user_id", flat=True))


def test_participants_are_the_case_workers_of_the_clinic_and_the_current_lab(
    team: ReviewTeam, other_clinic: Organization
) -> None:
    # Not participants: the clinic's patient-role member and admin, an inactive member, a
    # deactivated user, another clinic's clinician, an unconnected lab's designer.
    member(team.clinic, Role.PATIENT, "Pat Patient")
    member(team.clinic, Role.ORG_ADMIN, "Ann Admin")
    gone = member(team.clinic, Role.STAFF, "Gus Gone")
    gone.is_active = False
    gone.save()
    member(team.clinic, Role.STAFF, "Ina Inactive", is_active=False)
    member(other_clinic, Role.CLINICIAN, "Olga Other")
    member(make_lab(), Role.DESIGNER, "Una Unconnected")
    people = case_participants_for(case=_fresh(team.case))
    assert [(p.name, p.handle, p.organization_name) for p in people] == [
        ("Dev Patel", "dev.patel", team.lab.name),
        ("Lee Wong", "lee.wong", team.lab.name),
        ("Marie Roy", "marie.roy", team.clinic.name),
        ("Sam Okafor", "sam.okafor", team.clinic.name),
    ]
    assert set(PARTICIPANT_ROLES) == {"clinician", "staff", "designer", "lab_staff"}
    # Withdrawn from the lab: the lab's people no longer take part.
    _revoked(team)
    assert [p.handle for p in case_participants_for(case=_fresh(team.case))] == [
        "marie.roy",
        "sam.okafor",
    ]


def test_handles_come_from_the_name_else_the_email_and_are_unique_per_case(
    team: ReviewTeam,
) -> None:
    assert handle_of("Élodie Côté-Brûlé", "x@y.example") == "elodie.cote.brule"
    assert handle_of("", "j.smith+lab@y.example") == "j.smith.lab"
    assert handle_of("!!!", "") == "member"
    assert len(handle_of("A" * 80, "")) == 30
    # The newcomer with the same name gets the suffix; the one who joined first keeps it.
    twin = member(team.clinic, Role.STAFF, "Marie Roy")
    nameless = member(team.clinic, Role.STAFF, "", email="zed.key@clinic.example")
    # Someone in both the clinic and the lab is listed once.
    make_membership(user=team.staff.user, organization=team.lab, role=Role.DESIGNER)
    handles = {p.user_id: p.handle for p in case_participants_for(case=_fresh(team.case))}
    assert handles[team.clinician.user_id] == "marie.roy"
    assert handles[twin.user_id] == "marie.roy2"
    assert handles[nameless.user_id] == "zed.key"
    assert list(handles).count(team.staff.user_id) == 1


def test_mentions_notify_participants_only_once_and_never_the_author(
    team: ReviewTeam, other_clinic: Organization
) -> None:
    stranger = member(other_clinic, Role.CLINICIAN, "Olga Other")
    admin = member(team.clinic, Role.ORG_ADMIN, "Ann Admin")
    body = (
        "@dev.patel please check; @Sam.Okafor FYI. @marie.roy (me) @olga.other @ann.admin "
        "@nobody.here dev.patel@lab.example again @dev.patel."
    )
    mark = _mark()
    comment = make_comment(team.clinician, team.revision, body)
    assert _mentioned(comment) == {team.designer.user_id, team.staff.user_id}
    assert stranger.user_id not in _mentioned(comment)
    assert admin.user_id not in _mentioned(comment)
    # One audit event for the comment; mentions are part of it.
    assert _actions_since(mark) == [str(AuditAction.Case.CommentAdded)]
    assert Mention.objects.filter(comment=comment, case=team.case).count() == 2


def test_mentioned_in_reads_handles_not_email_addresses() -> None:
    from cuspid.cases.selectors.review import Participant

    people = [
        Participant(uuid.uuid4(), "A", "Org", "ana"),
        Participant(uuid.uuid4(), "B", "Org", "b.o"),
    ]
    assert [p.handle for p in mentioned_in("@b.o, @ana. @ana x@ana @anab", people)] == [
        "b.o",
        "ana",
    ]
    assert mentioned_in("mail ana@b.o", people) == []


def test_a_lab_member_is_no_participant_once_the_share_is_revoked(team: ReviewTeam) -> None:
    before = make_comment(team.clinician, team.revision, "@dev.patel have a look")
    assert _mentioned(before) == {team.designer.user_id}
    lab_actor = actor_of(team.designer)
    assert mention_unread_count(actor=lab_actor) == 1
    _revoked(team)
    after = make_comment(team.clinician, team.revision, "@dev.patel still there?")
    assert _mentioned(after) == set()
    # The earlier mention leaves the lab member's inbox with the case.
    assert list(mention_list_for(actor=lab_actor)) == []
    assert mention_unread_count(actor=lab_actor) == 0
    with pytest.raises(NotFound):
        access_mention(lab_actor, Mention.objects.get(comment=before).id)


def test_mentions_are_read_one_by_one_or_all_at_once_by_their_owner_only(
    team: ReviewTeam,
) -> None:
    first = make_comment(team.designer, team.revision, "@marie.roy and @sam.okafor")
    second = make_comment(team.designer, team.revision, "@marie.roy again")
    clinician = actor_of(team.clinician)
    mine = [access_mention(clinician, m.id) for m in mention_list_for(actor=clinician)]
    assert [m.comment_id for m in mine] == [second.id, first.id]
    assert mention_unread_count(actor=clinician) == 2
    mark = _mark()
    read = mention_mark_read(user=team.clinician.user, mention=mine[0])
    assert read.read_at is not None
    again = mention_mark_read(user=team.clinician.user, mention=Mention.objects.get(pk=read.pk))
    assert again.read_at == read.read_at
    staff_mention = Mention.objects.get(user=team.staff.user)
    with pytest.raises(NotFound):
        mention_mark_read(user=team.clinician.user, mention=staff_mention)
    with pytest.raises(NotFound):
        access_mention(clinician, staff_mention.id)
    assert mention_unread_count(actor=clinician) == 1
    assert mention_mark_all_read(actor=clinician) == 1
    assert mention_mark_all_read(actor=clinician) == 0
    assert Mention.objects.get(pk=staff_mention.pk).read_at is None
    # The read state is the user's own: not audited.
    assert _actions_since(mark) == []


# --- comments through a review link ------------------------------------------------------------


@dataclass(frozen=True)
class LinkActor:
    """A review link's actor, as the review-links feature builds it."""

    review_link: ReviewLink
    scope: uuid.UUID | None = None

    @property
    def access_role(self) -> AccessRole:
        return AccessRole.EXTERNAL_REVIEWER

    @property
    def organization_id(self) -> uuid.UUID | None:
        return None

    @property
    def user_id(self) -> uuid.UUID | None:
        return None

    @property
    def revision_id(self) -> uuid.UUID:
        return self.scope or self.review_link.revision_id

    def audit_identity(self) -> AuditIdentity:
        return AuditIdentity(role=AccessRole.EXTERNAL_REVIEWER.value)


@dataclass(frozen=True)
class LinklessReviewer:
    """An external reviewer without a link (a wiring bug): refused."""

    revision_id: uuid.UUID

    @property
    def access_role(self) -> AccessRole:
        return AccessRole.EXTERNAL_REVIEWER

    @property
    def organization_id(self) -> uuid.UUID | None:
        return None

    @property
    def user_id(self) -> uuid.UUID | None:
        return None

    def audit_identity(self) -> AuditIdentity:
        return AuditIdentity(role=AccessRole.EXTERNAL_REVIEWER.value)


def _link(team: ReviewTeam, *, comments: bool = True, **fields: Any) -> ReviewLink:
    values: dict[str, Any] = {
        "case": team.case,
        "patient_id": team.case.patient_id,
        "revision": team.revision,
        "token_hash": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        "allow_comments": comments,
        "expires_at": clock.now() + datetime.timedelta(hours=72),
        "created_by": team.clinician.user,
        "organization": team.clinic,
    }
    values.update(fields)
    return ReviewLink.objects.create(**values)


def test_a_review_link_that_allows_comments_comments_without_an_author(team: ReviewTeam) -> None:
    link = _link(team)
    mark = _mark()
    comment = comment_create(
        actor=LinkActor(link), revision=_revision(team.revision), body="@marie.roy the cusp is high"
    )
    stored = Comment.objects.get(pk=comment.pk)
    assert (stored.author_id, stored.organization_id, stored.review_link_id) == (
        None,
        None,
        link.id,
    )
    assert _mentioned(comment) == {team.clinician.user_id}
    [event] = _events_since(mark)
    assert (event.action, event.actor_role, event.actor_user_id) == (
        str(AuditAction.Case.CommentAdded),
        "external_reviewer",
        None,
    )


def test_a_review_link_comments_only_while_live_on_its_revision_if_allowed(
    team: ReviewTeam,
) -> None:
    revision = _revision(team.revision)
    later = make_revision(team.designer, _fresh(team.case), note="Second.")
    refused: list[LinkActor | LinklessReviewer] = [
        LinkActor(_link(team, comments=False)),
        LinkActor(_link(team, revoked_at=clock.now(), revoked_by=team.clinician.user)),
        LinkActor(_link(team, expires_at=clock.now() - datetime.timedelta(seconds=1))),
        # Scoped to this revision but a link of another one (refused under the lock).
        LinkActor(_link(team, revision=later), scope=revision.id),
        LinklessReviewer(revision.id),
    ]
    for actor in refused:
        with pytest.raises(PermissionDenied):
            comment_create(actor=actor, revision=revision, body="Hello")
    # A link of another revision: the permission check itself refuses.
    with pytest.raises(PermissionDenied):
        comment_create(actor=LinkActor(_link(team, revision=later)), revision=revision, body="Hi")
    assert Comment.objects.count() == 0


# --- the review flow ---------------------------------------------------------------------------


def test_the_lab_sends_its_latest_revision_for_review(team: ReviewTeam) -> None:
    mark = _mark()
    case = revision_send_for_review(
        actor=actor_of(team.designer), revision=_revision(team.revision)
    )
    assert case.status == State.AWAITING_REVIEW
    assert _actions_since(mark) == [str(AuditAction.Case.SentForReview)]
    with pytest.raises(InvalidTransition):
        revision_send_for_review(actor=actor_of(team.designer), revision=_revision(team.revision))
    with pytest.raises(PermissionDenied):
        revision_send_for_review(actor=actor_of(team.clinician), revision=_revision(team.revision))


def test_a_superseded_revision_is_not_sent_for_review(team: ReviewTeam) -> None:
    make_revision(team.designer, _fresh(team.case), note="Second.")
    with pytest.raises(InvalidTransition, match="superseded by revision 2") as raised:
        revision_send_for_review(actor=actor_of(team.designer), revision=_revision(team.revision))
    assert raised.value.state == State.IN_DESIGN
    assert _fresh(team.case).status == State.IN_DESIGN


def test_requesting_changes_moves_the_case_and_posts_the_reason_as_a_comment(
    team: ReviewTeam,
) -> None:
    _in_review(team)
    mark = _mark()
    reason = "  Open the contact on 36 distal, see pin 1. @dev.patel  "
    comment = revision_request_changes(
        actor=actor_of(team.clinician), revision=_revision(team.revision), reason=reason
    )
    assert _fresh(team.case).status == State.CHANGES_REQUESTED
    assert _actions_since(mark) == [
        str(AuditAction.Case.ChangesRequested),
        str(AuditAction.Case.CommentAdded),
    ]
    stored = Comment.objects.get(pk=comment.pk)
    assert stored.body == reason.strip()
    assert (stored.parent_id, stored.author_id) == (None, team.clinician.user_id)
    event = CaseEvent.objects.filter(case=team.case).order_by("-created_at", "-id").first()
    assert event is not None
    assert (event.entry, event.note) == ("request_changes", reason.strip())
    assert _mentioned(comment) == {team.designer.user_id}


def test_requesting_changes_is_refused_without_a_reason_by_the_lab_or_out_of_review(
    team: ReviewTeam,
) -> None:
    revision = _revision(team.revision)
    clinician = actor_of(team.clinician)
    # Still in design: not the clinic's turn.
    with pytest.raises(InvalidTransition):
        revision_request_changes(actor=clinician, revision=revision, reason="Too early")
    _in_review(team)
    mark = _mark()
    for reason in ("", "   ", "z" * 4001):
        with pytest.raises(InvalidInput):
            revision_request_changes(
                actor=clinician, revision=_revision(team.revision), reason=reason
            )
    for lab in (team.designer, team.lab_staff):
        with pytest.raises(PermissionDenied):
            revision_request_changes(actor=actor_of(lab), revision=revision, reason="No")
    assert _fresh(team.case).status == State.AWAITING_REVIEW
    assert Comment.objects.count() == 0
    assert _actions_since(mark) == []


def test_changes_are_requested_on_the_latest_revision_only(team: ReviewTeam) -> None:
    _in_review(team)
    revision_request_changes(
        actor=actor_of(team.clinician), revision=_revision(team.revision), reason="Again"
    )
    second = make_revision(team.designer, _fresh(team.case), note="Second.")
    revision_send_for_review(actor=actor_of(team.designer), revision=_revision(second))
    mark = _mark()
    with pytest.raises(InvalidTransition, match="superseded") as raised:
        revision_request_changes(
            actor=actor_of(team.clinician), revision=_revision(team.revision), reason="Old one"
        )
    assert raised.value.state == State.AWAITING_REVIEW
    assert _actions_since(mark) == []
    assert latest_revision_number(_fresh(team.case)) == 2


# --- selectors and policies --------------------------------------------------------------------


def test_the_lists_cost_a_fixed_number_of_queries_whatever_their_length(
    team: ReviewTeam, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for n in range(3):
        make_pin(team.clinician, team.revision, f"Pin {n}")
        top = make_comment(team.clinician, team.revision, f"Thread {n}")
        for _ in range(2):
            make_comment(team.designer, team.revision, "Reply", parent=top)
    # The threads, then every reply of them all.
    with django_assert_num_queries(2):
        threads = list(comment_threads_for(revision=team.revision))
        names = [(str(t.author), [str(r.organization) for r in t.replies.all()]) for t in threads]
    assert len(names) == 3
    assert all(len(replies) == 2 for _name, replies in names)
    with django_assert_num_queries(1):
        pins = list(annotation_list_for(revision=team.revision))
        authors = [p.author.display_name for p in pins]
    assert [p.number for p in pins] == [1, 2, 3]
    assert authors == ["Marie Roy"] * 3
    preload_keys(pins)
    assert [p.text for p in pins] == ["Pin 0", "Pin 1", "Pin 2"]


def test_latest_revision_number_is_zero_without_revisions(clinic: Organization) -> None:
    clinician = member(clinic, Role.CLINICIAN)
    assert latest_revision_number(make_case(clinician)) == 0


def test_pins_and_parents_are_found_only_where_the_actor_may_see_them(
    team: ReviewTeam, other_clinic: Organization
) -> None:
    pin = make_pin(team.clinician, team.revision)
    top = make_comment(team.clinician, team.revision)
    assert access_annotation(actor_of(team.designer), pin.id) == pin
    with pytest.raises(NotFound):
        access_annotation(actor_of(member(other_clinic, Role.CLINICIAN)), pin.id)
    with pytest.raises(NotFound):
        access_annotation(actor_of(team.clinician), uuid.uuid4())
    later = make_revision(team.designer, _fresh(team.case), note="Second.")
    assert thread_parent_for(team.revision, top.id) == top
    assert thread_parent_for(later, top.id) is None
    _revoked(team)
    with pytest.raises(NotFound):
        access_annotation(actor_of(team.designer), pin.id)


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def mentions_in_nav(settings: Settings) -> None:
    """The lead adds the context processor to settings; until then the tests add it."""
    engine = settings.TEMPLATES[0]
    processors = list(engine["OPTIONS"]["context_processors"])
    if MENTIONS_PROCESSOR not in processors:
        settings.TEMPLATES = [
            {
                **engine,
                "OPTIONS": {
                    **engine["OPTIONS"],
                    "context_processors": [*processors, MENTIONS_PROCESSOR],
                },
            }
        ]


def _url(name: str, *args: object) -> str:
    from django.urls import reverse

    return reverse(name, args=args)


def test_the_panels_render_pins_threads_people_and_the_viewer_data(
    team: ReviewTeam, signed_in: SignedIn
) -> None:
    make_pin(team.clinician, team.revision, "Margin <open>.")
    top = make_comment(team.designer, team.revision, "Check @marie.roy")
    make_comment(team.clinician, team.revision, "Done.", parent=top)
    client = signed_in(team.clinician.user)
    pins = client.get(_url("cases:revision_annotations", team.revision.id))
    assert pins.status_code == 200
    body = pins.content.decode()
    data = json.loads(re.search(r'id="annotations-data"[^>]*>(.*?)</script>', body, re.S).group(1))  # type: ignore[union-attr]  # present
    assert data == [
        {"number": 1, "point": list(POINT), "normal": [0.0, 0.0, 1.0], "text": "Margin <open>."}
    ]
    assert 'id="annotation-1"' in body
    assert "Margin &lt;open&gt;." in body
    assert "review.js" not in body  # the partial alone: the page loaded the script
    comments = client.get(_url("cases:revision_comments", team.revision.id)).content.decode()
    assert f'id="comment-{top.id}"' in comments
    assert "Check @marie.roy" in comments
    assert "Done." in comments
    assert "@dev.patel" in comments
    assert "People on this case" in comments
    assert "Send for review" not in comments  # the clinic's side


def test_the_lab_sends_for_review_from_the_page_and_the_clinic_requests_changes(
    team: ReviewTeam, signed_in: SignedIn
) -> None:
    lab = signed_in(team.designer.user)
    panel = lab.get(_url("cases:revision_comments", team.revision.id)).content.decode()
    assert "Send for review" in panel
    assert "Request changes" not in panel
    response = lab.post(_url("cases:revision_send_for_review", team.revision.id))
    assert response.status_code == 302
    assert response["Location"] == _url("cases:revision_review", team.revision.id)
    assert _fresh(team.case).status == State.AWAITING_REVIEW
    again = lab.post(_url("cases:revision_send_for_review", team.revision.id), follow=True)
    assert "Nothing changed" in again.content.decode()
    clinic = signed_in(team.clinician.user)
    panel = clinic.get(_url("cases:revision_comments", team.revision.id)).content.decode()
    assert "Request changes" in panel
    assert "Send for review" not in panel
    empty = clinic.post(_url("cases:revision_request_changes", team.revision.id), {"reason": ""})
    assert empty.status_code == 302
    assert _fresh(team.case).status == State.AWAITING_REVIEW
    done = clinic.post(
        _url("cases:revision_request_changes", team.revision.id),
        {"reason": "Shorten the crown by 0.5 mm."},
        follow=True,
    )
    assert "went back to the lab" in done.content.decode()
    assert _fresh(team.case).status == State.CHANGES_REQUESTED
    assert Comment.objects.get().body == "Shorten the crown by 0.5 mm."
    late = clinic.post(
        _url("cases:revision_request_changes", team.revision.id), {"reason": "Again"}, follow=True
    )
    assert "Nothing changed" in late.content.decode()


def test_pins_are_placed_and_removed_through_the_htmx_panel(
    team: ReviewTeam, signed_in: SignedIn
) -> None:
    client = signed_in(team.clinician.user)
    url = _url("cases:annotation_new", team.revision.id)
    scan = first_scan(team.case)
    placed = client.post(
        url,
        {"point": "1.5,-2.25,10", "normal": "0,0,2", "attachment": str(scan.id), "text": "Here."},
        headers=HTMX,
    )
    assert placed.status_code == 200
    assert 'id="annotation-1"' in placed.content.decode()
    assert Annotation.objects.get().attachment_id == scan.id
    unplaced = client.post(url, {"point": "", "normal": "", "text": "Where?"}, headers=HTMX)
    assert unplaced.status_code == 422
    assert "Place the pin first" in unplaced.content.decode()
    far = client.post(url, {"point": "0,0,900", "normal": "0,0,1", "text": "Far."}, headers=HTMX)
    assert far.status_code == 422
    assert "500 mm" in far.content.decode()
    assert "0,0,900" in far.content.decode()  # the placed point is kept for the retry
    foreign = client.post(
        url,
        {"point": "1,1,1", "normal": "0,0,1", "attachment": str(uuid.uuid4()), "text": "x"},
        headers=HTMX,
    )
    assert foreign.status_code == 422
    plain = client.post(url, {"point": "1,2,3", "normal": "1,0,0", "text": "Plain."})
    assert plain.status_code == 302
    assert plain["Location"].endswith("#annotation-2")
    refused = client.post(url, {"point": "x,y,z", "normal": "1,0,0", "text": "Plain."})
    assert refused["Location"].endswith("#annotations-panel")
    pin = Annotation.objects.get(number=1)
    removed = client.post(_url("cases:annotation_remove", pin.id), headers=HTMX)
    assert removed.status_code == 200
    assert 'id="annotation-1"' not in removed.content.decode()
    other = Annotation.objects.get(number=2)
    plain_remove = client.post(_url("cases:annotation_remove", other.id), follow=True)
    assert "Pin 2 removed." in plain_remove.content.decode()
    assert Annotation.objects.count() == 0
    # Someone else's pin: 403.
    theirs = make_pin(team.designer, team.revision)
    assert client.post(_url("cases:annotation_remove", theirs.id), headers=HTMX).status_code == 403


def test_comments_and_replies_are_posted_through_the_htmx_panel(
    team: ReviewTeam, signed_in: SignedIn
) -> None:
    client = signed_in(team.designer.user)
    url = _url("cases:comment_new", team.revision.id)
    posted = client.post(url, {"body": "Ready, @marie.roy"}, headers=HTMX)
    assert posted.status_code == 200
    top = Comment.objects.get()
    assert f'id="comment-{top.id}"' in posted.content.decode()
    assert _mentioned(top) == {team.clinician.user_id}
    reply = client.post(url, {"body": "Also 37.", "parent": str(top.id)}, headers=HTMX)
    assert reply.status_code == 200
    assert Comment.objects.filter(parent=top).count() == 1
    bad_parent = client.post(url, {"body": "x", "parent": str(uuid.uuid4())}, headers=HTMX)
    assert bad_parent.status_code == 422
    assert "Reply to a comment on this revision." in bad_parent.content.decode()
    empty = client.post(url, {"body": ""}, headers=HTMX)
    assert empty.status_code == 422
    plain = client.post(url, {"body": "Without htmx."})
    assert plain.status_code == 302
    assert "#comment-" in plain["Location"]
    plain_bad = client.post(url, {"body": ""})
    assert plain_bad["Location"].endswith("#comments-panel")
    _cancelled(team)
    ended = client.post(url, {"body": "After the end."}, headers=HTMX)
    assert ended.status_code == 409
    assert Comment.objects.count() == 3


def test_an_ended_case_refuses_pin_changes_on_the_page(
    team: ReviewTeam, signed_in: SignedIn
) -> None:
    pin = make_pin(team.clinician, team.revision)
    _cancelled(team)
    client = signed_in(team.clinician.user)
    removed = client.post(_url("cases:annotation_remove", pin.id), headers=HTMX)
    assert removed.status_code == 409
    plain = client.post(_url("cases:annotation_remove", pin.id), follow=True)
    assert "This case has ended" in plain.content.decode()
    placed = client.post(
        _url("cases:annotation_new", team.revision.id),
        {"point": "1,2,3", "normal": "1,0,0", "text": "Late."},
        follow=True,
    )
    assert "This case has ended" in placed.content.decode()
    assert Annotation.objects.count() == 1


def test_the_inbox_says_where_not_what_and_opening_marks_read(
    team: ReviewTeam, signed_in: SignedIn, mentions_in_nav: None
) -> None:
    secret = "Patient prefers no metal."
    make_comment(team.designer, team.revision, f"@marie.roy {secret}")
    client = signed_in(team.clinician.user)
    page = client.get(_url("cases:mention_list")).content.decode()
    assert "You were mentioned on case" in page
    assert f"By Dev Patel, {team.lab.name}" in page
    assert team.case.reference in page
    assert "revision 1" in page
    assert secret not in page
    assert "Lovelace" not in page
    assert re.search(r'Mentions <span class="badge">1<span class="visually-hidden"> unread', page)
    mention = Mention.objects.get()
    opened = client.post(_url("cases:mention_open", mention.id))
    assert opened.status_code == 302
    assert (
        opened["Location"]
        == _url("cases:revision_review", team.revision.id) + f"#comment-{mention.comment_id}"
    )
    assert Mention.objects.get().read_at is not None
    page = client.get(_url("cases:mention_list")).content.decode()
    assert 'Mentions <span class="badge">' not in page
    assert "Mark all read" not in page
    # Someone else's mention: 404.
    staff = signed_in(team.staff.user)
    assert staff.post(_url("cases:mention_open", mention.id)).status_code == 404


def test_mark_all_read_and_the_empty_inbox(team: ReviewTeam, signed_in: SignedIn) -> None:
    client = signed_in(team.staff.user)
    assert "No mentions yet" in client.get(_url("cases:mention_list")).content.decode()
    for n in range(2):
        make_comment(team.designer, team.revision, f"@sam.okafor {n}")
    assert "Mark all read" in client.get(_url("cases:mention_list")).content.decode()
    done = client.post(_url("cases:mention_read_all"), follow=True)
    assert "All mentions marked read." in done.content.decode()
    assert not Mention.objects.filter(read_at__isnull=True).exists()
    quiet = client.post(_url("cases:mention_read_all"), follow=True)
    assert "All mentions marked read." not in quiet.content.decode()


def test_the_nav_shows_mentions_only_to_case_workers(
    team: ReviewTeam, signed_in: SignedIn, mentions_in_nav: None
) -> None:
    admin = member(team.clinic, Role.ORG_ADMIN, "Ann Admin")
    assert "Mentions" not in signed_in(admin.user).get(_url("web:dashboard")).content.decode()
    assert "Mentions" in signed_in(team.designer.user).get(_url("web:dashboard")).content.decode()


def test_an_operator_without_a_grant_sees_an_empty_inbox(db: None, signed_in: SignedIn) -> None:
    from tests.factories import make_user

    operator = make_user(is_staff=True)
    response = signed_in(operator).get(_url("cases:mention_list"))
    assert response.status_code == 200
    assert "No mentions yet" in response.content.decode()


def test_a_mention_by_a_review_link_names_no_one(team: ReviewTeam, signed_in: SignedIn) -> None:
    comment_create(
        actor=LinkActor(_link(team)), revision=_revision(team.revision), body="@sam.okafor hi"
    )
    page = signed_in(team.staff.user).get(_url("cases:mention_list")).content.decode()
    assert "By an external reviewer" in page


def test_the_review_page_holds_both_panels_and_loads_their_script_once(
    team: ReviewTeam, signed_in: SignedIn
) -> None:
    make_pin(team.clinician, team.revision)
    page = signed_in(team.clinician.user).get(_url("cases:revision_review", team.revision.id))
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count('id="annotations-panel"') == 1
    assert body.count('id="comments-panel"') == 1
    assert body.count('<script id="annotations-data" type="application/json">') == 1
    assert body.count("web/review/review.js") == 1
    assert 'id="review-participants"' in body
