"""Every route is declared in cuspid.access.routes, and an undeclared one is found and refused."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from django.urls.resolvers import RegexPattern
from ninja import NinjaAPI, Router

from cuspid.access.api_guard import operation_guard
from cuspid.access.permissions import Perm
from cuspid.access.routes import (
    OPERATIONS,
    PAGES,
    Access,
    RouteRule,
    needs,
    undeclared_routes,
)
from cuspid.accounts.models import User


def _throwaway_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("should never be served")


throwaway_router = Router()


@throwaway_router.get("/throwaway", operation_id="throwaway_get", auth=None)
def throwaway_get_api(request: HttpRequest) -> dict[str, str]:
    return {"leak": "should never be served"}


@throwaway_router.get("/me-again", operation_id="me_get")
def me_again_api(request: HttpRequest) -> dict[str, str]:
    return {"ok": "declared"}


throwaway_api = NinjaAPI(urls_namespace="throwaway_api", title="throwaway", version="t")
throwaway_api.add_decorator(operation_guard, mode="view")
throwaway_api.add_router("/", throwaway_router)

urlpatterns = [
    path("throwaway/", _throwaway_page, name="throwaway_page"),
    path("unnamed/", _throwaway_page),
    path("throwaway-api/", throwaway_api.urls),
    path("", include("config.urls")),
]
handler404 = "cuspid.web.errors.page_not_found"


def _real_schema(client: Client) -> dict[str, object]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema: dict[str, object] = response.json()
    return schema


def test_every_real_route_is_declared(db: None) -> None:
    assert undeclared_routes(get_resolver(), _real_schema(Client())) == []


def test_the_registry_declares_nothing_twice_and_names_a_perm_only_when_needed() -> None:
    for rule in [*PAGES.values(), *OPERATIONS.values()]:
        assert (rule.access == Access.PERMISSION) == (rule.perm is not None)
        assert rule.phi is bool(rule.phi_data_type)


def test_a_rule_with_a_perm_must_say_so() -> None:
    with pytest.raises(ValueError, match="names its Perm"):
        RouteRule(Access.SIGNED_IN, Perm.OrgView)
    with pytest.raises(ValueError, match="names its Perm"):
        RouteRule(Access.PERMISSION)
    assert needs(Perm.MemberView, phi="membership").phi


@pytest.mark.urls(__name__)
def test_undeclared_page_and_operation_are_reported(db: None) -> None:
    resolver = get_resolver(__name__)
    schema = throwaway_api.get_openapi_schema()
    found = undeclared_routes(resolver, schema)
    assert "page throwaway_page" in found
    assert "page <unnamed unnamed/>" in found
    assert "operation throwaway_get" in found
    assert "operation me_get" not in found
    # The rest of the real map is declared.
    assert all("throwaway" in f or "unnamed" in f for f in found)


def test_an_operation_without_an_id_is_reported() -> None:
    resolver = URLResolver(RegexPattern(r"^/"), [])
    schema: dict[str, object] = {"paths": {"/x": {"parameters": [], "get": {}}}}
    assert undeclared_routes(resolver, schema) == ["operation <no id: get>"]


def test_patterns_are_walked_through_nested_includes() -> None:
    deep = URLPattern(RegexPattern(r"^b/$"), _throwaway_page, name="deep")
    inner = URLResolver(RegexPattern(r"^a/"), [deep], namespace="n")
    outer = URLResolver(RegexPattern(r"^/"), [URLResolver(RegexPattern(r"^x/"), [inner])])
    assert undeclared_routes(outer, {}) == ["page n:deep"]


@pytest.mark.urls(__name__)
def test_an_undeclared_page_is_refused_with_404_and_an_error_line(
    user: User, signed_in: Callable[[User], Client], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cuspid.access.middleware"):
        response = signed_in(user).get("/throwaway/")
    assert response.status_code == 404
    assert b"should never be served" not in response.content
    assert any(r.message == "undeclared route refused" for r in caplog.records)


@pytest.mark.urls(__name__)
def test_an_undeclared_operation_is_refused_with_404_json_and_an_error_line(
    user: User, signed_in: Callable[[User], Client], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cuspid.access.api_guard"):
        response = signed_in(user).get("/throwaway-api/throwaway")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert any(r.message == "undeclared API operation refused" for r in caplog.records)


@pytest.mark.urls(__name__)
def test_a_declared_operation_on_any_api_passes_its_rule(
    user: User, signed_in: Callable[[User], Client]
) -> None:
    assert Client().get("/throwaway-api/me-again").status_code == 401
    response = signed_in(user).get("/throwaway-api/me-again")
    assert response.status_code == 200
    assert response.json() == {"ok": "declared"}
