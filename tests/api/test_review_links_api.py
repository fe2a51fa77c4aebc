"""/api/v1 review links: create (the token answered once), list, revoke; what each caller
gets; the OpenAPI document; the list's query count."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import ReviewLink
from cuspid.keys.crypto import dek_cache
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import audited_read_queries, make_membership
from tests.factories.review_links import (
    IDENTITY,
    SharedRevision,
    make_review_link,
    shared_revision,
)

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
API = "/api/v1"
# The list's own queries, before its audited read (see the query-count test).
LIST_QUERIES = 7
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
DENIED = {
    "detail": "You do not have permission to perform this action.",
    "code": "permission_denied",
}


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
def shared(
    clinic: Organization, lab: Organization, connection_: object, member_of: MemberOf
) -> SharedRevision:
    return shared_revision(member_of(clinic, Role.CLINICIAN), member_of(lab, Role.DESIGNER), lab)


def _links(revision_id: object) -> str:
    return f"{API}/revisions/{revision_id}/review-links"


def _post(client: Client, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, body or {}, content_type="application/json")


def _last_sequence() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _events_since(sequence: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def test_create_answers_the_token_once_and_list_never_does(
    shared: SharedRevision, signed_in: SignedIn
) -> None:
    client = signed_in(shared.clinician.user)
    mark = _last_sequence()
    response = _post(
        client,
        _links(shared.revision.id),
        {"expires_in_hours": 168, "allow_comments": True, "passcode": "molar-4217"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    token = body["token"]
    link = ReviewLink.objects.get()
    assert hashlib.sha256(token.encode()).hexdigest() == link.token_hash
    assert body["url"] == f"http://testserver/review/{token}/"
    assert (body["id"], body["status"], body["allow_comments"], body["has_passcode"]) == (
        str(link.id),
        "active",
        True,
        True,
    )
    assert "passcode" not in body
    assert link.expires_at - link.created_at == pytest.approx(
        timedelta(days=7), abs=timedelta(seconds=5)
    )
    events = _events_since(mark)
    assert [(e.action, e.outcome) for e in events] == [
        (AuditAction.Case.ReviewLinkCreated, Outcome.ALLOWED)
    ]

    listed = client.get(_links(shared.revision.id))
    assert listed.status_code == 200
    assert token not in listed.content.decode()
    assert [row["id"] for row in listed.json()] == [str(link.id)]
    assert set(listed.json()[0]) == {
        "id",
        "revision_id",
        "label",
        "allow_comments",
        "has_passcode",
        "status",
        "expires_at",
        "revoked_at",
        "open_count",
        "last_opened_at",
        "created_at",
    }


def test_create_defaults_to_72_hours_view_only(shared: SharedRevision, signed_in: SignedIn) -> None:
    response = _post(signed_in(shared.clinician.user), _links(shared.revision.id))
    assert response.status_code == 201
    body = response.json()
    assert (body["allow_comments"], body["has_passcode"], body["label"]) == (False, False, None)
    link = ReviewLink.objects.get()
    assert link.expires_at - link.created_at == pytest.approx(
        timedelta(hours=72), abs=timedelta(seconds=5)
    )


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in_hours": 0},
        {"expires_in_hours": 169},
        {"passcode": "12345"},
        {"label": "x" * 101},
    ],
)
def test_create_refuses_expiry_out_of_bounds_and_short_passcodes(
    shared: SharedRevision, signed_in: SignedIn, body: dict[str, Any]
) -> None:
    response = _post(signed_in(shared.clinician.user), _links(shared.revision.id), body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert not ReviewLink.objects.exists()


def test_revoke_stops_the_link_and_is_idempotent(
    shared: SharedRevision, signed_in: SignedIn
) -> None:
    link, token = make_review_link(shared.clinician, shared.revision)
    client = signed_in(shared.clinician.user)
    url = f"{API}/review-links/{link.id}/revoke"
    first = _post(client, url)
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["id"]) == ("revoked", str(link.id))
    assert Client().get(f"/review/{token}/").status_code == 404
    again = _post(client, url)
    assert again.status_code == 200
    assert again.json()["revoked_at"] == first.json()["revoked_at"]


def test_other_callers_are_refused_and_learn_nothing(
    shared: SharedRevision,
    signed_in: SignedIn,
    clinic: Organization,
    lab: Organization,
    member_of: MemberOf,
) -> None:
    link, _token = make_review_link(shared.clinician, shared.revision, label="Dr Roy")
    calls = [
        ("get", _links(shared.revision.id)),
        ("post", _links(shared.revision.id)),
        ("post", f"{API}/review-links/{link.id}/revoke"),
    ]
    callers = [
        (member_of(clinic, Role.STAFF), 403, DENIED),
        (member_of(clinic, Role.ORG_ADMIN), 403, DENIED),
        (shared.designer, 403, DENIED),
        (member_of(lab, Role.LAB_STAFF), 403, DENIED),
        (make_membership(role=Role.CLINICIAN), 404, NOT_FOUND),
        # A clinician's role in the lab: it reaches the case, from the wrong side.
        (member_of(lab, Role.CLINICIAN), 403, DENIED),
    ]
    for membership, status, answer in callers:
        client = signed_in(membership.user)
        for method, url in calls:
            response = client.get(url) if method == "get" else _post(client, url)
            assert (response.status_code, response.json()) == (status, answer), (
                membership.role,
                method,
                url,
            )
            text = response.content.decode()
            assert "Dr Roy" not in text
            assert all(value not in text for value in IDENTITY)
    assert ReviewLink.objects.count() == 1
    assert ReviewLink.objects.get().revoked_at is None
    signed_out = Client()
    assert signed_out.get(_links(shared.revision.id)).status_code == 401


def test_a_foreign_id_answers_like_an_absent_one(
    shared: SharedRevision, signed_in: SignedIn
) -> None:
    link, _token = make_review_link(shared.clinician, shared.revision)
    stranger = signed_in(make_membership(role=Role.CLINICIAN).user)
    for url in (
        _links(shared.revision.id),
        _links(uuid.uuid4()),
    ):
        assert stranger.get(url).json() == NOT_FOUND
    for link_id in (link.id, uuid.uuid4()):
        assert _post(stranger, f"{API}/review-links/{link_id}/revoke").json() == NOT_FOUND


def test_the_list_costs_the_same_queries_for_one_link_or_many(
    shared: SharedRevision, signed_in: SignedIn
) -> None:
    client = signed_in(shared.clinician.user)
    url = _links(shared.revision.id)

    def queries_with(links: int) -> int:
        for _ in range(links):
            make_review_link(shared.clinician, shared.revision, label="Dr Roy")
        dek_cache.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert len(response.json()) == ReviewLink.objects.count()
        return len(queries)

    client.get(url)  # the session's first request writes its last-seen time
    one = queries_with(1)
    assert queries_with(4) == one
    # The request (session, user, memberships), the revision, the links, the patient's key
    # and the audited read.
    assert one == LIST_QUERIES + audited_read_queries()


def test_the_openapi_document_describes_the_operations(db: None) -> None:
    schema = Client().get(f"{API}/openapi.json").json()
    paths = schema["paths"]
    operations = {
        paths[f"{API}/revisions/{{revision_id}}/review-links"]["get"]["operationId"],
        paths[f"{API}/revisions/{{revision_id}}/review-links"]["post"]["operationId"],
        paths[f"{API}/review-links/{{link_id}}/revoke"]["post"]["operationId"],
    }
    assert operations == {"review_link_list", "review_link_create", "review_link_revoke"}
    created = schema["components"]["schemas"]["ReviewLinkCreatedOut"]["properties"]
    assert {"token", "url"} <= set(created)
    listed = schema["components"]["schemas"]["ReviewLinkOut"]["properties"]
    assert "token" not in listed
    assert "passcode" not in listed
