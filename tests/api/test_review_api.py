"""/api/v1 review: pins, comment threads, change requests and mentions; what each side gets,
the errors, and the list endpoints' query counts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Annotation, Case, Comment, Mention
from cuspid.cases.workflow import State
from cuspid.keys.crypto import dek_cache
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.factories import audited_read_queries
from tests.factories.cases import first_scan, make_case, make_revision, transition
from tests.factories.review import (
    ReviewTeam,
    make_comment,
    make_pin,
    make_review_team,
    member,
)

SignedIn = Callable[[User], Client]
API = "/api/v1"
# Who the case is for: finding it in an answer would be a leak.
GIVEN, FAMILY = "Zebulon", "Quixley"


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
    return make_review_team(clinic, lab, patient_name=(GIVEN, FAMILY))


@pytest.fixture
def clinic_client(team: ReviewTeam, signed_in: SignedIn) -> Client:
    return signed_in(team.clinician.user)


@pytest.fixture
def lab_client(team: ReviewTeam, signed_in: SignedIn) -> Client:
    return signed_in(team.designer.user)


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(API + path, body, content_type="application/json")


def _no_patient(response: Any) -> None:
    text = response.content.decode()
    assert GIVEN not in text
    assert FAMILY not in text


def _fresh(case: Case) -> Case:
    return Case.objects.select_related("organization", "shared_with_lab").get(pk=case.pk)


# --- pins ------------------------------------------------------------------------------------


def test_pins_are_placed_listed_and_removed(
    team: ReviewTeam, clinic_client: Client, lab_client: Client
) -> None:
    path = f"/revisions/{team.revision.id}/annotations"
    scan = first_scan(team.case)
    created = _post(
        clinic_client,
        path,
        {"point": [1, 2, 3], "normal": [0, 3, 4], "text": "Margin.", "attachment_id": str(scan.id)},
    )
    assert created.status_code == 201
    pin = created.json()
    assert pin["number"] == 1
    assert pin["point"] == [1.0, 2.0, 3.0]
    assert pin["normal"] == pytest.approx([0.0, 0.6, 0.8])
    assert pin["attachment_id"] == str(scan.id)
    assert pin["author"]["full_name"] == "Marie Roy"
    assert pin["organization"]["id"] == str(team.clinic.id)
    second = _post(lab_client, path, {"point": [0, 0, 0], "normal": [1, 0, 0], "text": "Mine."})
    assert second.json()["number"] == 2
    listed = lab_client.get(API + path)
    assert listed.status_code == 200
    assert [(p["number"], p["text"]) for p in listed.json()] == [(1, "Margin."), (2, "Mine.")]
    _no_patient(listed)
    # Only the author removes a pin.
    assert lab_client.delete(f"{API}/annotations/{pin['id']}").status_code == 403
    removed = clinic_client.delete(f"{API}/annotations/{pin['id']}")
    assert removed.status_code == 204
    assert [p["number"] for p in clinic_client.get(API + path).json()] == [2]


@pytest.mark.parametrize(
    "body",
    [
        {"point": [0, 0, 501], "normal": [0, 0, 1], "text": "Far."},
        {"point": [0, 0, 0], "normal": [0, 0, 0], "text": "Flat."},
        {"point": [0, 0], "normal": [0, 0, 1], "text": "Short."},
        {"point": [0, 0, 0], "normal": [0, 0, 1], "text": ""},
        {"point": [0, 0, 0], "normal": [0, 0, 1], "text": "x" * 2001},
        {"point": [0, 0, 0], "normal": [0, 0, 1], "text": "x", "attachment_id": str(uuid.uuid4())},
    ],
)
def test_a_bad_pin_answers_422_and_stores_nothing(
    team: ReviewTeam, clinic_client: Client, body: dict[str, Any]
) -> None:
    response = _post(clinic_client, f"/revisions/{team.revision.id}/annotations", body)
    assert response.status_code == 422
    assert Annotation.objects.count() == 0


def test_a_pin_on_another_clinics_scan_answers_like_an_absent_one(
    team: ReviewTeam, clinic_client: Client, other_clinic: Organization
) -> None:
    stranger = member(other_clinic, Role.CLINICIAN)
    foreign = first_scan(make_case(stranger))
    path = f"/revisions/{team.revision.id}/annotations"
    body = {"point": [0, 0, 0], "normal": [0, 0, 1], "text": "x"}
    theirs = _post(clinic_client, path, {**body, "attachment_id": str(foreign.id)})
    absent = _post(clinic_client, path, {**body, "attachment_id": str(uuid.uuid4())})
    assert (theirs.status_code, theirs.json()) == (absent.status_code, absent.json())


def test_an_ended_case_answers_409_with_its_status(team: ReviewTeam, clinic_client: Client) -> None:
    transition(team.clinician, _fresh(team.case), "cancel")
    response = _post(
        clinic_client,
        f"/revisions/{team.revision.id}/annotations",
        {"point": [0, 0, 0], "normal": [0, 0, 1], "text": "Late."},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["status"] == "cancelled"
    comment = _post(clinic_client, f"/revisions/{team.revision.id}/comments", {"body": "Late."})
    assert comment.status_code == 409


# --- comments --------------------------------------------------------------------------------


def test_comments_come_back_as_threads_and_mention_participants(
    team: ReviewTeam, clinic_client: Client, lab_client: Client
) -> None:
    path = f"/revisions/{team.revision.id}/comments"
    top = _post(clinic_client, path, {"body": "@dev.patel see pin 1"})
    assert top.status_code == 201
    top_id = top.json()["id"]
    assert top.json()["author"]["full_name"] == "Marie Roy"
    assert top.json()["via_review_link"] is False
    reply = _post(lab_client, path, {"body": "On it.", "parent_id": top_id})
    assert reply.status_code == 201
    assert reply.json()["parent_id"] == top_id
    nested = _post(clinic_client, path, {"body": "Deeper", "parent_id": reply.json()["id"]})
    assert nested.status_code == 422
    unknown = _post(clinic_client, path, {"body": "Who?", "parent_id": str(uuid.uuid4())})
    assert unknown.status_code == 422
    threads = lab_client.get(API + path)
    assert threads.status_code == 200
    [thread] = threads.json()
    assert (thread["id"], thread["body"]) == (top_id, "@dev.patel see pin 1")
    assert [(r["body"], r["organization"]["name"]) for r in thread["replies"]] == [
        ("On it.", team.lab.name)
    ]
    _no_patient(threads)
    assert Mention.objects.get().user_id == team.designer.user_id


def test_lab_staff_may_read_but_not_comment(team: ReviewTeam, signed_in: SignedIn) -> None:
    client = signed_in(team.lab_staff.user)
    path = f"/revisions/{team.revision.id}/comments"
    assert client.get(API + path).status_code == 200
    assert _post(client, path, {"body": "Hi"}).status_code == 403
    assert Comment.objects.count() == 0


# --- the review flow -------------------------------------------------------------------------


def test_the_clinic_requests_changes_on_the_latest_revision_with_a_comment(
    team: ReviewTeam, clinic_client: Client, lab_client: Client
) -> None:
    path = f"/revisions/{team.revision.id}/request-changes"
    early = _post(clinic_client, path, {"reason": "Too early."})
    assert early.status_code == 409
    transition(team.designer, _fresh(team.case), "send_for_review")
    assert _post(lab_client, path, {"reason": "Not ours."}).status_code == 403
    assert _post(clinic_client, path, {"reason": ""}).status_code == 422
    done = _post(clinic_client, path, {"reason": "Thicker occlusal, @dev.patel."})
    assert done.status_code == 201
    assert done.json()["body"] == "Thicker occlusal, @dev.patel."
    assert _fresh(team.case).status == State.CHANGES_REQUESTED
    second = make_revision(team.designer, _fresh(team.case), note="Second.")
    transition(team.designer, _fresh(team.case), "send_for_review")
    stale = _post(clinic_client, path, {"reason": "About the old one."})
    assert stale.status_code == 409
    assert "superseded" in stale.json()["detail"]
    assert second.number == 2


# --- mentions --------------------------------------------------------------------------------


def test_mentions_say_where_never_what_and_are_read_by_their_owner(
    team: ReviewTeam, clinic_client: Client, signed_in: SignedIn
) -> None:
    secret = "The patient is anxious."
    make_comment(team.designer, team.revision, f"@marie.roy {secret}")
    make_comment(team.designer, team.revision, "@marie.roy @sam.okafor again")
    listed = clinic_client.get(f"{API}/mentions")
    assert listed.status_code == 200
    page = listed.json()
    assert page["count"] == 2
    first = page["items"][0]
    assert set(first) == {
        "id",
        "case_id",
        "case_reference",
        "revision_id",
        "revision_number",
        "comment_id",
        "author",
        "created_at",
        "read_at",
        "review_url",
    }
    assert (first["case_reference"], first["revision_number"]) == (team.case.reference, 1)
    assert first["author"]["full_name"] == "Dev Patel"
    assert first["review_url"] == f"/revisions/{team.revision.id}/"
    assert secret not in listed.content.decode()
    _no_patient(listed)
    read = clinic_client.post(f"{API}/mentions/{first['id']}/read")
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    staff = signed_in(team.staff.user)
    assert staff.post(f"{API}/mentions/{first['id']}/read").status_code == 404
    assert staff.post(f"{API}/mentions/read").json() == {"marked": 1}
    assert clinic_client.post(f"{API}/mentions/read").json() == {"marked": 1}
    assert not Mention.objects.filter(read_at__isnull=True).exists()


# --- query counts ------------------------------------------------------------------------------


def _queries(client: Client, path: str) -> int:
    assert client.get(f"{API}/me").status_code == 200
    dek_cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(API + path)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_pin_list_costs_the_same_for_2_or_12_pins(
    team: ReviewTeam, clinic_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    path = f"/revisions/{team.revision.id}/annotations"
    for n in range(2):
        make_pin(team.clinician, team.revision, f"Pin {n}")
    two = _queries(clinic_client, path)
    # Session, user, memberships, MFA check; the revision; the pins; their data key; the
    # audited read.
    assert two == 4 + 1 + 1 + 1 + audited_read_queries()
    for n in range(10):
        make_pin(team.designer, team.revision, f"More {n}")
    dek_cache.clear()
    with django_assert_num_queries(two):
        response = clinic_client.get(API + path)
    assert len(response.json()) == 12


def test_the_comment_list_costs_the_same_for_2_or_12_comments(
    team: ReviewTeam, lab_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    path = f"/revisions/{team.revision.id}/comments"
    top = make_comment(team.clinician, team.revision, "First")
    make_comment(team.designer, team.revision, "Reply", parent=top)
    two = _queries(lab_client, path)
    # As for pins, with the threads and their replies in two queries.
    assert two == 4 + 1 + 2 + 1 + audited_read_queries()
    for n in range(5):
        thread = make_comment(team.clinician, team.revision, f"Thread {n}")
        make_comment(team.designer, team.revision, f"Reply {n}", parent=thread)
    dek_cache.clear()
    with django_assert_num_queries(two):
        response = lab_client.get(API + path)
    threads = response.json()
    assert len(threads) == 6
    assert all(len(t["replies"]) == 1 for t in threads)


def test_the_mention_list_costs_the_same_for_2_or_12_mentions(
    team: ReviewTeam, clinic_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for n in range(2):
        make_comment(team.designer, team.revision, f"@marie.roy {n}")
    two = _queries(clinic_client, "/mentions")
    # Session, user, memberships, MFA check; the count and the page. Not a PHI route: no
    # audited read, no data key.
    assert two == 4 + 2
    for n in range(10):
        make_comment(team.staff, team.revision, f"@marie.roy {n}")
    with django_assert_num_queries(two):
        response = clinic_client.get(f"{API}/mentions")
    assert response.json()["count"] == 12


def test_the_writes_are_audited_by_their_services_only(
    team: ReviewTeam, clinic_client: Client
) -> None:
    before = AuditEvent.objects.count()
    _post(clinic_client, f"/revisions/{team.revision.id}/comments", {"body": "One."})
    actions = list(
        AuditEvent.objects.order_by("sequence").values_list("action", flat=True)[before:]
    )
    assert actions == [str(AuditAction.Case.CommentAdded)]


def test_the_openapi_document_lists_the_review_operations(db: None) -> None:
    schema = Client().get(f"{API}/openapi.json").json()
    ids = {op["operationId"] for item in schema["paths"].values() for op in item.values()}
    assert {
        "annotation_list",
        "annotation_create",
        "annotation_delete",
        "comment_list",
        "comment_create",
        "review_request_changes",
        "mention_list",
        "mention_read",
        "mention_read_all",
    } <= ids
