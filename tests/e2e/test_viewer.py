"""The 3D review page of a revision in the system Chromium.

A clinician opens revision 1 of a crown case: the prepared lower jaw, the opposing upper jaw
in occlusion and the lab's crown. The viewer draws all three (the canvas is not blank), the
layer checkbox hides the opposing jaw, the measuring tool shows a distance in millimetres
(Escape cancels a half-made one), the keyboard reaches the controls and turns and zooms the
view, and "Add pin" then a click on the model hands the point to the review form. A second
test loads a 200,000-triangle proposal and checks the progress in bytes and the first frame.
"""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from PIL import Image, ImageStat
from playwright.sync_api import Page, Position, Route, expect
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from cuspid.cases.models import Revision
from cuspid.cases.services import Upload, attachment_add, revision_create
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership
from cuspid.web.demo_scans import arch_stl, crown_stl, large_arch_resolution
from tests.e2e.browser import PageProblems
from tests.e2e.test_journeys import page  # noqa: F401 -- a pytest fixture, used by name
from tests.factories import make_lab, make_lab_connection, make_membership, make_organization
from tests.factories.cases import actor_of, make_case, make_patient, send_case, transition

pytestmark = pytest.mark.browser

RENDER_MS = 60_000
# Every text the viewer's status line shows, in order (to see the progress after the fact).
STATUS_LOG = """
window.statusSeen = [];
document.addEventListener("DOMContentLoaded", () => {
  const line = document.querySelector("[data-viewer-status-text]");
  if (!line) return;
  new MutationObserver(() => window.statusSeen.push(line.textContent)).observe(line, {
    childList: true, characterData: true, subtree: true,
  });
});
"""
# The canvas pixels, read through a 2D canvas (the WebGL one keeps its drawing buffer).
CANVAS_STATS = """
() => {
  const source = document.querySelector("#viewer canvas");
  const copy = document.createElement("canvas");
  copy.width = source.width;
  copy.height = source.height;
  const context = copy.getContext("2d");
  context.drawImage(source, 0, 0);
  const pixels = context.getImageData(0, 0, copy.width, copy.height).data;
  const colours = new Set();
  let bluish = 0;
  for (let i = 0; i < pixels.length; i += 4 * 7) {
    const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    if (b > r + 18) bluish += 1;
  }
  return { colours: colours.size, bluish, url: source.toDataURL().length };
}
"""


@pytest.fixture
def blob_store(settings: Settings, tmp_path: Path) -> None:
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


def _one_download_at_a_time(tab: Page) -> None:
    """Serve the mesh downloads one after the other on SQLite.

    Each download is an audited read (a write). SQLite's in-memory test database refuses a
    second writer at once ("database table is locked") where the embedded server's WAL file
    waits; on PostgreSQL the viewer's downloads run in parallel as in production.
    """

    def fetch_alone(route: Route) -> None:
        url, headers = route.request.url, route.request.all_headers()
        asked = urllib.request.Request(url, headers=headers)  # noqa: S310 -- the live server
        try:
            with urllib.request.urlopen(asked, timeout=60) as answer:  # noqa: S310 -- as above
                body = answer.read()
                route.fulfill(status=answer.status, headers=dict(answer.headers), body=body)
        except urllib.error.HTTPError as refused:
            route.fulfill(status=refused.code, body=refused.read())

    tab.route("**/files/*/", fetch_alone)


def _signed_in(tab: Page, base: str, membership: Membership) -> None:
    """Start the tab signed in as the member (their session cookie, past MFA)."""
    client = Client()
    client.force_login(membership.user)
    cookie = client.cookies["sessionid"].value
    tab.context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])


def _crown_case(clinician: Membership, designer: Membership, proposal: bytes) -> Revision:
    lab = designer.organization
    case = make_case(clinician, make_patient(clinician), scans=0)
    actor = actor_of(clinician)
    for data, name, layer in (
        (arch_stl(21, jaw="lower"), "lower.stl", "prepared"),
        (arch_stl(22, jaw="upper", bite=True), "upper.stl", "antagonist"),
    ):
        upload = Upload(file=io.BytesIO(data), filename=name, layer=layer)
        attachment_add(actor=actor, case=case, upload=upload)
    case = transition(designer, send_case(clinician, case, lab), "accept")
    design = Upload(file=io.BytesIO(proposal), filename="crown.stl")
    return revision_create(actor=actor_of(designer), case=case, uploads=[design])


@pytest.fixture
def team(transactional_db: None, blob_store: None) -> tuple[Membership, Membership]:
    clinic = make_organization(name="Maple Grove Dental")
    lab = make_lab(name="Northstar Lab")
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = make_membership(organization=clinic, role=Role.CLINICIAN, mfa=True)
    designer = make_membership(organization=lab, role=Role.DESIGNER, mfa=True)
    return clinician, designer


def _open(tab: Page, base: str, revision: Revision) -> None:
    if connection.vendor == "sqlite":
        _one_download_at_a_time(tab)
    tab.goto(f"{base}/revisions/{revision.id}/")
    expect(tab.get_by_role("heading", level=1)).to_contain_text("Revision 1")


def _viewer(tab: Page, expression: str) -> Any:
    return tab.evaluate(f"() => {{ const v = window.cuspidViewers.viewer; return {expression}; }}")


def test_the_clinician_reviews_a_crown_in_3d(
    page: Page,  # noqa: F811 -- the fixture imported above
    live_server: LiveServer,
    team: tuple[Membership, Membership],
    problems: PageProblems,
    tmp_path: Path,
) -> None:
    clinician, designer = team
    revision = _crown_case(clinician, designer, crown_stl(21))
    _signed_in(page, live_server.url, clinician)
    _open(page, live_server.url, revision)

    # --- it draws ----------------------------------------------------------------------------
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-rendered", "true", timeout=RENDER_MS)
    expect(page.locator("[data-viewer-status]")).to_be_hidden()
    timing = page.evaluate("() => window.cuspidViewerTiming.viewer")
    assert timing["firstRenderMs"] >= timing["startMs"]
    canvas = page.locator("#viewer canvas")
    shot = canvas.screenshot()
    (tmp_path / "viewer-canvas.png").write_bytes(shot)
    image = Image.open(io.BytesIO(shot)).convert("L")
    low, high = cast(tuple[int, int], image.getextrema())
    assert high - low > 60, "the canvas is blank"
    assert ImageStat.Stat(image).stddev[0] > 8, "the canvas is one flat colour"
    # Drawn on demand: nothing is drawn while nothing changes.
    frames = _viewer(page, "v.frames")
    page.wait_for_timeout(600)
    assert _viewer(page, "v.frames") == frames
    drawn = page.evaluate(CANVAS_STATS)
    assert drawn["colours"] > 200
    assert drawn["bluish"] > 100, "the opposing jaw (blue-grey) is drawn"

    # --- layers ------------------------------------------------------------------------------
    layers = page.get_by_role("group", name="Layers")
    expect(layers.get_by_role("checkbox")).to_have_count(3)
    layers.get_by_role("checkbox", name="Opposing jaw").uncheck()
    page.wait_for_function("() => !window.cuspidViewers.viewer.frameRequested")
    assert _viewer(page, "v.layers.get('antagonist').meshes.every((m) => !m.visible)")
    assert page.evaluate(CANVAS_STATS)["bluish"] < drawn["bluish"] / 10
    opacity = layers.get_by_role("slider", name="Opacity of Design proposal")
    opacity.fill("40")
    expect(layers.get_by_text("40 %")).to_be_visible()
    assert _viewer(page, "v.layers.get('proposal').meshes[0].material.opacity") == 0.4
    layers.get_by_role("checkbox", name="Opposing jaw").check()
    assert _viewer(page, "v.layers.get('antagonist').meshes.every((m) => m.visible)")

    # --- measuring ---------------------------------------------------------------------------
    box = canvas.bounding_box()
    assert box is not None
    middle = Position(x=box["width"] / 2, y=box["height"] / 2)
    aside = Position(x=box["width"] / 2 + 60, y=box["height"] / 2 + 25)
    measure = page.get_by_role("button", name="Measure")
    banner = page.locator("#viewer [data-viewer-mode]")
    spoken = page.locator("#viewer [data-viewer-live]")
    measure.click()
    expect(measure).to_have_attribute("aria-pressed", "true")
    canvas.click(position=middle)
    expect(banner).to_have_text("Now click a second point. Esc cancels.")
    page.keyboard.press("Escape")
    expect(banner).to_have_text("Measure: click a first point on a model. Esc cancels.")
    expect(spoken).to_have_text("Cancelled.")
    canvas.click(position=middle)
    canvas.click(position=aside)
    distance = page.locator(".viewer-distance")
    expect(distance).to_have_text(re.compile(r"^\d+\.\d\d mm$"))
    millimetres = float(distance.inner_text().split()[0])
    assert 0.5 < millimetres < 80
    expect(banner).to_contain_text(f"Distance: {distance.inner_text()}")
    expect(spoken).to_contain_text(f"Distance: {distance.inner_text()}")
    page.get_by_role("button", name="Clear measurement").click()
    expect(distance).to_have_count(0)
    page.keyboard.press("Escape")
    expect(measure).to_have_attribute("aria-pressed", "false")

    # --- the keyboard --------------------------------------------------------------------------
    # From the breadcrumb, Tab walks through every control of the viewer to the view itself.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link").last.focus()
    reached: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        label = page.evaluate(
            "() => document.activeElement.getAttribute('aria-label') || "
            "document.activeElement.textContent.trim()"
        )
        reached.append(label)
        if page.evaluate("() => document.activeElement.matches('#viewer canvas')"):
            break
    for control in ("Reset view", "Front", "Left", "Right", "Above", "Below", "Measure"):
        assert control in reached, reached
    assert reached[-1] == "3D view", reached
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "the focused view shows a focus ring"
    before = _viewer(page, "v.camera.position.toArray()")
    far = _viewer(page, "v.distance()")
    page.keyboard.press("ArrowLeft")
    assert _viewer(page, "v.camera.position.toArray()") != before
    page.keyboard.press("+")
    assert _viewer(page, "v.distance()") < far
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert _viewer(page, "v.distance()") > far
    page.keyboard.press("0")
    page.wait_for_function("() => !window.cuspidViewers.viewer.flight")

    # --- a pin ---------------------------------------------------------------------------------
    page.evaluate(
        """() => document.addEventListener("cuspid:pin-placed",
             (event) => { window.placedPin = event.detail; }, { once: true })"""
    )
    page.locator("#viewer").get_by_role("button", name="Add pin").click()
    canvas.click(position=middle)
    page.wait_for_function("() => window.placedPin !== undefined")
    pin = page.evaluate("() => window.placedPin")
    mesh_ids = {m.id.hex for m in revision.case.attachments.all()}
    assert pin["attachmentId"].replace("-", "") in mesh_ids
    assert len(pin["point"]) == 3
    assert abs(sum(c * c for c in pin["normal"]) - 1) < 0.01

    # --- a distance colour map (what the compare page gives the viewer) ----------------------
    corners = 3 * next(m.face_count for m in revision.files.all() if m.face_count)
    distances = np.linspace(-0.8, 0.8, corners, dtype="<f4").tobytes()
    page.route(
        "**/test-distances/",
        lambda route: route.fulfill(body=distances, content_type="application/octet-stream"),
    )
    proposal = _viewer(page, "v.layers.get('proposal').meshes[0].userData.id")
    page.evaluate(
        "(id) => window.cuspidViewers.viewer.loadColorMap("
        "{ meshId: id, url: '/test-distances/', maxMm: 0.5 })",
        proposal,
    )
    expect(viewer).to_have_attribute("data-color-map", "true")
    legend = viewer.locator("[data-viewer-legend]")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("Distance (mm)")
    expect(legend.locator("[data-viewer-legend-ticks] span")).to_have_text(
        ["-0.50", "-0.25", "0", "+0.25", "+0.50"]
    )
    assert _viewer(page, "v.layers.get('proposal').meshes[0].geometry.attributes.color.count") > 0
    page.screenshot(path=str(tmp_path / "review-page.png"), full_page=True)
    assert not problems.messages, "\n".join(problems.messages)


def test_a_200k_triangle_proposal_loads_with_progress_and_renders(
    page: Page,  # noqa: F811 -- the fixture imported above
    live_server: LiveServer,
    team: tuple[Membership, Membership],
    problems: PageProblems,
) -> None:
    clinician, designer = team
    segments, rings = large_arch_resolution(84 + 50 * 200_000)
    proposal = arch_stl(23, jaw="upper", bite=True, segments=segments, rings=rings)
    revision = _crown_case(clinician, designer, proposal)
    _signed_in(page, live_server.url, clinician)
    page.add_init_script(STATUS_LOG)
    _open(page, live_server.url, revision)

    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-rendered", "true", timeout=RENDER_MS)
    timing = page.evaluate("() => window.cuspidViewerTiming.viewer")
    assert timing["faces"] >= 200_000 + 2 * 4608
    assert timing["bytes"] == len(proposal) + 2 * len(arch_stl(21))
    seen = page.evaluate("() => window.statusSeen")
    total = f"{timing['bytes'] / 1e6:.1f} MB"
    assert f"Downloading the 3D files: {total} of {total}" in seen, seen
    assert any(re.fullmatch(rf"Downloading the 3D files: .+ of {total}", text) for text in seen)
    assert seen[-1] == "Preparing the 3D view…"
    progress = page.locator("[data-viewer-progress]")
    assert progress.evaluate("(bar) => bar.max") == timing["bytes"]
    faces = page.get_by_role("group", name="Layers").get_by_text(re.compile(r"200,\d{3} triangles"))
    expect(faces).to_be_visible()
    assert not problems.messages, "\n".join(problems.messages)
