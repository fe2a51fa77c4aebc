"""/healthz and /readyz: JSON, no sign-in, no secrets, no versions, 503 when a check fails."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.test import Client
from pytest_django import Settings

# Nothing listens on port 1; the connection is refused at once.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"
VERSION = re.compile(r"\d+\.\d+")


@contextmanager
def _celery_broker(url: str, transport_options: dict[str, Any]) -> Iterator[None]:
    """Point the process's Celery app at another broker, and back afterwards."""
    conf = current_app.conf
    previous = (conf.broker_url, conf.broker_transport_options)
    conf.update(broker_url=url, broker_transport_options=transport_options)
    try:
        yield
    finally:
        conf.update(broker_url=previous[0], broker_transport_options=previous[1])


@pytest.fixture
def blob_dir(tmp_path: Path, settings: Settings) -> Path:
    path = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = path
    return path


@pytest.fixture
def embedded_broker(tmp_path: Path) -> Iterator[str]:
    """A fresh embedded broker: kombu's SQLAlchemy transport on a SQLite file in tmp."""
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    with _celery_broker(url, {}):
        yield url


def _assert_reveals_nothing(body: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in body
    for word in ("sqlite", "redis", "postgres", "amqp", "://", "Traceback", "Error"):
        assert word.lower() not in body.lower()
    assert "/" not in body, "no paths or URLs"
    assert not VERSION.search(body), "no version numbers"


def test_healthz_answers_without_sign_in() -> None:
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_probes_answer_get_and_head_only(db: None, blob_dir: Path, embedded_broker: str) -> None:
    assert Client().head("/healthz").status_code == 200
    assert Client().head("/readyz").status_code == 200
    assert Client().post("/healthz").status_code == 405
    assert Client().post("/readyz").status_code == 405


def test_readyz_is_ok_when_database_blobs_and_broker_are(
    db: None, blob_dir: Path, embedded_broker: str
) -> None:
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "blobs": "ok", "broker": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]
    assert "Server" not in response
    _assert_reveals_nothing(response.content.decode(), embedded_broker, str(blob_dir))
    assert blob_dir.is_dir()
    assert list(blob_dir.iterdir()) == [], "the write probe leaves nothing behind"


def test_readyz_fails_with_503_when_the_broker_is_unreachable(
    db: None, blob_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _celery_broker(UNREACHABLE_BROKER, {"socket_connect_timeout": 2}):
        response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "checks": {"database": "ok", "blobs": "ok", "broker": "fail"},
    }
    _assert_reveals_nothing(response.content.decode(), UNREACHABLE_BROKER, "127.0.0.1")
    assert any(getattr(record, "check", None) == "broker" for record in caplog.records), (
        "the reason goes to the log"
    )


def test_readyz_fails_when_the_embedded_broker_file_cannot_be_opened(
    db: None, blob_dir: Path, tmp_path: Path
) -> None:
    # Opening a kombu connection touches nothing on this transport; the check must.
    missing = tmp_path / "no-such-dir" / "broker.sqlite3"
    with _celery_broker(f"sqla+sqlite:///{missing}", {}):
        response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "fail"
    _assert_reveals_nothing(response.content.decode(), str(missing))


def test_readyz_fails_with_503_when_the_blob_directory_is_not_writable(
    db: None, tmp_path: Path, settings: Settings, embedded_broker: str
) -> None:
    # A regular file where the directory should be: unwritable even for root, unlike chmod.
    occupied = tmp_path / "blobs"
    occupied.write_text("not a directory")
    settings.CUSPID_BLOB_DIR = occupied

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "checks": {"database": "ok", "blobs": "fail", "broker": "ok"},
    }
    _assert_reveals_nothing(response.content.decode(), str(occupied))


def test_readyz_can_be_probed_again_and_again(
    db: None, blob_dir: Path, embedded_broker: str
) -> None:
    # Each probe opens a broker channel; on the embedded broker an unclosed channel session
    # holds a pooled connection until the garbage collector breaks its reference cycle; with
    # fifteen held (SQLAlchemy's pool), the next probe waits 30 s and fails. With the
    # collector paused, only closing the session keeps the probes answering.
    client = Client()
    gc.disable()
    try:
        statuses = [client.get("/readyz").status_code for _ in range(16)]
    finally:
        gc.enable()

    assert statuses == [200] * 16
