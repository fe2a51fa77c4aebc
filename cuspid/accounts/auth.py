"""API authentication: bearer tokens for integrations beside the browser session.

How a request with ``Authorization: Bearer cspd_...`` is handled:

1. :func:`bearer_token_first`, the API's outermost view decorator, finds the token before the
   route check (``cuspid.access.api_guard``) runs, and makes the token's member the request's
   user and Actor, so the route rules hold for tokens exactly as for people. Any bad token
   (unknown, revoked, expired, inactive membership, inactive or locked account) is refused
   with one 401 that says nothing about why. Nothing is cached: each request reads the row.
2. The operation's :class:`ApiTokenAuth` checks its scope (403 ``scope_missing`` and a
   ``token:deny`` audit event without it), then records the use (``token:use``).
3. :class:`SessionAuth` (the API's default) refuses token requests, so an operation
   accepts a token only where it lists an :class:`ApiTokenAuth`. Tokens are not cookies and
   are never CSRF-checked; sessions always are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import ApiToken
from cuspid.accounts.selectors.tokens import api_token_active_by_value
from cuspid.accounts.services.tokens import api_token_denial_record, api_token_use_record
from cuspid.core.errors import NotAuthenticated, PermissionDenied
from cuspid.tenancy.actor import Actor

SCHEME = "bearer"


class TokenInvalid(NotAuthenticated):
    """Any token that does not work, whatever the reason (the reason is not told)."""

    code = "invalid_token"
    default_detail = "Invalid token."


class ScopeMissing(PermissionDenied):
    """The token works but lacks the scope the operation needs."""

    code = "scope_missing"
    default_detail = "This token does not have the scope this operation needs."


def bearer_value(request: HttpRequest) -> str | None:
    """The value of an ``Authorization: Bearer`` header, or ``None`` without one."""
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    if scheme.lower() != SCHEME:
        return None
    return value.strip()


def token_of(request: HttpRequest) -> ApiToken | None:
    """The token this request authenticated with, or ``None`` (a browser session)."""
    token: ApiToken | None = getattr(request, "api_token", None)
    return token


def _token_actor(request: HttpRequest) -> Actor:
    actor: Actor = request.actor  # type: ignore[attr-defined]  # set with api_token
    return actor


def api_token_identify(request: HttpRequest, value: str) -> ApiToken:
    """Authenticate the request as ``value``'s member; once per request.

    Sets ``request.user``, ``request.actor`` (the token's membership; no step-up time),
    ``request.memberships`` (that membership only: a token acts in one organisation) and
    ``request.api_token``. Raises :class:`TokenInvalid` for any token that does not work.
    """
    value = value.strip()
    known = token_of(request)
    if known is not None and getattr(request, "api_token_value", None) == value:
        return known
    token = api_token_active_by_value(value)
    if token is None:
        raise TokenInvalid
    membership = token.membership
    request.user = membership.user
    request.actor = Actor.of(membership)  # type: ignore[attr-defined]  # the token's member
    request.memberships = [membership]  # type: ignore[attr-defined]  # read by /me
    request.api_token = token  # type: ignore[attr-defined]  # read by token_of
    request.api_token_value = value  # type: ignore[attr-defined]  # so the lookup runs once
    return token


def _refusal(exc: NotAuthenticated) -> JsonResponse:
    response = JsonResponse({"detail": exc.detail, "code": exc.code}, status=exc.status)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


Run = Callable[..., HttpResponseBase]


def bearer_token_first(run: Run) -> Run:
    """API view decorator: authenticate a bearer token before the route check runs.

    Installed after ``operation_guard`` (so it wraps it). Requests without a bearer header
    pass through untouched; a bad token is refused here with 401.
    """

    @functools.wraps(run)
    def authenticated(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        value = bearer_value(request)
        if value is not None:
            try:
                api_token_identify(request, value)
            except TokenInvalid as exc:
                return _refusal(exc)
        return run(request, *args, **kwargs)

    return authenticated


class ApiTokenAuth(HttpBearer):
    """ninja auth for operations that integrations may call: a token holding ``scope``.

    ``scope=None`` accepts any working token (``/me``, the organisation). A working token
    without the scope is refused with 403 ``scope_missing`` and audited as
    ``AuditAction.Token.Denied``; an allowed request is audited as ``AuditAction.Token.Used``.
    """

    def __init__(self, scope: TokenScope | None = None) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        api_token = api_token_identify(request, token)
        actor = _token_actor(request)
        if self.scope is not None and self.scope not in api_token.scopes:
            api_token_denial_record(actor=actor, token=api_token, scope=self.scope, request=request)
            raise ScopeMissing
        # ninja stops at the first auth that succeeds: one token:use event per request.
        api_token_use_record(actor=actor, token=api_token, request=request)
        return api_token


class SessionAuth(NinjaSessionAuth):
    """ninja's session auth (with its CSRF check), refusing requests made with a token.

    Without this, a token would pass any session-only operation, because the bearer step
    makes the token's member the request's user. It keeps ninja's class name, which OpenAPI
    uses as the security scheme's name that clients already know.
    """

    def __call__(self, request: HttpRequest) -> Any:
        # Before ninja's CSRF check: a token request is simply not a session (401, not 403).
        if token_of(request) is not None:
            return None
        return super().__call__(request)
