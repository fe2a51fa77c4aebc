"""The ASGI body limit in front of Django: past CUSPID_MAX_UPLOAD_MB nothing is taken in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from config.asgi import application
from cuspid.core.uploads import REQUEST_OVERHEAD_BYTES

LIMIT = 64 * 1024
CHUNK = 16 * 1024


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


def _run(scope: dict[str, Any], body_chunks: int) -> tuple[int, bytes, int]:
    """Drive the real ASGI application; returns status, body and the chunks it consumed."""
    sent: list[dict[str, Any]] = []
    chunks: Iterator[int] = iter(range(body_chunks))
    consumed = 0

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        index = next(chunks, None)
        if index is None:
            # A client that has sent everything waits for the answer: like a real server,
            # the next event would only be its disconnect (Django listens for one).
            await asyncio.Event().wait()
            return {"type": "http.disconnect"}
        consumed += 1
        more = index < body_chunks - 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(application(scope, receive, send))  # type: ignore[arg-type]  # plain dict events
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, consumed


@pytest.fixture
def small_limit(settings: Settings) -> None:
    settings.CUSPID_MAX_UPLOAD_BYTES = LIMIT


def test_a_declared_length_past_the_limit_is_refused_before_reading(small_limit: None) -> None:
    declared = LIMIT + REQUEST_OVERHEAD_BYTES + 1
    scope = _scope("/api/v1/cases", [(b"content-length", str(declared).encode())])
    status, body, consumed = _run(scope, body_chunks=100)
    assert status == 413
    assert b"limit" in body
    assert consumed == 0


def test_a_body_streaming_past_the_limit_is_cut_off(small_limit: None) -> None:
    # No Content-Length (chunked): counted as it arrives, refused just past the limit.
    allowed_chunks = (LIMIT + REQUEST_OVERHEAD_BYTES) // CHUNK
    status, body, consumed = _run(_scope("/api/v1/cases", []), body_chunks=allowed_chunks * 4)
    assert status == 413
    assert b"limit" in body
    assert consumed == allowed_chunks + 1


@pytest.mark.django_db
def test_a_body_within_the_limit_reaches_django(small_limit: None) -> None:
    # Django answers (here: sign-in required), so the request went through whole.
    status, _body, consumed = _run(
        _scope("/api/v1/cases", [(b"content-length", str(CHUNK * 2).encode())]), body_chunks=2
    )
    assert status == 401
    assert consumed == 2


def test_other_connection_types_pass_through() -> None:
    events: list[str] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        events.append(message["type"])

    from cuspid.core.uploads import RequestBodyLimit

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "lifespan.startup.complete"})

    asyncio.run(RequestBodyLimit(inner)({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]  # plain dict events
    assert events == ["lifespan.startup.complete"]
