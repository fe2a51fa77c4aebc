"""Security headers, production settings, and error pages that give nothing away."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import django
import pytest
from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLPattern, include, path

from config.api import api
from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization

if TYPE_CHECKING:
    # The test client's response type (with .templates and .json()) is private in the stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

PROJECT_DIR = Path(settings.BASE_DIR)


# A test-only URL map: the real one, plus views that fail on purpose.
def _raises_error(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: secret internal detail")


def _raises_permission_denied(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("secret internal detail")


def _raises_not_found(request: HttpRequest) -> HttpResponse:
    raise Http404("secret internal detail")


def _raises_bad_request(request: HttpRequest) -> HttpResponse:
    raise BadRequest("secret internal detail")


urlpatterns = [
    path("test-errors/500/", _raises_error, name="test_errors_500"),
    path("test-errors/403/", _raises_permission_denied, name="test_errors_403"),
    path("test-errors/404/", _raises_not_found, name="test_errors_404"),
    path("test-errors/400/", _raises_bad_request, name="test_errors_400"),
    path("api/test-errors/400/", _raises_bad_request, name="test_api_errors_400"),
    path("api/test-errors/500/", _raises_error, name="test_api_errors_500"),
    path("api/test-errors/403/", _raises_permission_denied, name="test_api_errors_403"),
    path("", include("config.urls")),
]
handler400 = "cuspid.web.errors.bad_request"
handler403 = "cuspid.web.errors.permission_denied"
handler404 = "cuspid.web.errors.page_not_found"
handler500 = "cuspid.web.errors.server_error"


@pytest.fixture(autouse=True)
def _declare_test_error_pages(declare_public_pages: Callable[..., None]) -> None:
    declare_public_pages(*(p.name for p in urlpatterns if isinstance(p, URLPattern) and p.name))


LEAKS = [
    "Traceback",
    "secret internal detail",
    "RuntimeError",
    "boom",
    "site-packages",
    "/work/",
    "Django",
    "django",
    "WSGIRequest",
    django.get_version(),
    f"Python {platform.python_version()}",
    platform.python_version(),
]


def _assert_reveals_nothing(response: TestResponse) -> None:
    body = response.content.decode()
    for leak in LEAKS:
        assert leak not in body, leak
    for header, value in response.items():
        assert "django" not in value.lower(), header
        assert platform.python_version() not in value, header
    assert "Server" not in response


# --- headers ---------------------------------------------------------------------------------


def _csp(response: TestResponse) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", ["/accounts/login/", "/healthz", "/api/v1/openapi.json", "/nope/"])
def test_responses_carry_the_security_headers(path: str, db: None) -> None:
    response = Client().get(path)
    csp = _csp(response)
    for directive in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in csp[directive], directive
        assert "'unsafe-eval'" not in csp[directive], directive
        assert "'self'" in csp[directive]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_signed_in_pages_carry_the_security_headers(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    response = signed_in(member_of(clinic, Role.ORG_ADMIN).user).get("/members/")
    assert response.status_code == 200
    csp = _csp(response)
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp["style-src"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_session_and_csrf_cookies_are_http_only_and_lax(
    clinic: Organization, member_of: MemberOf
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    client = Client()
    login_page = client.get("/accounts/login/")
    csrf = login_page.cookies["csrftoken"]
    assert csrf["httponly"] is True
    assert csrf["samesite"] == "Lax"

    response = client.post(
        "/accounts/login/",
        {"login": membership.user.email, "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


# --- production settings ---------------------------------------------------------------------

_DUMP_SETTINGS = """
import json
import django
from django.conf import settings
django.setup()
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "SESSION_COOKIE_HTTPONLY": settings.SESSION_COOKIE_HTTPONLY,
    "SESSION_COOKIE_NAME": settings.SESSION_COOKIE_NAME,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "CSRF_COOKIE_HTTPONLY": settings.CSRF_COOKIE_HTTPONLY,
    "LANGUAGE_COOKIE_SECURE": settings.LANGUAGE_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECRET_KEY": settings.SECRET_KEY,
    "CUSPID_DEMO_ALLOWED": settings.CUSPID_DEMO_ALLOWED,
    "PASSWORD_HASHERS": settings.PASSWORD_HASHERS,
}))
"""


def _run_production(tmp_path: Path, secret_key: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CUSPID_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", CUSPID_VAR_DIR=str(tmp_path))
    if secret_key is not None:
        env["CUSPID_SECRET_KEY"] = secret_key
    return subprocess.run(
        [sys.executable, "-c", _DUMP_SETTINGS],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_are_secure(tmp_path: Path) -> None:
    secret = "k" * 32 + "Z" * 32
    result = _run_production(tmp_path, secret)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["DEBUG"] is False
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["SESSION_COOKIE_HTTPONLY"] is True
    assert loaded["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["CSRF_COOKIE_HTTPONLY"] is True
    assert loaded["LANGUAGE_COOKIE_SECURE"] is True
    assert loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECRET_KEY"] == secret
    assert loaded["CUSPID_DEMO_ALLOWED"] is False
    assert loaded["PASSWORD_HASHERS"][0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.parametrize("secret_key", [None, "", "too-short-" * 4])
def test_production_settings_refuse_to_load_without_a_secret_key(
    tmp_path: Path, secret_key: str | None
) -> None:
    result = _run_production(tmp_path, secret_key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "CUSPID_SECRET_KEY" in result.stderr


# --- error pages -----------------------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("path", "status", "template"),
    [
        ("/test-errors/404/", 404, "404.html"),
        ("/no-such-page/", 404, "404.html"),
        ("/test-errors/403/", 403, "403.html"),
        ("/test-errors/400/", 400, "400.html"),
    ],
)
def test_error_pages_reveal_nothing(path: str, status: int, template: str, db: None) -> None:
    response = Client().get(path)
    assert response.status_code == status
    assert template in [t.name for t in response.templates]
    assert response["Content-Type"].startswith("text/html")
    _assert_reveals_nothing(response)


@pytest.mark.urls(__name__)
def test_server_error_page_reveals_nothing_but_the_request_id(db: None) -> None:
    response = Client(raise_request_exception=False).get("/test-errors/500/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Something went wrong" in body
    assert response["X-Request-ID"] in body
    _assert_reveals_nothing(response)


def test_domain_permission_denied_page_reveals_nothing(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    response = signed_in(member_of(clinic, Role.STAFF).user).get("/members/")
    assert response.status_code == 403
    _assert_reveals_nothing(response)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        ("/api/v1/no-such-operation", 404, {"detail": "Not found.", "code": "not_found"}),
        ("/api/no-such-version/x", 404, {"detail": "Not found.", "code": "not_found"}),
        (
            "/api/test-errors/403/",
            403,
            {
                "detail": "You do not have permission to perform this action.",
                "code": "permission_denied",
            },
        ),
        ("/api/test-errors/400/", 400, {"detail": "Bad request.", "code": "bad_request"}),
        (
            "/api/test-errors/500/",
            500,
            {"detail": "Internal error. Quote the request id to support.", "code": "server_error"},
        ),
    ],
)
def test_api_errors_answer_json(path: str, status: int, expected: dict[str, str], db: None) -> None:
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == expected
    _assert_reveals_nothing(response)


def test_api_operation_that_fails_answers_json_500(db: None) -> None:
    # The NinjaAPI's own handler for errors raised inside an operation.
    request = RequestFactory().get("/api/v1/members")
    response = api.on_exception(request, RuntimeError("boom: secret internal detail"))
    assert response.status_code == 500
    assert json.loads(response.content) == {
        "detail": "Internal error. Quote the request id to support.",
        "code": "server_error",
    }


def test_api_operation_raising_http404_answers_json_404(db: None) -> None:
    request = RequestFactory().get("/api/v1/members")
    response = api.on_exception(request, Http404("secret internal detail"))
    assert response.status_code == 404
    assert json.loads(response.content) == {"detail": "Not found.", "code": "not_found"}


def test_csrf_failure_on_a_page_is_cuspids_page_not_djangos(db: None) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/language/", {"language": "fr", "next": "/"})
    assert response.status_code == 403
    assert "400.html" in [t.name for t in response.templates]
    body = response.content.decode()
    assert "CSRF verification failed" not in body
    assert "DEBUG" not in body
    assert "<style>" not in body
    _assert_reveals_nothing(response)
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_api_method_not_allowed_names_the_allowed_methods(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    response = signed_in(member_of(clinic, Role.ORG_ADMIN).user).delete("/api/v1/members")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json() == {"detail": "Method Not Allowed.", "code": "method_not_allowed"}
    assert response["X-Content-Type-Options"] == "nosniff"
    _assert_reveals_nothing(response)
