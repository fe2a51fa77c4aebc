"""/api/v1 with API tokens: scopes, refusals, revocation at once, audit of use and denial."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from ninja import NinjaAPI, Router

from config.api import TOKEN_SCOPES, accept_tokens, api
from cuspid.accounts.auth import ApiTokenAuth, SessionAuth, TokenInvalid, bearer_value
from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import ApiToken, User
from cuspid.accounts.services.tokens import api_token_create, api_token_revoke
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.audit.verify import audit_chain_verify
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab_connection, make_membership

SignedIn = Callable[[User], Client]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INVALID = {"detail": "Invalid token.", "code": "invalid_token"}
SCOPE_MISSING = {
    "detail": "This token does not have the scope this operation needs.",
    "code": "scope_missing",
}


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def admin(clinic: Organization) -> Membership:
    return make_membership(organization=clinic, role=Role.ORG_ADMIN)


def _token(membership: Membership, *scopes: TokenScope, days: int = 90) -> tuple[ApiToken, str]:
    actor = Actor.of(membership, authenticated_at=datetime.now(tz=UTC))
    return api_token_create(
        actor=actor, name="Integration", scopes=list(scopes) or ["cases:read"], expires_in_days=days
    )


def _get(path: str, plain: str, client: Client | None = None) -> Any:
    return (client or Client()).get(path, HTTP_AUTHORIZATION=f"Bearer {plain}")


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- success ------------------------------------------------------------------------------------


def test_a_token_reads_only_its_own_organization(
    admin: Membership, lab: Organization, signed_in: SignedIn, frozen: time_machine.Traveller
) -> None:
    # The person belongs to the lab too; their session may read it, their clinic token may not.
    make_membership(user=admin.user, organization=lab, role=Role.ORG_ADMIN)
    _token_row, plain = _token(admin, TokenScope.CASES_READ)
    own = _get(f"/api/v1/organizations/{admin.organization_id}", plain)
    assert own.status_code == 200
    assert own.json()["id"] == str(admin.organization_id)
    other = _get(f"/api/v1/organizations/{lab.id}", plain)
    assert other.status_code == 404
    assert signed_in(admin.user).get(f"/api/v1/organizations/{lab.id}").status_code == 200


def test_a_token_reads_me_as_its_member_only(
    admin: Membership, lab: Organization, frozen: time_machine.Traveller
) -> None:
    # The same person in a second organisation: the token acts in one only.
    make_membership(user=admin.user, organization=lab, role=Role.ORG_ADMIN)
    token, plain = _token(admin, TokenScope.CASES_READ)
    response = _get("/api/v1/me", plain)
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == admin.user.email
    assert [m["organization"]["id"] for m in body["memberships"]] == [str(admin.organization_id)]
    assert body["active_organization"]["id"] == str(admin.organization_id)
    token.refresh_from_db()
    assert token.last_used_at == START
    (used,) = _events(AuditAction.Token.Used)
    assert (used.target_type, used.target_id) == ("api_token", str(token.id))
    assert used.actor_user_id == admin.user_id
    assert used.actor_organization_id == admin.organization_id
    assert audit_chain_verify().ok


def test_organization_needs_any_scope(admin: Membership) -> None:
    _, plain = _token(admin, TokenScope.EXPORTS_READ)
    response = _get(f"/api/v1/organizations/{admin.organization_id}", plain)
    assert response.status_code == 200
    assert response.json()["id"] == str(admin.organization_id)


def test_member_list_needs_patients_read(admin: Membership) -> None:
    _, plain = _token(admin, TokenScope.PATIENTS_READ)
    response = _get("/api/v1/members", plain)
    assert response.status_code == 200
    assert [m["id"] for m in response.json()] == [str(admin.id)]
    member = _get(f"/api/v1/members/{admin.id}", plain)
    assert member.status_code == 200
    # One token:use per request; the member list is also a PHI read (record:read).
    assert len(_events(AuditAction.Token.Used)) == 2
    reads = _events(AuditAction.Record.Read)
    assert [e.actor_user_id for e in reads] == [admin.user_id, admin.user_id]


def test_lab_connections_need_cases_read(admin: Membership, lab: Organization) -> None:
    connection = make_lab_connection(clinic=admin.organization, lab=lab)
    _, plain = _token(admin, TokenScope.CASES_READ)
    assert _get("/api/v1/lab-connections", plain).status_code == 200
    assert _get(f"/api/v1/lab-connections/{connection.id}", plain).status_code == 200
    _, patients_only = _token(admin, TokenScope.PATIENTS_READ)
    assert _get("/api/v1/lab-connections", patients_only).json() == SCOPE_MISSING


def test_last_used_is_written_at_most_once_a_minute(
    admin: Membership, frozen: time_machine.Traveller
) -> None:
    token, plain = _token(admin)
    _get("/api/v1/me", plain)
    frozen.move_to(START + timedelta(seconds=59))
    _get("/api/v1/me", plain)
    token.refresh_from_db()
    assert token.last_used_at == START
    frozen.move_to(START + timedelta(seconds=60))
    _get("/api/v1/me", plain)
    token.refresh_from_db()
    assert token.last_used_at == START + timedelta(seconds=60)
    assert len(_events(AuditAction.Token.Used)) == 3


# --- refusals -----------------------------------------------------------------------------------


def test_missing_scope_is_403_and_audited_as_denied(admin: Membership) -> None:
    token, plain = _token(admin, TokenScope.CASES_READ)
    response = _get("/api/v1/members", plain)
    assert response.status_code == 403
    assert response.json() == SCOPE_MISSING
    (denied,) = _events(AuditAction.Token.Denied)
    assert denied.outcome == Outcome.DENIED
    assert (denied.target_type, denied.target_id) == ("api_token", str(token.id))
    assert denied.purpose == "patients:read"
    assert _events(AuditAction.Token.Used) == []


def test_route_rules_still_hold_for_the_tokens_member(admin: Membership) -> None:
    _, plain = _token(admin, TokenScope.PATIENTS_READ)
    # The member's role changes after the token was made: the token never exceeds it.
    admin.role = Role.STAFF
    admin.save()
    response = _get("/api/v1/members", plain)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_another_organizations_member_is_404(admin: Membership, other_clinic: Organization) -> None:
    foreign = make_membership(organization=other_clinic, role=Role.STAFF)
    _, plain = _token(admin, TokenScope.PATIENTS_READ)
    assert _get(f"/api/v1/members/{foreign.id}", plain).status_code == 404


def _locked(user: User) -> None:
    user.locked_at = START
    user.save()


def _inactive_user(user: User) -> None:
    user.is_active = False
    user.save()


@pytest.mark.parametrize(
    "spoil",
    [
        "forged",
        "wrong_prefix",
        "too_long",
        "empty",
        "revoked",
        "expired",
        "inactive_membership",
        "inactive_user",
        "locked_user",
    ],
)
def test_every_bad_token_gets_the_same_401(
    admin: Membership, spoil: str, frozen: time_machine.Traveller
) -> None:
    token, plain = _token(admin, days=1)
    if spoil == "forged":
        plain = "cspd_" + "A" * 43
    elif spoil == "wrong_prefix":
        plain = plain.replace("cspd_", "xxxx_")
    elif spoil == "too_long":
        plain = plain * 3
    elif spoil == "empty":
        plain = ""
    elif spoil == "revoked":
        api_token_revoke(actor=Actor.of(admin, authenticated_at=START), token=token)
    elif spoil == "expired":
        frozen.move_to(START + timedelta(days=1))
    elif spoil == "inactive_membership":
        admin.is_active = False
        admin.save()
    elif spoil == "inactive_user":
        _inactive_user(admin.user)
    else:
        _locked(admin.user)
    response = _get("/api/v1/me", plain)
    assert response.status_code == 401
    assert response.json() == INVALID
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert _events(AuditAction.Token.Used) == []


def test_expiry_holds_to_the_second(admin: Membership, frozen: time_machine.Traveller) -> None:
    _, plain = _token(admin, days=365)
    frozen.move_to(START + timedelta(days=365) - timedelta(seconds=1))
    assert _get("/api/v1/me", plain).status_code == 200
    frozen.move_to(START + timedelta(days=365))
    assert _get("/api/v1/me", plain).status_code == 401


def test_revocation_takes_effect_on_the_very_next_request(admin: Membership) -> None:
    token, plain = _token(admin)
    client = Client()
    assert _get("/api/v1/me", plain, client).status_code == 200
    api_token_revoke(actor=Actor.of(admin, authenticated_at=datetime.now(tz=UTC)), token=token)
    assert _get("/api/v1/me", plain, client).status_code == 401


def test_session_only_operations_refuse_tokens(admin: Membership) -> None:
    _, plain = _token(admin, *TokenScope)
    client = Client(enforce_csrf_checks=True)
    response = client.put(
        "/api/v1/me/active-organization",
        data={"organization_id": str(admin.organization_id)},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_bearer_token_wins_over_a_session_cookie(
    admin: Membership, other_clinic: Organization, signed_in: SignedIn
) -> None:
    other = make_membership(organization=other_clinic, role=Role.ORG_ADMIN)
    client = signed_in(other.user)
    _, plain = _token(admin)
    body = _get("/api/v1/me", plain, client).json()
    assert body["user"]["email"] == admin.user.email
    # And a broken token is refused even with a good session beside it.
    assert _get("/api/v1/me", "cspd_nope", client).status_code == 401


def test_sessions_still_work_without_a_token(admin: Membership, signed_in: SignedIn) -> None:
    response = signed_in(admin.user).get("/api/v1/members")
    assert response.status_code == 200
    assert _events(AuditAction.Token.Used) == []


def test_other_schemes_are_not_tokens(admin: Membership) -> None:
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- wiring -------------------------------------------------------------------------------------


def test_openapi_documents_token_auth_on_the_token_operations() -> None:
    schema = api.get_openapi_schema()
    assert schema["components"]["securitySchemes"]["ApiTokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    secured = {
        operation["operationId"]: operation.get("security", [])
        for item in schema["paths"].values()
        for operation in item.values()
    }
    for operation_id in TOKEN_SCOPES:
        assert {"ApiTokenAuth": []} in secured[operation_id]
    assert secured["me_active_organization_set"] == [{"SessionAuth": []}]


def test_accept_tokens_refuses_an_unknown_operation() -> None:
    with pytest.raises(LookupError):
        accept_tokens(Router(), {"no_such_operation": None})


def test_bearer_value_parses_the_header() -> None:
    factory = RequestFactory()
    assert bearer_value(factory.get("/", HTTP_AUTHORIZATION="Bearer  abc ")) == "abc"
    assert bearer_value(factory.get("/", HTTP_AUTHORIZATION="bearer abc")) == "abc"
    assert bearer_value(factory.get("/", HTTP_AUTHORIZATION="Basic abc")) is None
    assert bearer_value(factory.get("/")) is None


def test_a_token_write_is_never_csrf_checked(admin: Membership) -> None:
    """No write accepts tokens yet; a throwaway API shows a POST taking a token without CSRF
    while the same POST with only a session cookie is CSRF-checked."""
    throwaway = NinjaAPI(urls_namespace="throwaway-token-csrf")

    @throwaway.post("/write", auth=[ApiTokenAuth(TokenScope.CASES_WRITE), SessionAuth()])
    def write(request: Any) -> dict[str, str]:
        return {"ok": "yes"}

    _, plain = _token(admin, TokenScope.CASES_WRITE)
    request = _post_request(f"Bearer {plain}")
    operation = next(iter(throwaway.default_router.path_operations.values())).operations[0]
    operation.api = throwaway
    assert operation.run(request).status_code == 200
    refused = operation.run(_post_request(None))
    assert refused.status_code == 403


def _post_request(authorization: str | None) -> Any:
    headers = {"Authorization": authorization} if authorization else {}
    request = RequestFactory(enforce_csrf_checks=True).post("/write", headers=headers)
    request.user = AnonymousUser()
    request.COOKIES["sessionid"] = "abc"
    return request


def test_a_bad_token_met_inside_an_operation_is_the_same_401() -> None:
    """Defence in depth: were the bearer step missing, ninja's auth refuses the same way."""
    response = api.on_exception(RequestFactory().get("/api/v1/me"), TokenInvalid())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.content == b'{"detail": "Invalid token.", "code": "invalid_token"}'
