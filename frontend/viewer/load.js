// Downloading mesh files with progress, and parsing them in the Web Worker.
import { parseMesh } from "./parse.js";

/**
 * Fetch url (same origin, with the session cookie) and read its body as it streams in,
 * calling onProgress(bytesSoFar) after every chunk. Resolves to an ArrayBuffer.
 * expectedBytes (from the viewer's config) lets the buffer be allocated once.
 */
export async function download(url, expectedBytes, onProgress) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) {
    throw new Error(`download failed: ${response.status}`);
  }
  return collect(response, expectedBytes, onProgress);
}

/**
 * Fetch a mesh file and hand each piece to a parse job as it arrives (the Web Worker parses a
 * binary STL while the rest is still downloading). onProgress(bytesSoFar) after each piece,
 * onDownloaded() once the last byte is in. Resolves to the parsed mesh.
 */
export async function downloadAndParse(url, expectedBytes, format, parser, onProgress, onDownloaded) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) {
    throw new Error(`download failed: ${response.status}`);
  }
  const header = Number(response.headers.get("Content-Length"));
  const size = header > 0 ? header : expectedBytes;
  if (!parser.worker || !response.body || !response.body.getReader || !(size > 0)) {
    const buffer = await collect(response, expectedBytes, onProgress);
    onDownloaded();
    return parser.parse(buffer, format);
  }
  const job = parser.open(format, size);
  const reader = response.body.getReader();
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.length;
    job.push(value);
    onProgress(received);
  }
  onDownloaded();
  return job.end();
}

async function collect(response, expectedBytes, onProgress) {
  const header = Number(response.headers.get("Content-Length"));
  const total = header > 0 ? header : expectedBytes;
  if (!response.body || !response.body.getReader) {
    const buffer = await response.arrayBuffer();
    onProgress(buffer.byteLength);
    return buffer;
  }
  const reader = response.body.getReader();
  let target = total > 0 ? new Uint8Array(total) : null;
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (target && received + value.length <= target.length) {
      target.set(value, received);
    } else {
      // More than announced: fall back to collecting the chunks.
      if (target) {
        chunks.push(target.subarray(0, received));
        target = null;
      }
      chunks.push(value);
    }
    received += value.length;
    onProgress(received);
  }
  if (target) {
    return received === target.length ? target.buffer : target.slice(0, received).buffer;
  }
  const joined = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return joined.buffer;
}

/**
 * Parses mesh files in one Web Worker shared by every viewer of the page. The worker says
 * "ready" once its script has loaded; files wait for that, then go to it transferred (not
 * copied). A worker that cannot start (or stops) leaves the parsing to the main thread, one
 * file at a time after yielding to the browser.
 */
export class MeshParser {
  constructor(workerUrl) {
    this.pending = new Map();
    this.queue = [];
    this.nextId = 1;
    this.worker = null;
    this.ready = false;
    if (workerUrl && typeof Worker !== "undefined") {
      try {
        this.worker = new Worker(workerUrl);
        this.worker.addEventListener("message", (event) => this.receive(event.data));
        this.worker.addEventListener("error", (event) => {
          event.preventDefault();
          this.giveUp();
        });
      } catch {
        this.worker = null;
      }
    }
  }

  receive(data) {
    if (data.ready) {
      this.ready = true;
      for (const item of this.queue.splice(0)) {
        if (item.message) this.worker.postMessage(item.message, item.transfer);
        else this.send(item);
      }
      return;
    }
    const job = this.pending.get(data.id);
    if (!job) return;
    this.pending.delete(data.id);
    if (data.error) job.reject(new Error(data.error));
    else job.resolve(data.mesh);
  }

  giveUp() {
    // Files already handed over are lost with the worker (their buffers moved there).
    this.worker = null;
    for (const job of this.pending.values()) job.reject(new Error("the mesh worker stopped"));
    this.pending.clear();
    for (const item of this.queue.splice(0)) if (!item.message) this.parseHere(item);
  }

  send(job) {
    this.pending.set(job.id, job);
    this.worker.postMessage({ id: job.id, buffer: job.buffer, format: job.format }, [job.buffer]);
  }

  parseHere(job) {
    setTimeout(() => {
      try {
        job.resolve(parseMesh(job.buffer, job.format));
      } catch (error) {
        job.reject(error);
      }
    }, 0);
  }

  /**
   * A file to parse while it downloads: push(Uint8Array) each piece, then end() resolves to
   * the parsed mesh. Only with a worker (downloadAndParse checks).
   */
  open(format, size) {
    const id = this.nextId++;
    const post = (message, transfer) => {
      if (!this.worker) return;
      if (this.ready) this.worker.postMessage(message, transfer);
      else this.queue.push({ message, transfer });
    };
    post({ id, begin: true, format, size }, []);
    return {
      push: (bytes) => {
        // A copy of just this piece, moved to the worker without a second copy.
        const piece = bytes.slice();
        post({ id, chunk: piece.buffer }, [piece.buffer]);
      },
      end: () =>
        new Promise((resolve, reject) => {
          if (!this.worker) {
            reject(new Error("the mesh worker stopped"));
            return;
          }
          this.pending.set(id, { id, resolve, reject });
          post({ id, end: true }, []);
        }),
    };
  }

  /** Resolves to parse.js's mesh object; the buffer is handed over (do not use it after). */
  parse(buffer, format) {
    return new Promise((resolve, reject) => {
      const job = { id: this.nextId++, buffer, format, resolve, reject };
      if (!this.worker) this.parseHere(job);
      else if (this.ready) this.send(job);
      else this.queue.push(job);
    });
  }
}

let shared = null;

/** The page's one MeshParser. */
export function meshParser(workerUrl) {
  if (!shared) shared = new MeshParser(workerUrl);
  return shared;
}
