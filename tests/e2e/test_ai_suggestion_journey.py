"""An AI suggestion on a demo case, in the system Chromium (issue 9, acceptance 4).

The lab's designer opens the demo crown case waiting for its design (a synthetic preparation
of 36 and the opposing jaw), asks for an AI suggestion and sees its progress; a worker runs
the design engine; the page updates by itself, and the suggestion's revision opens in the 3D
viewer with the scan painted by tooth (the teeth legend lists what the engine found) and the
crown's figures beside it.

The worker is this test's thread: the request's enqueue is caught instead of reaching a
broker (``tests/integration/test_worker`` runs real workers), and the task's function runs
here, as a worker would run it, while the page polls.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cuspid.cases.enums import RevisionOrigin, SuggestionStatus
from cuspid.cases.models import Case, DesignSuggestion
from cuspid.cases.tasks import suggestion_run_task
from tests.e2e.browser import PageProblems
from tests.e2e.test_journeys import (  # noqa: F401 -- pytest fixtures, used by name
    DESIGNER,
    FIRST_CLINIC,
    _sign_in,
    demo_passwords,
    page,
)

pytestmark = pytest.mark.browser

RENDER_MS = 60_000
WORKER_MS = 180_000


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids the request queues, caught on their way to the broker."""
    ids: list[str] = []
    monkeypatch.setattr(
        suggestion_run_task, "delay", lambda suggestion_id: ids.append(suggestion_id)
    )
    return ids


def _demo_case() -> Case:
    """The demo clinic's crown case on 36 that the lab has accepted: its scans are the design
    engine's synthetic preparation of 36 and the opposing jaw."""
    return Case.objects.get(
        organization__name=FIRST_CLINIC, status="accepted", case_type="crown", teeth=[36]
    )


def _colours(picture: bytes) -> int:
    """How many clearly different colours a screenshot holds (hues in 24 bins, saturated
    pixels only): a scan painted by tooth has many, a grey one next to none."""
    image = np.asarray(Image.open(io.BytesIO(picture)).convert("HSV"), dtype=np.int32)
    saturated = image[(image[..., 1] > 60) & (image[..., 2] > 60)]
    hues = np.bincount(saturated[:, 0] * 24 // 256, minlength=24)
    return int((hues > 0.004 * max(1, len(saturated))).sum())


def test_a_designer_requests_an_ai_suggestion_and_sees_the_arch_segmented_by_tooth(
    page: Page,  # noqa: F811 -- the fixture imported above
    live_server: LiveServer,
    demo_passwords: dict[str, str],  # noqa: F811 -- the fixture imported above
    problems: PageProblems,
    queued: list[str],
    tmp_path: Path,
) -> None:
    base = live_server.url
    case = _demo_case()
    _sign_in(page, base, DESIGNER, demo_passwords[DESIGNER])
    page.goto(f"{base}/cases/{case.id}/")
    panel = page.locator("#ai-suggestion")
    expect(panel.get_by_role("heading", name="AI design suggestion")).to_be_visible()
    panel.get_by_role("button", name="Request AI suggestion").click()

    # --- queued: the page shows where it is and polls ---------------------------------------
    expect(page.get_by_text("The AI suggestion is on its way.")).to_be_visible()
    expect(panel.locator("progress")).to_be_visible()
    expect(panel.get_by_text("Waiting for a worker")).to_be_visible()
    page.screenshot(path=str(tmp_path / "ai-queued.png"), full_page=True, caret="initial")
    assert len(queued) == 1

    # --- the worker runs the design engine; the page reloads by itself ----------------------
    assert suggestion_run_task(queued[0]) == SuggestionStatus.READY
    suggestion = DesignSuggestion.objects.select_related("revision").get(id=queued[0])
    assert suggestion.revision is not None
    assert suggestion.revision.origin == RevisionOrigin.AI
    number = suggestion.revision.number
    opened = page.get_by_role("link", name=f"Open the AI suggestion (revision {number})")
    expect(opened).to_be_visible(timeout=WORKER_MS)
    expect(page.locator(f"#revision-{number}")).to_contain_text("AI suggestion")
    opened.click()

    # --- the review page: the scan painted by tooth, the crown's figures --------------------
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Revision {number}")
    viewer = page.locator("[data-cuspid-viewer]").first
    expect(viewer).to_have_attribute("data-rendered", "true", timeout=RENDER_MS)
    expect(viewer).to_have_attribute("data-label-map", "true", timeout=RENDER_MS)
    legend = viewer.locator("[data-viewer-teeth]")
    expect(legend).to_be_visible()
    found = {int(text) for text in legend.locator("li").all_inner_texts()}
    report = suggestion.report or {}
    assert found == set(report["teeth_found"])
    assert 36 in found
    assert len(found) >= 10
    assert found <= {q * 10 + t for q in (3, 4) for t in range(1, 9)}
    page.locator("#ai-report").scroll_into_view_if_needed()
    expect(page.locator("#ai-report")).to_contain_text("Crown on tooth 36")
    expect(page.locator("#ai-report")).to_contain_text("Occlusal clearance")
    canvas = viewer.locator("canvas").first
    picture = canvas.screenshot(caret="initial")
    (tmp_path / "ai-segmented.png").write_bytes(picture)
    page.screenshot(path=str(tmp_path / "ai-review.png"), full_page=True, caret="initial")
    assert _colours(picture) >= 6, "the arch is not painted by tooth"
    assert problems.messages == []
