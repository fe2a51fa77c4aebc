"""Uploads over CUSPID_MAX_UPLOAD_BYTES are refused while they stream in, leaving no file."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from pytest_django import Settings

from config.env import Env
from cuspid.cases.enums import AttachmentKind
from cuspid.cases.files import inspect_upload
from cuspid.core.uploads import REQUEST_OVERHEAD_BYTES, SizeLimitedUploadHandler, UploadTooLarge
from tests.cases import corpus

LIMIT = 100 * 1024


def _temp_dir_listing() -> list[str]:
    return sorted(os.listdir(django_settings.FILE_UPLOAD_TEMP_DIR))


def _upload_view(request: HttpRequest) -> HttpResponse:
    """Report what became of the upload, as seen from inside the request."""
    try:
        uploads = request.FILES
    except UploadTooLarge as error:
        return JsonResponse(
            {
                "code": error.code,
                "detail": error.detail,
                # Whether the temporary-file handler had started writing this file.
                "started": any(hasattr(h, "file") for h in request.upload_handlers),
                "temp_files": _temp_dir_listing(),
            },
            status=error.status,
        )
    [upload] = uploads.getlist("file")
    return JsonResponse(
        {
            "on_disk": isinstance(upload, TemporaryUploadedFile),
            "sha256": hashlib.sha256(upload.read()).hexdigest(),
            # An UploadedFile is a readable, seekable binary file; its stubs do not say so.
            "kind": inspect_upload(cast(BinaryIO, upload), allowed=frozenset(AttachmentKind)).kind,
        }
    )


def _unguarded_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(len(request.FILES)))


urlpatterns = [
    path("upload/", _upload_view, name="test_upload"),
    path("unguarded/", _unguarded_view, name="test_unguarded_upload"),
    path("", include("config.urls")),  # the error page links to the site's pages
]


@pytest.fixture(autouse=True)
def _small_limit(
    settings: Settings, tmp_path: Path, declare_public_pages: Callable[..., None]
) -> None:
    settings.CUSPID_MAX_UPLOAD_BYTES = LIMIT
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    declare_public_pages("test_upload", "test_unguarded_upload")


@pytest.fixture
def handler_only(settings: Settings) -> None:
    """Without UploadLimitMiddleware (which answers first in production), so the view sees
    the handler's refusal and can report what the handlers left behind."""
    settings.MIDDLEWARE = [
        name
        for name in settings.MIDDLEWARE
        if name != "cuspid.web.middleware.UploadLimitMiddleware"
    ]


def _post(data: bytes, url: str = "/upload/") -> tuple[int, dict[str, object]]:
    upload = io.BytesIO(data)
    upload.name = "scan of a patient.stl"
    response = Client().post(url, {"file": upload})
    body = response.json() if response["Content-Type"] == "application/json" else {}
    return response.status_code, body


def _payload(size: int) -> bytes:
    """A binary STL padded to ``size`` bytes (what matters here is only the size)."""
    return corpus.valid_binary_stl(faces=16)[:size].ljust(size, b"\0")


def test_the_settings_stream_every_upload_through_the_limit_to_disk() -> None:
    assert django_settings.FILE_UPLOAD_HANDLERS == [
        "cuspid.core.uploads.SizeLimitedUploadHandler",
        "django.core.files.uploadhandler.TemporaryFileUploadHandler",
    ]


@pytest.mark.urls(__name__)
def test_a_file_at_the_limit_arrives_whole_on_disk(db: None) -> None:
    data = corpus.valid_binary_stl(faces=(LIMIT - 84) // 50)
    assert len(data) <= LIMIT

    status, body = _post(data)

    assert status == 200
    assert body == {
        "on_disk": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "kind": "scan",
    }


@pytest.mark.urls(__name__)
def test_a_file_over_the_limit_is_refused_while_streaming_and_its_temp_file_removed(
    db: None,
    handler_only: None,
) -> None:
    status, body = _post(_payload(3 * LIMIT))

    assert status == 413
    assert body["code"] == "too_large"
    assert body["detail"] == "The file is larger than the 102,400 bytes limit."
    # The request was small enough to start: the file was being written, then removed.
    assert body["started"] is True
    assert body["temp_files"] == []
    assert _temp_dir_listing() == []


@pytest.mark.urls(__name__)
def test_one_byte_over_the_limit_is_refused(db: None, handler_only: None) -> None:
    status, body = _post(_payload(LIMIT + 1))

    assert status == 413
    assert body["temp_files"] == []


@pytest.mark.urls(__name__)
def test_a_request_declaring_too_much_is_refused_before_any_file_is_written(
    db: None, handler_only: None
) -> None:
    status, body = _post(_payload(LIMIT + REQUEST_OVERHEAD_BYTES + 1))

    assert status == 413
    assert body["started"] is False
    assert body["temp_files"] == []


@pytest.mark.urls(__name__)
def test_a_view_that_does_not_catch_it_answers_413(db: None) -> None:
    # UploadLimitMiddleware parses the body before the CSRF check and the view.
    response = Client(enforce_csrf_checks=True).post(
        "/unguarded/", {"file": io.BytesIO(_payload(2 * LIMIT))}
    )

    assert response.status_code == 413
    assert "413.html" in [t.name for t in response.templates]
    assert b"File too large" in response.content
    assert _temp_dir_listing() == []


@pytest.mark.urls(__name__)
def test_the_api_gets_the_refusal_as_json(db: None) -> None:
    response = Client().post("/api/v1/cases", {"file": io.BytesIO(_payload(2 * LIMIT))})

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert _temp_dir_listing() == []


def test_the_handler_refuses_by_content_length_and_passes_chunks_unchanged() -> None:
    handler = SizeLimitedUploadHandler()
    stream = io.BytesIO()

    handler.handle_raw_input(stream, {}, LIMIT + REQUEST_OVERHEAD_BYTES, "b")  # accepted
    with pytest.raises(UploadTooLarge):
        handler.handle_raw_input(stream, {}, LIMIT + REQUEST_OVERHEAD_BYTES + 1, "b")
    chunk = b"x" * 1024
    assert handler.receive_data_chunk(chunk, LIMIT - len(chunk)) is chunk
    with pytest.raises(UploadTooLarge):
        handler.receive_data_chunk(chunk, LIMIT - len(chunk) + 1)


def test_the_message_names_the_limit_in_megabytes() -> None:
    error = UploadTooLarge.over(200 * 1024 * 1024)
    assert (error.status, error.code) == (413, "too_large")
    assert error.detail == "The file is larger than the 200 MB limit."


def test_the_limit_comes_from_cuspid_max_upload_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSPID_MAX_UPLOAD_MB", raising=False)
    assert Env.load().max_upload_mb == 200
    monkeypatch.setenv("CUSPID_MAX_UPLOAD_MB", "50")
    assert Env.load().max_upload_mb == 50
    for wrong in ("0", "-5", "lots"):
        monkeypatch.setenv("CUSPID_MAX_UPLOAD_MB", wrong)
        with pytest.raises(ImproperlyConfigured, match="CUSPID_MAX_UPLOAD_MB"):
            Env.load()
