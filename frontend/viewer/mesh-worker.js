// The Web Worker that parses meshes off the main thread, so that a 200,000-triangle scan does
// not freeze the page.
//
// Messages in:
//   { id, buffer: ArrayBuffer, format }         a whole file
//   { id, begin: true, format, size }           a file that is still downloading, then
//   { id, chunk: ArrayBuffer }                  each piece as it arrives (transferred), then
//   { id, end: true }
// A binary STL that comes in pieces is parsed piece by piece (parse.js, StlStream); any other
// file is parsed once its last piece is in.
// Messages out: { ready: true } once, when this script has loaded; then { id, mesh } (see
// parse.js; its buffers are transferred, not copied) or { id, error }.
import { parseMesh, StlStream, transferables } from "./parse.js";

const open = new Map();

function answer(id, parse) {
  try {
    const mesh = parse();
    self.postMessage({ id, mesh }, transferables(mesh));
  } catch (error) {
    self.postMessage({ id, error: String(error && error.message ? error.message : error) });
  }
}

function joined(chunks) {
  const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes.buffer;
}

self.addEventListener("message", (event) => {
  const { id } = event.data;
  if (event.data.buffer) {
    answer(id, () => parseMesh(event.data.buffer, event.data.format));
  } else if (event.data.begin) {
    const { format, size } = event.data;
    const stream = !format || format === "stl" ? new StlStream(size) : null;
    open.set(id, { format, stream, chunks: [] });
  } else if (event.data.chunk) {
    const file = open.get(id);
    if (!file) return;
    const bytes = new Uint8Array(event.data.chunk);
    try {
      file.stream?.push(bytes);
    } catch (error) {
      file.failed = error;
    }
    // Kept only until the stream knows it can do without them.
    if (!file.stream || !file.stream.streaming || !file.stream.welder) file.chunks.push(bytes);
    else file.chunks = [];
  } else if (event.data.end) {
    const file = open.get(id);
    open.delete(id);
    if (!file) return;
    answer(id, () => {
      if (file.failed) throw file.failed;
      if (file.stream && file.stream.streaming) return file.stream.finish();
      return parseMesh(joined(file.chunks), file.format);
    });
  }
});

self.postMessage({ ready: true });
