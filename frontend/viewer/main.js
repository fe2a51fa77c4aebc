// Cuspid's 3D viewer: the entry point the viewer partial loads (static/dist/viewer/viewer.js).
//
// Contract (the same as the top of templates/cases/review/_viewer.html):
//
// * Every element with `data-cuspid-viewer` becomes one viewer; several may share a page (the
//   compare page shows two side by side). Its `data-config-id` names a
//   <script type="application/json"> (Django's json_script) holding
//     { "meshes": [{ "id", "url", "layer", "label", "faces", "bytes", "format"? }],
//       "canPin": bool,
//       "colorMap": null | { "meshId", "url", "maxMm" },
//       "labelMap": null | { "meshId", "url" } }
//   built by cuspid.cases.views.viewer.viewer_config(). `data-worker-url` is the mesh worker;
//   `data-msg-*` attributes hold the translated messages.
// * Meshes are fetched with the session cookie, with a progress bar in bytes, and parsed in a
//   Web Worker. Frames are drawn on demand. When the first frame with every mesh is drawn the
//   element gets `data-rendered="true"`, `window.cuspidViewerTiming[<element id>]` holds
//   { startMs, downloadedMs, parsedMs, firstRenderMs, bytes, faces } (performance.now() values,
//   milliseconds since the page started loading) and the element dispatches
//   `cuspid:viewer-rendered` (bubbling, detail = the same timing).
// * Annotations: the viewer reads the JSON array in the element named by
//   `data-annotations-id` (default `annotations-data`):
//   [{ "number", "point": [x, y, z], "normal": [x, y, z], "text" }], on load and after every
//   `htmx:afterSettle`, and draws numbered markers. Clicking a marker dispatches
//   `cuspid:annotation-focus` { number } on document; a `cuspid:annotation-show` { number }
//   event on document flies the camera to that pin.
// * With "canPin", the "Add pin" button then a click on a mesh dispatches `cuspid:pin-placed`
//   { point, normal, attachmentId } on document.
// * colorMap: little-endian float32 distances in mm, one per vertex of that mesh's position
//   attribute in loader order (a binary STL: three per facet, in file order), drawn on a
//   blue-white-red scale clamped at +/- maxMm, with a legend. (The viewer welds an STL's
//   repeated corners into shared vertices; its index maps the file's corner order onto them.)
// * labelMap: one unsigned byte per vertex of that mesh in loader order (as colorMap), 0 for
//   gingiva, otherwise the tooth's FDI number: each tooth painted its own colour
//   (teethcolors.js), the teeth found listed in a legend; the element gets
//   `data-label-map="true"` (or "error").
// * Keyboard, with the view focused: arrow keys turn it, Shift + arrows move it, + and -
//   zoom, 0 or Home resets; Escape (anywhere) leaves measuring or pin placing.
import { Viewer } from "./viewer.js";

const viewers = (window.cuspidViewers = window.cuspidViewers || {});

function startAll() {
  document.querySelectorAll("[data-cuspid-viewer]").forEach((element, index) => {
    if (element.dataset.viewerStarted) return;
    element.dataset.viewerStarted = "true";
    const viewer = new Viewer(element);
    viewers[element.id || `viewer-${index}`] = viewer;
    viewer.start();
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", startAll);
} else {
  startAll();
}
// A viewer swapped in by htmx (the compare panel) starts too.
document.addEventListener("htmx:afterSettle", startAll);
