// One 3D viewer: the meshes of a revision, layers, camera, measuring, pins and a colour map.
//
// The element it draws into is rendered by templates/cases/review/_viewer.html; see that file
// (and main.js) for the contract. Rendering happens on demand: a frame is drawn when the camera
// moves, a layer changes or the view is resized, never in an idle loop.
import {
  AmbientLight,
  Box3,
  BufferAttribute,
  BufferGeometry,
  Color,
  DirectionalLight,
  DoubleSide,
  Group,
  HemisphereLight,
  Line,
  LineBasicMaterial,
  Mesh,
  MeshBasicMaterial,
  MeshLambertMaterial,
  PerspectiveCamera,
  Raycaster,
  Scene,
  SphereGeometry,
  SRGBColorSpace,
  Sphere,
  Vector2,
  Vector3,
  WebGLRenderer,
} from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

import { vertexColors } from "./colormap.js";
import { labelColors, teethPresent, toothColor } from "./teethcolors.js";
import { download, downloadAndParse, meshParser } from "./load.js";

// The colour of each layer; the swatches in viewer.css (.viewer-swatch-<layer>) match.
const LAYER_COLORS = {
  prepared: 0xd9c8ad,
  antagonist: 0xa9b9c9,
  proposal: 0xf0cf7a,
};
const DEFAULT_COLOR = 0xd0d6dc;
const MEASURE_COLOR = 0xc2185b;
// Camera directions (from the target towards the camera); +z is up, the incisors face +y.
const VIEWS = {
  home: [0.45, 1, 0.55],
  front: [0, 1, 0.08],
  left: [-1, 0.05, 0.08],
  right: [1, 0.05, 0.08],
  top: [0, 0.02, 1],
  bottom: [0, 0.02, -1],
};
const ROTATE_STEP = Math.PI / 24; // 7.5 degrees per arrow key
const PAN_STEP = 40; // pixels per Shift+arrow
const ZOOM_STEP = 1.2;
const CLICK_SLOP = 5; // pixels a pointer may move between down and up and still be a click
const FLY_MS = 450;

function message(template, values) {
  return (template || "").replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

function formatBytes(bytes) {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${Math.round(bytes / 1e3)} kB`;
  return `${bytes} B`;
}

function srgbToLinear(c) {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

function toArray(vector) {
  return [vector.x, vector.y, vector.z].map((v) => Math.round(v * 1000) / 1000);
}

let software = null;

/**
 * Whether WebGL runs on the CPU (SwiftShader, llvmpipe: no graphics card, or none allowed).
 * There, multisampling costs three to four times the frame, so edges are left unsmoothed and
 * the view stays responsive with a 200,000-triangle scan.
 */
function softwareRendering() {
  if (software !== null) return software;
  software = false;
  try {
    const probe = document.createElement("canvas");
    const strict = probe.getContext("webgl2", { failIfMajorPerformanceCaveat: true });
    if (!strict) {
      software = true;
    } else {
      const info = strict.getExtension("WEBGL_debug_renderer_info");
      const name = info ? String(strict.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
      software = /swiftshader|llvmpipe|softpipe|software/i.test(name);
      strict.getExtension("WEBGL_lose_context")?.loseContext();
    }
  } catch {
    software = false;
  }
  return software;
}

function faceCount(geometry) {
  return (geometry.index ? geometry.index.count : geometry.attributes.position.count) / 3;
}

function loadJson(id) {
  const element = id ? document.getElementById(id) : null;
  if (!element) return null;
  try {
    return JSON.parse(element.textContent);
  } catch {
    return null;
  }
}

export class Viewer {
  constructor(root) {
    this.root = root;
    this.config = loadJson(root.dataset.configId) || { meshes: [] };
    this.config.meshes = this.config.meshes || [];
    this.msg = root.dataset;
    this.stage = root.querySelector("[data-viewer-stage]");
    this.canvas = root.querySelector("canvas");
    this.overlay = root.querySelector("[data-viewer-overlay]");
    this.statusBox = root.querySelector("[data-viewer-status]");
    this.statusText = root.querySelector("[data-viewer-status-text]");
    this.progress = root.querySelector("[data-viewer-progress]");
    this.modeBanner = root.querySelector("[data-viewer-mode]");
    this.live = root.querySelector("[data-viewer-live]");
    this.meshes = new Map(); // mesh id -> three.js Mesh
    this.layers = new Map(); // layer -> { meshes: [], visible, opacity }
    this.mode = null; // null | "measure" | "pin"
    this.measurePoints = [];
    this.measureObjects = new Group();
    this.markers = [];
    this.frameRequested = false;
    this.frames = 0; // frames drawn: none while nothing changes
    this.rendered = false;
    this.flight = null;
    this.startedAt = performance.now();
  }

  // --- set-up ---------------------------------------------------------------------------------

  start() {
    this.root.dataset.rendered = "false";
    if (!this.config.meshes.length) {
      this.showStatus(this.msg.msgEmpty, false);
      return;
    }
    try {
      this.renderer = new WebGLRenderer({
        canvas: this.canvas,
        antialias: !softwareRendering(),
        preserveDrawingBuffer: true, // the frame stays readable (screenshots, tests)
      });
    } catch {
      this.showStatus(this.msg.msgNoWebgl, false, true);
      return;
    }
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.outputColorSpace = SRGBColorSpace;
    this.renderer.setClearColor(new Color(0xeef2f6), 1);

    this.scene = new Scene();
    this.camera = new PerspectiveCamera(35, 1, 0.1, 5000);
    this.camera.up.set(0, 0, 1);
    this.scene.add(this.camera);
    this.scene.add(new HemisphereLight(0xffffff, 0x8a8f96, 1.6));
    this.scene.add(new AmbientLight(0xffffff, 0.25));
    const headlight = new DirectionalLight(0xffffff, 1.6);
    headlight.position.set(0.3, 0.6, 1);
    this.camera.add(headlight);
    this.scene.add(this.measureObjects);

    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.enableDamping = false;
    this.controls.screenSpacePanning = true;
    this.controls.zoomToCursor = true;
    this.controls.addEventListener("change", () => this.requestRender());

    this.bindUi();
    this.warmUp();
    this.resize();
    new ResizeObserver(() => this.resize()).observe(this.stage);
    this.load();
  }

  bindUi() {
    this.root.querySelectorAll("[data-viewer-view]").forEach((button) => {
      button.addEventListener("click", () => this.setView(button.dataset.viewerView, true));
    });
    this.actionButton("reset")?.addEventListener("click", () => this.setView("home", true));
    this.actionButton("measure")?.addEventListener("click", () =>
      this.setMode(this.mode === "measure" ? null : "measure"),
    );
    this.actionButton("clear")?.addEventListener("click", () => {
      this.clearMeasurement(true);
      // The button hides itself: keep the focus in the toolbar.
      this.actionButton("measure")?.focus();
    });
    const pin = this.actionButton("pin");
    if (pin) {
      pin.hidden = !this.config.canPin;
      pin.addEventListener("click", () => this.setMode(this.mode === "pin" ? null : "pin"));
    }
    this.canvas.addEventListener("keydown", (event) => this.onKey(event));
    // Escape leaves a mode from anywhere on the page (focus may be on a panel beside it).
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented && this.cancel()) {
        event.preventDefault();
      }
    });
    let down = null;
    this.canvas.addEventListener("pointerdown", (event) => {
      down = { x: event.clientX, y: event.clientY, button: event.button };
    });
    this.canvas.addEventListener("pointerup", (event) => {
      if (!down || down.button !== 0) return;
      const moved = Math.hypot(event.clientX - down.x, event.clientY - down.y);
      down = null;
      if (moved <= CLICK_SLOP) this.onClick(event);
    });
    document.addEventListener("htmx:afterSettle", () => this.loadAnnotations());
    document.addEventListener("cuspid:annotation-show", (event) =>
      this.showAnnotation(event.detail && event.detail.number),
    );
  }

  materialFor(layer) {
    return new MeshLambertMaterial({
      color: LAYER_COLORS[layer] ?? DEFAULT_COLOR,
      side: DoubleSide,
      // The compare page overlays an earlier design on the same surface: pushing it back a
      // little in depth keeps the coloured one in front where the two coincide, instead of
      // the two flickering through each other.
      polygonOffset: layer === "reference",
      polygonOffsetFactor: 1,
      polygonOffsetUnits: 4,
    });
  }

  /**
   * Compile the shaders while the files download, with a one-triangle stand-in: the first
   * frame then only uploads the meshes and draws.
   */
  warmUp() {
    const geometry = new BufferGeometry();
    const triangle = new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0]);
    geometry.setAttribute("position", new BufferAttribute(triangle, 3));
    geometry.setAttribute("normal", new BufferAttribute(new Float32Array([0, 0, 1, 0, 0, 1, 0, 0, 1]), 3));
    const standIn = new Mesh(geometry, this.materialFor("proposal"));
    this.scene.add(standIn);
    this.renderer.compile(this.scene, this.camera);
    this.scene.remove(standIn);
    geometry.dispose();
    // The material stays: disposing it would release the compiled program.
    this.warmMaterial = standIn.material;
  }

  actionButton(name) {
    return this.root.querySelector(`[data-viewer-action="${name}"]`);
  }

  resize() {
    const width = this.stage.clientWidth;
    const height = this.stage.clientHeight;
    if (!width || !height) return;
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  // --- loading --------------------------------------------------------------------------------

  async load() {
    const meshes = this.config.meshes;
    const total = meshes.reduce((sum, mesh) => sum + (mesh.bytes || 0), 0);
    const received = new Map();
    const showProgress = () => {
      const done = [...received.values()].reduce((a, b) => a + b, 0);
      this.progress.max = Math.max(total, done, 1);
      this.progress.value = done;
      this.statusText.textContent = message(this.msg.msgLoading, {
        done: formatBytes(done),
        total: formatBytes(Math.max(total, done)),
      });
    };
    showProgress();
    const parser = meshParser(this.root.dataset.workerUrl);
    let downloaded = 0;
    const finishedDownloading = () => {
      downloaded += 1;
      if (downloaded === meshes.length) {
        this.timing("downloadedMs");
        this.statusText.textContent = this.msg.msgPreparing;
        this.progress.removeAttribute("value"); // an indeterminate bar while parsing
      }
    };
    try {
      const parsed = await Promise.all(
        meshes.map(async (entry) => {
          const mesh = await downloadAndParse(
            entry.url,
            entry.bytes,
            entry.format,
            parser,
            (bytes) => {
              received.set(entry.id, bytes);
              showProgress();
            },
            finishedDownloading,
          );
          return [entry, mesh];
        }),
      );
      this.timing("parsedMs");
      for (const [entry, mesh] of parsed) this.addMesh(entry, mesh);
    } catch (error) {
      console.error("cuspid viewer:", error);
      this.showStatus(this.msg.msgFailed, false, true);
      this.root.dataset.error = "load";
      return;
    }
    this.buildLayerPanel();
    this.fitView();
    this.loadAnnotations();
    this.waitingForFirstFrame = true;
    this.requestRender();
    if (this.config.colorMap) this.loadColorMap(this.config.colorMap);
    if (this.config.labelMap) this.loadLabelMap(this.config.labelMap);
  }

  addMesh(entry, data) {
    const geometry = new BufferGeometry();
    geometry.setAttribute("position", new BufferAttribute(data.positions, 3));
    geometry.setAttribute("normal", new BufferAttribute(data.normals, 3));
    if (data.index) geometry.setIndex(new BufferAttribute(data.index, 1));
    geometry.boundingBox = new Box3(new Vector3(...data.min), new Vector3(...data.max));
    geometry.boundingSphere = geometry.boundingBox.getBoundingSphere(new Sphere());
    const mesh = new Mesh(geometry, this.materialFor(entry.layer));
    mesh.userData = { id: entry.id, layer: entry.layer, label: entry.label, welded: data.welded };
    this.scene.add(mesh);
    this.meshes.set(entry.id, mesh);
    if (!this.layers.has(entry.layer)) {
      this.layers.set(entry.layer, { meshes: [], label: entry.label, visible: true, opacity: 1 });
    }
    const layer = this.layers.get(entry.layer);
    layer.meshes.push(mesh);
    if (layer.meshes.length > 1) layer.label = entry.label.replace(/\s+\d+$/, "");
  }

  showStatus(text, busy, isError = false) {
    this.statusBox.hidden = false;
    this.statusBox.classList.toggle("is-error", isError);
    this.statusText.textContent = text || "";
    this.progress.hidden = !busy;
  }

  timing(name) {
    const all = (window.cuspidViewerTiming = window.cuspidViewerTiming || {});
    const mine = (all[this.root.id || "viewer"] = all[this.root.id || "viewer"] || {
      startMs: this.startedAt,
    });
    mine[name] = performance.now();
    return mine;
  }

  // --- layers ---------------------------------------------------------------------------------

  buildLayerPanel() {
    const list = this.root.querySelector("[data-viewer-layer-list]");
    const template = this.root.querySelector("template[data-viewer-layer-template]");
    if (!list || !template) return;
    list.replaceChildren();
    for (const [name, layer] of this.layers) {
      const row = template.content.firstElementChild.cloneNode(true);
      row.dataset.layer = name;
      const faces = layer.meshes.reduce((sum, mesh) => sum + faceCount(mesh.geometry), 0);
      row.querySelector("[data-layer-label]").textContent = layer.label;
      const count = row.querySelector("[data-layer-faces]");
      if (count) count.textContent = message(this.msg.msgFaces, { faces: faces.toLocaleString() });
      row.querySelector("[data-layer-swatch]")?.classList.add(`viewer-swatch-${name}`);
      const visible = row.querySelector("[data-layer-visible]");
      const opacity = row.querySelector("[data-layer-opacity]");
      const value = row.querySelector("[data-layer-opacity-value]");
      const suffix = `${this.root.id || "viewer"}-${name}`;
      visible.id = `layer-visible-${suffix}`;
      opacity.id = `layer-opacity-${suffix}`;
      row.querySelector("[data-layer-visible-label]")?.setAttribute("for", visible.id);
      row.querySelector("[data-layer-opacity-label]")?.setAttribute("for", opacity.id);
      opacity.setAttribute("aria-label", message(this.msg.msgOpacity, { layer: layer.label }));
      visible.addEventListener("change", () => {
        layer.visible = visible.checked;
        opacity.disabled = !visible.checked;
        this.applyLayer(layer);
      });
      opacity.addEventListener("input", () => {
        layer.opacity = Number(opacity.value) / 100;
        value.textContent = `${opacity.value} %`;
        this.applyLayer(layer);
      });
      list.append(row);
    }
    this.root.querySelector("[data-viewer-layers]")?.removeAttribute("hidden");
  }

  applyLayer(layer) {
    for (const mesh of layer.meshes) {
      mesh.visible = layer.visible && layer.opacity > 0;
      const material = mesh.material;
      material.opacity = layer.opacity;
      material.transparent = layer.opacity < 1;
      material.depthWrite = layer.opacity >= 1;
      material.needsUpdate = true;
      // See-through layers draw after the solid ones.
      mesh.renderOrder = layer.opacity < 1 ? 1 : 0;
    }
    this.requestRender();
  }

  // --- camera ---------------------------------------------------------------------------------

  bounds() {
    const box = new Box3();
    for (const mesh of this.meshes.values()) box.union(mesh.geometry.boundingBox);
    return box;
  }

  fitView() {
    const box = this.bounds();
    this.sceneCenter = box.getCenter(new Vector3());
    this.sceneRadius = Math.max(box.getSize(new Vector3()).length() / 2, 1);
    this.camera.near = this.sceneRadius / 100;
    this.camera.far = this.sceneRadius * 100;
    this.camera.updateProjectionMatrix();
    this.controls.minDistance = this.sceneRadius / 20;
    this.controls.maxDistance = this.sceneRadius * 20;
    this.markerSize = this.sceneRadius / 120;
    this.setView("home", false);
  }

  setView(name, animate) {
    if (!this.sceneCenter) return;
    if (name === "home") {
      const home = this.homeView();
      this.flyTo(home.target, home.position, animate);
      return;
    }
    const direction = new Vector3(...(VIEWS[name] || VIEWS.home)).normalize();
    const position = this.sceneCenter
      .clone()
      .addScaledVector(direction, this.fitDistance(direction, this.bounds(), this.sceneCenter));
    this.flyTo(this.sceneCenter.clone(), position, animate);
  }

  /**
   * The first view: the design proposal seen from outside the arch (its buccal or labial
   * side, a little from above), close enough to judge it and far enough to see its
   * neighbours. A full-arch proposal, or none, is seen from the front.
   */
  homeView() {
    const scene = this.bounds();
    const proposals = this.layers.get("proposal")?.meshes || [];
    const box = new Box3();
    for (const mesh of proposals) box.union(mesh.geometry.boundingBox);
    const sceneSize = scene.getSize(new Vector3());
    const size = box.isEmpty() ? sceneSize : box.getSize(new Vector3());
    const local = !box.isEmpty() && Math.max(size.x, size.y) < 0.6 * Math.max(sceneSize.x, sceneSize.y);
    if (!local) {
      const direction = new Vector3(...VIEWS.home).normalize();
      const distance = this.fitDistance(direction, scene, this.sceneCenter);
      return {
        target: this.sceneCenter.clone(),
        position: this.sceneCenter.clone().addScaledVector(direction, distance),
      };
    }
    const focus = box.getCenter(new Vector3());
    const outwards = new Vector3(focus.x - this.sceneCenter.x, focus.y - this.sceneCenter.y, 0);
    if (outwards.lengthSq() < 1e-6) outwards.set(0, 1, 0);
    const direction = outwards.normalize().add(new Vector3(0, 0, 0.4)).normalize();
    const near = this.fitDistance(direction, box, focus) * 3;
    const distance = Math.min(near, this.fitDistance(direction, scene, focus));
    return { target: focus, position: focus.clone().addScaledVector(direction, distance) };
  }

  /** How far from center the camera must be, looking along -direction, to see all of box. */
  fitDistance(direction, box, center) {
    const up = new Vector3(0, 0, 1);
    const right = new Vector3().crossVectors(up, direction);
    if (right.lengthSq() < 1e-6) right.set(1, 0, 0);
    right.normalize();
    const trueUp = new Vector3().crossVectors(direction, right).normalize();
    const tanY = Math.tan((this.camera.fov * Math.PI) / 360);
    const tanX = tanY * this.camera.aspect;
    let distance = 0;
    for (const x of [box.min.x, box.max.x]) {
      for (const y of [box.min.y, box.max.y]) {
        for (const z of [box.min.z, box.max.z]) {
          const corner = new Vector3(x, y, z).sub(center);
          const depth = corner.dot(direction);
          distance = Math.max(
            distance,
            depth + Math.abs(corner.dot(right)) / tanX,
            depth + Math.abs(corner.dot(trueUp)) / tanY,
          );
        }
      }
    }
    return distance * 1.12;
  }

  flyTo(target, position, animate) {
    if (!animate) {
      this.controls.target.copy(target);
      this.camera.position.copy(position);
      this.controls.update();
      this.requestRender();
      return;
    }
    const from = { target: this.controls.target.clone(), position: this.camera.position.clone() };
    const started = performance.now();
    this.flight = { from, target, position, started };
    this.requestRender();
  }

  stepFlight(now) {
    const flight = this.flight;
    if (!flight) return;
    const t = Math.min(1, (now - flight.started) / FLY_MS);
    const eased = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
    this.controls.target.lerpVectors(flight.from.target, flight.target, eased);
    this.camera.position.lerpVectors(flight.from.position, flight.position, eased);
    this.controls.update();
    if (t >= 1) this.flight = null;
  }

  onKey(event) {
    const controls = this.controls;
    let handled = true;
    switch (event.key) {
      case "ArrowLeft":
        if (event.shiftKey) controls.pan(PAN_STEP, 0);
        else controls.rotateLeft(ROTATE_STEP);
        break;
      case "ArrowRight":
        if (event.shiftKey) controls.pan(-PAN_STEP, 0);
        else controls.rotateLeft(-ROTATE_STEP);
        break;
      case "ArrowUp":
        if (event.shiftKey) controls.pan(0, PAN_STEP);
        else controls.rotateUp(ROTATE_STEP);
        break;
      case "ArrowDown":
        if (event.shiftKey) controls.pan(0, -PAN_STEP);
        else controls.rotateUp(-ROTATE_STEP);
        break;
      case "+":
      case "=":
        controls.zoomToCursor = false;
        controls.dollyOut(ZOOM_STEP); // dollyOut divides the distance: closer
        controls.zoomToCursor = true;
        break;
      case "-":
      case "_":
        controls.zoomToCursor = false;
        controls.dollyIn(ZOOM_STEP);
        controls.zoomToCursor = true;
        break;
      case "0":
      case "Home":
        this.setView("home", true);
        break;
      default:
        handled = false;
    }
    if (handled) {
      event.preventDefault();
      this.requestRender();
    }
  }

  /** The camera's distance to its target, in mm (for tests and the bench). */
  distance() {
    return this.camera.position.distanceTo(this.controls.target);
  }

  // --- rendering ------------------------------------------------------------------------------

  requestRender() {
    if (this.frameRequested || !this.renderer) return;
    this.frameRequested = true;
    requestAnimationFrame((now) => this.renderFrame(now));
  }

  renderFrame(now) {
    this.frameRequested = false;
    this.stepFlight(now);
    const drawStart = performance.now();
    this.renderer.render(this.scene, this.camera);
    this.frames += 1;
    this.lastDrawMs = performance.now() - drawStart;
    this.placeLabels();
    if (this.flight) this.requestRender();
    if (this.waitingForFirstFrame) {
      this.waitingForFirstFrame = false;
      this.whenDrawn(drawStart);
    }
  }

  /**
   * Call firstFrame once the GPU has finished the first frame. A fence is polled rather than
   * read back (readPixels would block the main thread for as long as the GPU works).
   */
  whenDrawn(drawStart) {
    const gl = this.renderer.getContext();
    const fence = gl.fenceSync ? gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0) : null;
    if (!fence) {
      requestAnimationFrame(() => this.firstFrame(performance.now() - drawStart));
      return;
    }
    gl.flush();
    const poll = () => {
      const status = gl.getSyncParameter(fence, gl.SYNC_STATUS);
      if (status === gl.SIGNALED || gl.isContextLost()) {
        gl.deleteSync(fence);
        this.firstFrame(performance.now() - drawStart);
      } else {
        setTimeout(poll, 2);
      }
    };
    poll();
  }

  firstFrame(drawMs) {
    const timing = this.timing("firstRenderMs");
    timing.firstDrawMs = drawMs;
    timing.bytes = this.config.meshes.reduce((sum, mesh) => sum + (mesh.bytes || 0), 0);
    timing.faces = [...this.meshes.values()].reduce(
      (sum, mesh) => sum + faceCount(mesh.geometry),
      0,
    );
    this.statusBox.hidden = true;
    this.rendered = true;
    this.root.dataset.rendered = "true";
    this.root.dispatchEvent(
      new CustomEvent("cuspid:viewer-rendered", { bubbles: true, detail: { ...timing } }),
    );
  }

  // --- picking: measuring and pins ------------------------------------------------------------

  setMode(mode) {
    if (this.mode === "measure" && mode !== "measure") this.clearPending();
    this.mode = mode;
    this.actionButton("measure")?.setAttribute("aria-pressed", String(mode === "measure"));
    this.actionButton("pin")?.setAttribute("aria-pressed", String(mode === "pin"));
    this.root.classList.toggle("is-picking", Boolean(mode));
    const text = mode === "measure" ? this.msg.msgMeasureFirst : mode === "pin" ? this.msg.msgPin : "";
    this.modeBanner.hidden = !text;
    this.modeBanner.textContent = text;
    if (text) this.announce(text);
  }

  /** Escape: drop a half-made measurement, else leave the current mode. */
  cancel() {
    if (this.mode === "measure" && this.measurePoints.length === 1) {
      this.clearPending();
      this.modeBanner.textContent = this.msg.msgMeasureFirst;
      this.announce(this.msg.msgCancelled);
      return true;
    }
    if (this.mode) {
      this.setMode(null);
      this.announce(this.msg.msgCancelled);
      return true;
    }
    return false;
  }

  pick(event) {
    const rect = this.canvas.getBoundingClientRect();
    const pointer = new Vector2(
      ((event.clientX - rect.left) / rect.width) * 2 - 1,
      -((event.clientY - rect.top) / rect.height) * 2 + 1,
    );
    const raycaster = new Raycaster();
    raycaster.setFromCamera(pointer, this.camera);
    const targets = [...this.meshes.values()].filter((mesh) => mesh.visible);
    const [hit] = raycaster.intersectObjects(targets, false);
    return hit || null;
  }

  onClick(event) {
    if (!this.mode || !this.rendered) return;
    const hit = this.pick(event);
    if (!hit) return;
    if (this.mode === "measure") this.addMeasurePoint(hit.point);
    else if (this.mode === "pin") this.placePin(hit);
  }

  dot(point) {
    const dot = new Mesh(
      new SphereGeometry(this.markerSize * 3, 16, 12),
      new MeshBasicMaterial({ color: MEASURE_COLOR, depthTest: false }),
    );
    dot.position.copy(point);
    dot.renderOrder = 10;
    return dot;
  }

  addMeasurePoint(point) {
    if (this.measurePoints.length >= 2) this.clearMeasurement(false);
    this.measurePoints.push(point.clone());
    this.measureObjects.add(this.dot(point));
    if (this.measurePoints.length === 1) {
      this.modeBanner.textContent = this.msg.msgMeasureSecond;
      this.announce(this.msg.msgMeasureSecond);
    } else {
      const [a, b] = this.measurePoints;
      const line = new Line(
        new BufferGeometry().setFromPoints([a, b]),
        new LineBasicMaterial({ color: MEASURE_COLOR, depthTest: false, linewidth: 2 }),
      );
      line.renderOrder = 10;
      this.measureObjects.add(line);
      const mm = a.distanceTo(b).toFixed(2);
      const label = document.createElement("span");
      label.className = "viewer-distance";
      label.dataset.viewerDistance = mm;
      label.textContent = message(this.msg.msgDistance, { mm });
      this.overlay.append(label);
      this.distanceLabel = { element: label, at: a.clone().lerp(b, 0.5) };
      this.modeBanner.textContent = message(this.msg.msgDistanceLive, { mm });
      this.announce(message(this.msg.msgDistanceLive, { mm }));
      const clear = this.actionButton("clear");
      if (clear) clear.hidden = false;
    }
    this.requestRender();
  }

  clearPending() {
    if (this.measurePoints.length === 1) this.clearMeasurement(false);
  }

  clearMeasurement(announce) {
    for (const child of [...this.measureObjects.children]) {
      child.geometry.dispose();
      child.material.dispose();
      this.measureObjects.remove(child);
    }
    this.measurePoints = [];
    this.distanceLabel?.element.remove();
    this.distanceLabel = null;
    const clear = this.actionButton("clear");
    if (clear) clear.hidden = true;
    if (announce) {
      this.announce(this.msg.msgCancelled);
      if (this.mode === "measure") this.modeBanner.textContent = this.msg.msgMeasureFirst;
    }
    this.requestRender();
  }

  placePin(hit) {
    const normal = hit.face
      ? hit.face.normal.clone().transformDirection(hit.object.matrixWorld).normalize()
      : new Vector3(0, 0, 1);
    // A pin sits on the side of the surface the camera looks at.
    const towardsCamera = this.camera.position.clone().sub(hit.point);
    if (normal.dot(towardsCamera) < 0) normal.negate();
    const detail = {
      point: toArray(hit.point),
      normal: toArray(normal),
      attachmentId: hit.object.userData.id,
    };
    this.setMode(null);
    this.pendingPin = { point: hit.point.clone(), normal };
    this.drawMarkers();
    this.announce(this.msg.msgPinPlaced);
    document.dispatchEvent(new CustomEvent("cuspid:pin-placed", { detail }));
  }

  // --- annotations ----------------------------------------------------------------------------

  loadAnnotations() {
    if (!this.renderer || !this.sceneCenter) return;
    const data = loadJson(this.root.dataset.annotationsId);
    this.annotations = Array.isArray(data) ? data : [];
    // A pin the review form has saved comes back in the data: drop the provisional marker.
    if (data) this.pendingPin = null;
    this.drawMarkers();
  }

  drawMarkers() {
    for (const marker of this.markers) marker.element.remove();
    this.markers = [];
    const items = [...(this.annotations || [])];
    for (const item of items) {
      if (!Array.isArray(item.point) || item.point.length !== 3) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "viewer-marker";
      button.textContent = String(item.number);
      button.dataset.number = String(item.number);
      button.setAttribute("aria-label", message(this.msg.msgMarker, { number: item.number }));
      if (item.text) button.title = item.text;
      button.addEventListener("click", () => {
        document.dispatchEvent(
          new CustomEvent("cuspid:annotation-focus", { detail: { number: item.number } }),
        );
      });
      this.overlay.append(button);
      const normal = new Vector3(...(item.normal || [0, 0, 1]));
      this.markers.push({ element: button, at: new Vector3(...item.point), normal, item });
    }
    if (this.pendingPin) {
      const span = document.createElement("span");
      span.className = "viewer-marker viewer-marker-pending";
      span.textContent = "+";
      this.overlay.append(span);
      this.markers.push({ element: span, at: this.pendingPin.point, normal: this.pendingPin.normal });
    }
    this.requestRender();
  }

  showAnnotation(number) {
    const marker = this.markers.find((m) => m.item && m.item.number === Number(number));
    if (!marker) return;
    for (const m of this.markers) m.element.classList.toggle("is-current", m === marker);
    const distance = Math.min(Math.max(this.sceneRadius * 0.9, 20), this.distance());
    const position = marker.at.clone().addScaledVector(marker.normal.clone().normalize(), distance);
    this.flyTo(marker.at.clone(), position, true);
  }

  placeLabels() {
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    const view = this.camera.position;
    const project = (point) => {
      const p = point.clone().project(this.camera);
      return { x: (p.x * 0.5 + 0.5) * width, y: (-p.y * 0.5 + 0.5) * height, z: p.z };
    };
    for (const marker of this.markers) {
      const p = project(marker.at);
      const hidden = p.z > 1 || p.x < 0 || p.y < 0 || p.x > width || p.y > height;
      marker.element.hidden = hidden;
      const facing = marker.normal.dot(view.clone().sub(marker.at)) >= 0;
      marker.element.classList.toggle("is-behind", !facing);
      marker.element.style.transform = `translate(${p.x}px, ${p.y}px)`;
    }
    if (this.distanceLabel) {
      const p = project(this.distanceLabel.at);
      this.distanceLabel.element.hidden = p.z > 1;
      this.distanceLabel.element.style.transform = `translate(${p.x}px, ${p.y}px)`;
    }
  }

  // --- colour map -----------------------------------------------------------------------------

  // Values given per vertex of the file in loader order, as the mesh's own vertices: an STL
  // the viewer welded gets one value per corner of the file's facets, and each welded vertex
  // takes its corners' value (the same point, so the same value).
  perVertex(mesh, values, ArrayType) {
    const geometry = mesh.geometry;
    const count = geometry.attributes.position.count;
    if (mesh.userData.welded && values.length === geometry.index.count) {
      const perVertex = new ArrayType(count);
      const index = geometry.index.array;
      for (let corner = 0; corner < index.length; corner += 1) {
        perVertex[index[corner]] = values[corner];
      }
      return perVertex;
    }
    if (values.length !== count) {
      throw new Error(`the map has ${values.length} values for ${count} vertices`);
    }
    return values;
  }

  paint(mesh, colors) {
    mesh.geometry.setAttribute("color", new BufferAttribute(colors, 3));
    mesh.material.vertexColors = true;
    mesh.material.color.set(0xffffff);
    mesh.material.needsUpdate = true;
  }

  async loadColorMap({ meshId, url, maxMm }) {
    const mesh = this.meshes.get(meshId);
    if (!mesh) return;
    try {
      const buffer = await download(url, 0, () => {});
      const distances = this.perVertex(mesh, new Float32Array(buffer), Float32Array);
      this.paint(mesh, vertexColors(distances, maxMm, srgbToLinear));
      this.showLegend(maxMm);
      this.root.dataset.colorMap = "true";
      this.requestRender();
    } catch (error) {
      console.error("cuspid viewer:", error);
      this.root.dataset.colorMap = "error";
    }
  }

  async loadLabelMap({ meshId, url }) {
    const mesh = this.meshes.get(meshId);
    if (!mesh) return;
    try {
      const buffer = await download(url, 0, () => {});
      const labels = this.perVertex(mesh, new Uint8Array(buffer), Uint8Array);
      this.paint(mesh, labelColors(labels, srgbToLinear));
      this.showTeethLegend(teethPresent(labels));
      this.root.dataset.labelMap = "true";
      this.requestRender();
    } catch (error) {
      console.error("cuspid viewer:", error);
      this.root.dataset.labelMap = "error";
    }
  }

  showTeethLegend(teeth) {
    const legend = this.root.querySelector("[data-viewer-teeth]");
    const list = this.root.querySelector("[data-viewer-teeth-list]");
    if (!legend || !list) return;
    list.replaceChildren(
      ...teeth.map((tooth) => {
        const item = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "viewer-swatch";
        const [r, g, b] = toothColor(tooth);
        swatch.style.backgroundColor = `rgb(${Math.round(r * 255)}, ${Math.round(g * 255)}, ${Math.round(b * 255)})`;
        item.append(swatch, document.createTextNode(String(tooth)));
        return item;
      }),
    );
    legend.hidden = false;
  }

  showLegend(maxMm) {
    const legend = this.root.querySelector("[data-viewer-legend]");
    const ticks = this.root.querySelector("[data-viewer-legend-ticks]");
    if (!legend || !ticks) return;
    const values = [-maxMm, -maxMm / 2, 0, maxMm / 2, maxMm];
    ticks.replaceChildren(
      ...values.map((value) => {
        const tick = document.createElement("span");
        const shown = Math.abs(value) < 1e-9 ? "0" : value.toFixed(Math.abs(value) < 1 ? 2 : 1);
        tick.textContent = value > 0 ? `+${shown}` : shown;
        return tick;
      }),
    );
    legend.hidden = false;
  }

  // --- speech ---------------------------------------------------------------------------------

  announce(text) {
    if (this.live) this.live.textContent = text || "";
  }
}
