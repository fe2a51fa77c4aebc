"""Browser-test fixtures shared by the journeys (``test_journeys``, ``test_identity``).

One Chromium per module, started on first use; Django's ORM allowed beside Playwright's
event loop; each test's page problems (CSP violations, script errors, failed loads).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.servers.basehttp import WSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

from tests.e2e.browser import PageProblems, _BrowserHolder


class _OneRequestAtATime(WSGIServer):
    """Django's live server without a thread per request (each response closes its
    connection, so a browser's parallel requests queue instead of holding the server)."""

    def __init__(self, *args: Any, connections_override: object = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _serialise_the_live_server_on_sqlite() -> Iterator[None]:
    """On SQLite the live server's threads share the test's in-memory connection, and two
    requests writing at once (a page's parallel, audited mesh downloads) fail with "database
    table is locked". One request at a time there; PostgreSQL keeps a thread per request."""
    if connection.vendor != "sqlite":
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LiveServerThread, "server_class", _OneRequestAtATime)
        yield


@pytest.fixture(scope="module")
def browser_holder() -> Iterator[_BrowserHolder]:
    holder = _BrowserHolder()
    yield holder
    holder.close()


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop in this thread, so Django would refuse the
    test's own ORM calls (seeding, the database flush after each test) as if they ran in async
    code. Allowed for each browser-test module, from before its first test until after its last."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()
