"""Structured logs: one JSON line a request, a request id, and no PHI in any field."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from cuspid.accounts.models import User
from cuspid.core.logging import JsonFormatter, RedactFilter, redact

EMAIL = "jane.doe@example.com"


class _Captured:
    """Log lines written through the production formatter and filter."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def _handler(stream: io.StringIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter())
    return handler


@pytest.fixture
def access_log() -> Iterator[_Captured]:
    stream = io.StringIO()
    handler = _handler(stream)
    logger = logging.getLogger("cuspid.access")
    logger.addHandler(handler)
    try:
        yield _Captured(stream)
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def app_log() -> Iterator[tuple[logging.Logger, _Captured]]:
    stream = io.StringIO()
    handler = _handler(stream)
    logger = logging.getLogger("cuspid.tests.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, _Captured(stream)
    finally:
        logger.removeHandler(handler)


def test_configured_console_handler_uses_the_json_formatter_and_redact_filter() -> None:
    logging_config = settings.LOGGING
    console = logging_config["handlers"]["console"]
    assert logging_config["formatters"][console["formatter"]]["()"] == (
        "cuspid.core.logging.JsonFormatter"
    )
    assert [logging_config["filters"][name]["()"] for name in console["filters"]] == [
        "cuspid.core.logging.RedactFilter"
    ]
    assert "console" in logging_config["root"]["handlers"]
    root_handlers = logging.getLogger().handlers
    assert any(
        isinstance(h.formatter, JsonFormatter)
        and any(isinstance(f, RedactFilter) for f in h.filters)
        for h in root_handlers
    )


def test_access_line_has_no_query_string_email_or_name(access_log: _Captured, db: None) -> None:
    response = Client().get(f"/accounts/login/?email={EMAIL}&name=Jane")
    assert response.status_code == 200

    [line] = access_log.lines
    assert EMAIL not in line
    assert "jane" not in line.lower()
    assert "?" not in line
    assert "email=" not in line
    record = json.loads(line)
    assert record["logger"] == "cuspid.access"
    assert record["level"] == "INFO"
    assert record["method"] == "GET"
    assert record["path"] == "/accounts/login/"
    assert record["status"] == 200
    assert record["request_id"] == response["X-Request-ID"]


def test_access_line_redacts_an_email_in_the_path(access_log: _Captured, db: None) -> None:
    response = Client().get(f"/members/{EMAIL}/")
    assert response.status_code == 404
    [line] = access_log.lines
    assert EMAIL not in line
    assert json.loads(line)["path"] == "/members/[email]/"


def test_access_line_leaves_out_a_password_reset_key(access_log: _Captured, db: None) -> None:
    key = "c7a9k3-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    Client().get(f"/accounts/password/reset/key/{key}/")
    line = access_log.lines[0]
    assert "0f1e2d3c4b5a69788796a5b4c3d2e1f0" not in line
    assert json.loads(line)["path"] == "/accounts/password/reset/key/[secret]-[secret]/"


def test_access_line_names_user_and_organization_but_not_the_email(
    access_log: _Captured, db: None
) -> None:
    user = User.objects.create_user(EMAIL, "a long enough passphrase", full_name="Jane Doe")
    client = Client()
    client.force_login(user)
    client.get(f"/profile/?q={EMAIL}")
    [record] = access_log.records
    assert record["user_id"] == str(user.id)
    assert record["organization_id"] is None
    assert EMAIL not in json.dumps(record)
    assert "Jane" not in json.dumps(record)


def test_each_request_gets_a_fresh_request_id(access_log: _Captured, db: None) -> None:
    client = Client()
    first = client.get("/healthz")
    second = client.get("/healthz")
    ids = [record["request_id"] for record in access_log.records]
    assert ids == [first["X-Request-ID"], second["X-Request-ID"]]
    assert ids[0] != ids[1]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_well_formed_incoming_request_id_is_kept(access_log: _Captured, db: None) -> None:
    incoming = "lb-2f7c9a10-4e11-4d7e-9d7b-0a1b2c3d4e5f"
    response = Client().get("/healthz", headers={"X-Request-ID": incoming})
    assert response["X-Request-ID"] == incoming
    [record] = access_log.records
    assert record["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "abc123456\nFAKE log line",
        "abcdefgh ijklmnop",
        'abcdefgh"}{"level":"ERROR',
        "short",
        "x" * 65,
        "abcdefgh\r\nSet-Cookie: a=b",
    ],
)
def test_malformed_incoming_request_id_is_replaced(
    incoming: str, access_log: _Captured, db: None
) -> None:
    response = Client().get("/healthz", headers={"X-Request-ID": incoming})
    assert response["X-Request-ID"] != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    [line] = access_log.lines
    assert json.loads(line)["request_id"] == response["X-Request-ID"]
    assert "FAKE" not in line
    assert "Set-Cookie" not in line


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"sent to {EMAIL}", "sent to [email]"),
        ("from Jane.O-Neil+dental@clinic.co.uk today", "from [email] today"),
        ("GET /patients/?name=Jane&dob=1980-01-01 200", "GET /patients/ 200"),
        ("see https://x.example/a/b?token=secret#f now", "see https://x.example/a/b now"),
        (f'"/search?email={EMAIL}"', '"/search"'),
        (f"<WSGIRequest: GET '/p/?email={EMAIL}'>", "<WSGIRequest: GET '/p/'>"),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_redact_removes_emails_and_query_strings(message: str, expected: str) -> None:
    assert redact(message) == expected


def test_redact_filter_rewrites_formatted_messages(
    app_log: tuple[logging.Logger, _Captured],
) -> None:
    logger, captured = app_log
    logger.warning("invite for %s failed at %s", EMAIL, f"/invite?email={EMAIL}")
    [record] = captured.records
    assert record["message"] == "invite for [email] failed at /invite"
    assert EMAIL not in captured.lines[0]


def test_formatter_scrubs_extra_fields(app_log: tuple[logging.Logger, _Captured]) -> None:
    logger, captured = app_log
    logger.info(
        "lookup",
        extra={
            "target": f"/patients?email={EMAIL}",
            "count": 3,
            "ok": True,
            "nested": {"to": [EMAIL, 2]},
            "thing": ValueError(EMAIL),
        },
    )
    [line] = captured.lines
    record = json.loads(line)
    assert record["target"] == "/patients"
    assert record["count"] == 3
    assert record["ok"] is True
    assert record["nested"] == {"to": ["[email]", 2]}
    assert record["thing"] == "[email]"
    assert EMAIL not in line


def test_exceptions_are_one_json_line_with_redaction(
    app_log: tuple[logging.Logger, _Captured],
) -> None:
    logger, captured = app_log
    try:
        raise ValueError(f"no patient for {EMAIL} at /p?name=Jane")
    except ValueError:
        logger.exception("lookup failed for %s", EMAIL)
    [line] = captured.lines  # the traceback stays inside one JSON line
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert record["message"] == "lookup failed for [email]"
    assert "Traceback (most recent call last)" in record["exception"]
    assert "ValueError: no patient for [email] at /p" in record["exception"]
    assert EMAIL not in line
    assert "Jane" not in line


def test_formatter_output_is_utc_and_carries_the_request_id_outside_requests(
    app_log: tuple[logging.Logger, _Captured],
) -> None:
    logger, captured = app_log
    logger.info("hello")
    [record] = captured.records
    assert record["time"].endswith("+00:00")
    assert record["request_id"] == "-"


def _failing_view(request: HttpRequest) -> HttpResponse:
    raise ValueError(f"no chart for {EMAIL} at /charts?name=Jane")


urlpatterns = [path("failing/", _failing_view, name="failing")]
handler500 = "cuspid.web.errors.server_error"


@pytest.fixture
def django_request_log() -> Iterator[_Captured]:
    stream = io.StringIO()
    handler = _handler(stream)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield _Captured(stream)
    finally:
        logger.removeHandler(handler)


@pytest.mark.urls(__name__)
def test_server_error_log_has_the_request_id_and_no_phi(
    django_request_log: _Captured, declare_public_pages: Callable[..., None], db: None
) -> None:
    declare_public_pages("failing")
    # Django logs the failure with the request object attached; its repr holds the query.
    client = Client(raise_request_exception=False)
    response = client.get(f"/failing/?name=Jane&email={EMAIL}")
    assert response.status_code == 500
    [line] = django_request_log.lines
    record = json.loads(line)
    assert record["logger"] == "django.request"
    assert record["level"] == "ERROR"
    assert record["message"] == "Internal Server Error: /failing/"
    assert record["request_id"] == response["X-Request-ID"]
    assert record["status_code"] == 500
    assert record["request"] == "<WSGIRequest: GET '/failing/'>"
    assert record["exception"].endswith("ValueError: no chart for [email] at /charts")
    assert EMAIL not in line
    assert "Jane" not in line


def test_uvicorn_colour_duplicates_are_left_out() -> None:
    record = logging.makeLogRecord(
        {"name": "uvicorn.error", "msg": "Started", "color_message": "\x1b[36mStarted\x1b[0m"}
    )
    assert "color_message" not in json.loads(JsonFormatter().format(record))
