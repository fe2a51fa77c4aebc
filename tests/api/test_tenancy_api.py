"""/api/v1 organisations, members and clinic-lab connections: tenancy, roles, auth, CSRF."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries

from config.api import api
from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from tests.factories import enrol_totp, make_lab, make_lab_connection, make_membership

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
DENIED = {
    "detail": "You do not have permission to perform this action.",
    "code": "permission_denied",
}

# Per request, for a signed-in session: MfaRequiredMiddleware's one EXISTS (has this staff
# account a second factor?) ...
MFA_CHECK_QUERIES = 1
# ... and none for session tracking: SessionLimitsMiddleware reads its clocks from the
# session already loaded and writes "last seen" (session + UserSession row) at most once a
# minute, which these back-to-back requests never reach.
SESSION_TRACKING_QUERIES = 0
# Session, user, the user's memberships, the list itself: four, whatever the list holds.
MAX_LIST_QUERIES = 4 + MFA_CHECK_QUERIES + SESSION_TRACKING_QUERIES
# A PHI-scoped read adds its audit event: savepoint, chain head lock, insert, head update,
# release (cuspid.access.interceptor).
AUDITED_READ_QUERIES = 5

EXPECTED_OPERATIONS = {
    ("get", "/api/v1/me", "me_get"),
    ("put", "/api/v1/me/active-organization", "me_active_organization_set"),
    ("get", "/api/v1/organizations/{organization_id}", "organization_get"),
    ("get", "/api/v1/members", "member_list"),
    ("get", "/api/v1/members/{membership_id}", "member_get"),
    ("get", "/api/v1/lab-connections", "lab_connection_list"),
    ("get", "/api/v1/lab-connections/{connection_id}", "lab_connection_get"),
}


def _random_id() -> str:
    return str(uuid.uuid4())


# --- organisations ---------------------------------------------------------------------------


def test_own_organization_is_returned(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.STAFF).user)
    response = client.get(f"/api/v1/organizations/{clinic.id}")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(clinic.id),
        "kind": "clinic",
        "name": clinic.name,
        "country": clinic.country,
        "region": clinic.region,
        "time_zone": clinic.time_zone,
    }


def test_foreign_organization_answers_like_a_random_id(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    foreign = client.get(f"/api/v1/organizations/{other_clinic.id}")
    absent = client.get(f"/api/v1/organizations/{_random_id()}")
    assert foreign.status_code == absent.status_code == 404
    assert foreign.json() == absent.json() == NOT_FOUND


def test_deactivated_membership_no_longer_opens_its_organization(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    response = signed_in(membership.user).get(f"/api/v1/organizations/{clinic.id}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_connected_lab_is_not_readable_as_an_organization(
    clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    # A connection lets each side see the other's name on the connection, not fetch it.
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    response = client.get(f"/api/v1/organizations/{lab.id}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# --- members ---------------------------------------------------------------------------------


def test_admin_lists_members_of_the_active_organization_only(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    admin = member_of(clinic, Role.ORG_ADMIN)
    colleague = member_of(clinic, Role.CLINICIAN)
    outsider = member_of(other_clinic, Role.CLINICIAN)
    response = signed_in(admin.user).get("/api/v1/members")
    assert response.status_code == 200
    body = response.json()
    ids = {m["id"] for m in body}
    assert ids == {str(admin.id), str(colleague.id)}
    assert str(outsider.id) not in ids
    by_id = {m["id"]: m for m in body}
    assert by_id[str(colleague.id)]["role"] == "clinician"
    assert by_id[str(colleague.id)]["user"]["email"] == colleague.user.email
    assert by_id[str(colleague.id)]["is_active"] is True


def test_admin_gets_one_member(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    admin = member_of(clinic, Role.ORG_ADMIN)
    colleague = member_of(clinic, Role.STAFF)
    response = signed_in(admin.user).get(f"/api/v1/members/{colleague.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(colleague.id)
    assert body["role"] == "staff"
    assert body["user"]["id"] == str(colleague.user.id)


def test_foreign_member_answers_like_a_random_id(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    outsider = member_of(other_clinic, Role.CLINICIAN)
    foreign = client.get(f"/api/v1/members/{outsider.id}")
    absent = client.get(f"/api/v1/members/{_random_id()}")
    assert foreign.status_code == absent.status_code == 404
    assert foreign.json() == absent.json() == NOT_FOUND


def test_admin_of_both_organizations_sees_members_of_the_active_one_only(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    admin = member_of(clinic, Role.ORG_ADMIN)
    make_membership(user=admin.user, organization=other_clinic, role=Role.ORG_ADMIN)
    outsider = member_of(other_clinic, Role.CLINICIAN)
    client = signed_in(admin.user)
    # The active organisation is the first by name: "North Clinic".
    assert client.get("/api/v1/me").json()["active_organization"]["id"] == str(clinic.id)
    assert client.get(f"/api/v1/members/{outsider.id}").status_code == 404

    switched = client.put(
        "/api/v1/me/active-organization",
        {"organization_id": str(other_clinic.id)},
        content_type="application/json",
    )
    assert switched.status_code == 200
    assert client.get(f"/api/v1/members/{outsider.id}").status_code == 200


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.STAFF, Role.PATIENT])
def test_clinic_roles_other_than_admin_may_not_see_members(
    role: Role, clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    colleague = member_of(clinic, Role.CLINICIAN)
    client = signed_in(member_of(clinic, role).user)
    listing = client.get("/api/v1/members")
    one = client.get(f"/api/v1/members/{colleague.id}")
    assert listing.status_code == one.status_code == 403
    assert listing.json() == one.json() == DENIED


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.LAB_STAFF])
def test_lab_roles_other_than_admin_may_not_see_members(
    role: Role, lab: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    response = signed_in(member_of(lab, role).user).get("/api/v1/members")
    assert response.status_code == 403
    assert response.json() == DENIED


def test_non_admin_gets_the_same_answer_for_a_foreign_and_a_random_member(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    # The role is refused before any lookup (route declaration), so a 403 never confirms
    # that a foreign id exists: a random id gets the very same answer.
    outsider = member_of(other_clinic, Role.CLINICIAN)
    client = signed_in(member_of(clinic, Role.STAFF).user)
    foreign = client.get(f"/api/v1/members/{outsider.id}")
    absent = client.get(f"/api/v1/members/{_random_id()}")
    assert foreign.status_code == absent.status_code == 403
    assert foreign.json() == absent.json() == DENIED


# --- lab connections -------------------------------------------------------------------------


def test_clinic_lists_its_connections(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    make_lab_connection(clinic=other_clinic, lab=lab)
    response = signed_in(member_of(clinic, Role.CLINICIAN).user).get("/api/v1/lab-connections")
    assert response.status_code == 200
    body = response.json()
    assert [c["id"] for c in body] == [str(connection_.id)]
    assert body[0]["clinic"]["id"] == str(clinic.id)
    assert body[0]["lab"]["id"] == str(lab.id)
    assert body[0]["status"] == "active"


def test_lab_sees_connections_where_it_is_the_lab(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    second = make_lab_connection(clinic=other_clinic, lab=lab)
    unrelated = make_lab_connection(clinic=other_clinic, lab=make_lab(name="Far Lab"))
    client = signed_in(member_of(lab, Role.DESIGNER).user)
    listing = client.get("/api/v1/lab-connections")
    assert listing.status_code == 200
    assert {c["id"] for c in listing.json()} == {str(connection_.id), str(second.id)}
    one = client.get(f"/api/v1/lab-connections/{connection_.id}")
    assert one.status_code == 200
    assert one.json()["clinic"]["name"] == clinic.name
    assert client.get(f"/api/v1/lab-connections/{unrelated.id}").json() == NOT_FOUND


def test_clinic_gets_one_connection(
    clinic: Organization, connection_: LabConnection, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.STAFF).user)
    response = client.get(f"/api/v1/lab-connections/{connection_.id}")
    assert response.status_code == 200
    assert response.json()["id"] == str(connection_.id)


def test_foreign_connection_answers_like_a_random_id(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    foreign_connection = make_lab_connection(clinic=other_clinic, lab=lab)
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    foreign = client.get(f"/api/v1/lab-connections/{foreign_connection.id}")
    absent = client.get(f"/api/v1/lab-connections/{_random_id()}")
    assert foreign.status_code == absent.status_code == 404
    assert foreign.json() == absent.json() == NOT_FOUND


def test_patient_may_not_see_connections(
    clinic: Organization, connection_: LabConnection, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.PATIENT).user)
    listing = client.get("/api/v1/lab-connections")
    one = client.get(f"/api/v1/lab-connections/{connection_.id}")
    assert listing.status_code == one.status_code == 403
    assert listing.json() == one.json() == DENIED


# --- authentication and CSRF -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/me",
        "/api/v1/members",
        f"/api/v1/members/{uuid.UUID(int=1)}",
        "/api/v1/lab-connections",
        f"/api/v1/lab-connections/{uuid.UUID(int=1)}",
        f"/api/v1/organizations/{uuid.UUID(int=1)}",
    ],
)
def test_signed_out_requests_get_401_json(path: str, db: None) -> None:
    response = Client().get(path)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Authentication required.", "code": "not_authenticated"}


def test_platform_operator_without_membership_gets_404_on_organization_scoped_reads(
    signed_in: SignedIn, clinic: Organization
) -> None:
    operator = User.objects.create_user("ops@cuspid.example", "x" * 20, is_staff=True)
    client = signed_in(operator)
    for path in (
        "/api/v1/members",
        "/api/v1/lab-connections",
        f"/api/v1/organizations/{clinic.id}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == NOT_FOUND


def test_session_put_without_csrf_token_is_refused(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    make_membership(user=membership.user, organization=other_clinic, role=Role.STAFF)
    enrol_totp(membership.user)  # staff must have a second factor to use the API
    client = Client(enforce_csrf_checks=True)
    client.force_login(membership.user)
    response = client.put(
        "/api/v1/me/active-organization",
        {"organization_id": str(other_clinic.id)},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "csrf_failed"
    assert client.get("/api/v1/me").json()["active_organization"]["id"] == str(clinic.id)


def test_session_put_with_csrf_token_is_accepted(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    make_membership(user=membership.user, organization=other_clinic, role=Role.STAFF)
    enrol_totp(membership.user)  # staff must have a second factor to use the API
    client = Client(enforce_csrf_checks=True)
    client.force_login(membership.user)
    client.get("/profile/")  # a page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.put(
        "/api/v1/me/active-organization",
        {"organization_id": str(other_clinic.id)},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200
    assert response.json()["active_organization"]["id"] == str(other_clinic.id)


def test_invalid_payload_is_422_json(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.CLINICIAN).user)
    response = client.put(
        "/api/v1/me/active-organization",
        {"organization_id": "not-a-uuid"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


# --- query counts ----------------------------------------------------------------------------


def _count_queries(client: Client, path: str) -> int:
    from django.db import connection

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx)


def test_member_list_query_count_does_not_grow_with_members(
    clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    client.get("/api/v1/me")  # first request stores the active organisation in the session
    client.get("/api/v1/members")  # the first audit event ever also creates the chain head
    with django_assert_max_num_queries(MAX_LIST_QUERIES + AUDITED_READ_QUERIES):
        assert len(client.get("/api/v1/members").json()) == 1
    baseline = _count_queries(client, "/api/v1/members")

    for _ in range(10):
        member_of(clinic, Role.STAFF)
    with django_assert_max_num_queries(baseline):
        response = client.get("/api/v1/members")
    assert len(response.json()) == 11


def test_connection_list_query_count_does_not_grow_with_connections(
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    client = signed_in(member_of(lab, Role.LAB_STAFF).user)
    client.get("/api/v1/me")
    with django_assert_max_num_queries(MAX_LIST_QUERIES):
        assert len(client.get("/api/v1/lab-connections").json()) == 1
    baseline = _count_queries(client, "/api/v1/lab-connections")

    for _ in range(10):
        make_lab_connection(lab=lab)
    with django_assert_max_num_queries(baseline):
        response = client.get("/api/v1/lab-connections")
    assert len(response.json()) == 11


# --- OpenAPI and docs ------------------------------------------------------------------------


def _registered_operations() -> set[tuple[str, str, str]]:
    """Every operation mounted on the API, read from its routers rather than the schema."""
    found: set[tuple[str, str, str]] = set()
    prefix = "/api/v1"
    for router_prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            full = "/" + "/".join(p for p in (router_prefix, path) if p.strip("/"))
            full = prefix + full.replace("//", "/").rstrip("/")
            for operation in path_view.operations:
                for method in operation.methods:
                    assert operation.operation_id is not None
                    found.add((method.lower(), full, operation.operation_id))
    return found


def _resolve(schema: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = schema
    for part in ref[2:].split("/"):
        assert part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            found += _refs(value)
        return found
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_openapi_document_is_valid_openapi_3_and_lists_every_operation(db: None) -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]
    assert schema["info"]["version"]
    methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
    listed: set[tuple[str, str, str]] = set()
    operation_ids: list[str] = []
    for path, item in schema["paths"].items():
        assert path.startswith("/"), path
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert method in methods, (path, method)
            assert operation["responses"], (path, method)
            for status in operation["responses"]:
                assert status == "default" or status.isdigit(), status
            for name in (p["name"] for p in operation.get("parameters", []) if p["in"] == "path"):
                assert f"{{{name}}}" in path
            operation_ids.append(operation["operationId"])
            listed.add((method, path, operation["operationId"]))
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for ref in _refs(schema):
        _resolve(schema, ref)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["SessionAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": settings.SESSION_COOKIE_NAME,
    }

    assert listed >= EXPECTED_OPERATIONS
    assert _registered_operations() == listed


def test_docs_page_answers_for_a_signed_in_user(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    response = signed_in(member_of(clinic, Role.CLINICIAN).user).get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content
