"""The upload size limit, enforced while a multipart body streams in.

``SizeLimitedUploadHandler`` runs first in ``FILE_UPLOAD_HANDLERS``: it refuses a request whose
``Content-Length`` already exceeds ``CUSPID_MAX_UPLOAD_BYTES`` (plus room for the multipart
envelope and form fields) before any of it is read, and a file the moment its bytes pass the
limit. It passes every chunk on unchanged to the next handler (Django's temporary-file handler),
so memory holds one 64 KiB chunk at a time, and when it refuses it removes the partial file
that handler was writing: nothing is left in ``FILE_UPLOAD_TEMP_DIR``.

The refusal is an ``UploadTooLarge`` raised where the body is parsed, i.e. on the first access to
``request.POST`` or ``request.FILES``; ninja and ``DomainErrorMiddleware`` turn it into a 413.
Caveat: on a CSRF-checked page, ``CsrfViewMiddleware.process_view`` reads ``request.POST``
first, and an exception there reaches no ``process_exception`` (Django answers 500), so such a
page needs a middleware before the CSRF one that parses multipart bodies and answers 413.

Under ASGI, Django spools the whole body to a temporary file before any handler runs, so
``RequestBodyLimit`` (the ASGI application in ``config/asgi.py`` wraps Django with it) stops a
request whose body passes the same limit while it arrives: it answers 413 at once when the
declared ``Content-Length`` is too big, and ends the request as soon as the bytes received pass
it, so nothing past the limit reaches the disk. A reverse proxy's body limit is still wise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler

from cuspid.core.errors import CuspidError

_MIB = 1024 * 1024
#: What a multipart request may carry beyond the file itself: boundaries, part headers, fields.
REQUEST_OVERHEAD_BYTES = _MIB


def _size_label(size: int) -> str:
    if size >= _MIB:
        return f"{size / _MIB:,.0f} MB"
    return f"{size:,} bytes"


class UploadTooLarge(CuspidError):
    """The uploaded file (or the whole request) is larger than ``CUSPID_MAX_UPLOAD_BYTES``."""

    status = 413
    code = "too_large"
    default_detail = "The file is too large."

    @classmethod
    def over(cls, limit_bytes: int) -> UploadTooLarge:
        """The error naming the limit, e.g. "The file is larger than the 200 MB limit."."""
        return cls(f"The file is larger than the {_size_label(limit_bytes)} limit.")


class SizeLimitedUploadHandler(FileUploadHandler):
    """Refuse an upload larger than ``settings.CUSPID_MAX_UPLOAD_BYTES`` while it streams in.

    Guarantees: no file past the limit reaches the handlers after this one, and the partial
    temporary file of a refused upload is removed. Raises ``UploadTooLarge``.
    """

    @property
    def limit(self) -> int:
        """The largest file accepted, in bytes (read per request, so tests may change it)."""
        limit: int = settings.CUSPID_MAX_UPLOAD_BYTES
        return limit

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        """Refuse the request before reading it when its declared length is already too big."""
        if content_length > self.limit + REQUEST_OVERHEAD_BYTES:
            raise UploadTooLarge.over(self.limit)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        """Pass the chunk on, or refuse the file once it has grown past the limit."""
        if start + len(raw_data) > self.limit:
            self._discard_partial_files()
            raise UploadTooLarge.over(self.limit)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        """The next handler builds the uploaded file; this one only counts."""
        return None

    def _discard_partial_files(self) -> None:
        # Django's parser closes the files it has finished when an exception escapes, but not
        # the one being written now; the handlers after this one are told to drop it.
        handlers = self.request.upload_handlers if self.request is not None else []
        for handler in handlers:
            if handler is not self:
                handler.upload_interrupted()


Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = UploadTooLarge.over(limit).detail.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestBodyLimit:
    """ASGI wrapper: no request body larger than the upload limit (plus the multipart
    envelope) is taken in. Guarantees the inner application never receives more than that;
    answers 413 (plain text) when it refuses, unless the application already answered.
    """

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int = settings.CUSPID_MAX_UPLOAD_BYTES
        allowed = limit + REQUEST_OVERHEAD_BYTES
        declared = _declared_length(scope)
        if declared is not None and declared > allowed:
            await _refuse(send, limit)
            return
        received = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    # To the application the client has gone: Django stops reading and
                    # answers nothing; the partial body is dropped with its temporary file.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if over and not started:
            await _refuse(send, limit)
