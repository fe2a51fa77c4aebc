"""Browser-test fixtures shared by the journeys (``test_journeys``, ``test_identity``).

One Chromium per module, started on first use; Django's ORM allowed beside Playwright's
event loop; each test's page problems (CSP violations, script errors, failed loads).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.browser import PageProblems, _BrowserHolder


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
