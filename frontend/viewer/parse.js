// Mesh parsing, shared by the Web Worker (mesh-worker.js) and the main-thread fallback.
//
// parseMesh(buffer, format) turns the bytes of an STL (binary or text), PLY or OBJ file into
// plain typed arrays that can be transferred between threads without copying:
//   { positions: Float32Array, normals: Float32Array, index: Uint32Array | null,
//     welded: bool, min: [x, y, z], max: [x, y, z], vertices: number, faces: number }
// A triangle soup (STL, OBJ: every facet repeats its corners) is welded into shared vertices;
// then index[i] is the vertex that corner i of the loader's order became (a binary STL: three
// corners per facet, in file order), which is how a distance colour map given in loader order
// finds its vertices.
import { BufferGeometry, Float32BufferAttribute, Uint32BufferAttribute } from "three";
import { OBJLoader } from "three/addons/loaders/OBJLoader.js";
import { PLYLoader } from "three/addons/loaders/PLYLoader.js";
import { STLLoader } from "three/addons/loaders/STLLoader.js";

const decoder = new TextDecoder();

/** "stl", "ply" or "obj", from the first bytes when the server did not say. */
export function sniffFormat(buffer) {
  const head = decoder.decode(new Uint8Array(buffer, 0, Math.min(buffer.byteLength, 256)));
  if (head.startsWith("ply")) return "ply";
  if (buffer.byteLength >= 84) {
    const faces = new DataView(buffer).getUint32(80, true);
    if (84 + faces * 50 === buffer.byteLength) return "stl";
  }
  if (/^\s*solid/.test(head)) return "stl";
  return "obj";
}

function objGeometry(text) {
  // An OBJ may hold several objects: merge their triangles into one non-indexed geometry.
  const group = new OBJLoader().parse(text);
  const parts = [];
  group.traverse((child) => {
    if (child.isMesh) {
      const geometry = child.geometry.index ? child.geometry.toNonIndexed() : child.geometry;
      parts.push(geometry);
    }
  });
  const count = parts.reduce((sum, part) => sum + part.attributes.position.count, 0);
  const positions = new Float32Array(count * 3);
  let offset = 0;
  let withNormals = parts.length > 0;
  for (const part of parts) {
    positions.set(part.attributes.position.array, offset);
    offset += part.attributes.position.array.length;
    withNormals = withNormals && Boolean(part.attributes.normal);
  }
  const merged = new BufferGeometry();
  merged.setAttribute("position", new Float32BufferAttribute(positions, 3));
  if (withNormals) {
    const normals = new Float32Array(count * 3);
    offset = 0;
    for (const part of parts) {
      normals.set(part.attributes.normal.array, offset);
      offset += part.attributes.normal.array.length;
    }
    merged.setAttribute("normal", new Float32BufferAttribute(normals, 3));
  }
  return merged;
}

function geometryOf(buffer, format) {
  switch (format || sniffFormat(buffer)) {
    case "stl":
      return new STLLoader().parse(buffer);
    case "ply":
      return new PLYLoader().parse(buffer);
    default:
      return objGeometry(decoder.decode(buffer));
  }
}

/**
 * Welds the corners of a triangle soup that share exactly the same coordinates (an STL repeats
 * every vertex for each of its facets), corner by corner: add() takes a corner's x, y and z as
 * the bits of their float32 values and returns the vertex it became. Drawing the welded mesh
 * shades each vertex once instead of about six times, and allows smooth normals.
 */
class Welder {
  constructor(corners) {
    let size = 1;
    while (size < corners * 2) size <<= 1;
    this.mask = size - 1;
    this.table = new Int32Array(size).fill(-1);
    this.bits = new Uint32Array(corners * 3); // the distinct vertices, bit for bit
    this.index = new Uint32Array(corners);
    this.corners = 0;
    this.count = 0;
  }

  add(x, y, z) {
    const { table, bits, mask } = this;
    let slot = (Math.imul(x, 73856093) ^ Math.imul(y, 19349663) ^ Math.imul(z, 83492791)) & mask;
    for (;;) {
      const found = table[slot];
      if (found === -1) {
        const vertex = this.count;
        table[slot] = vertex;
        bits[vertex * 3] = x;
        bits[vertex * 3 + 1] = y;
        bits[vertex * 3 + 2] = z;
        this.count += 1;
        this.index[this.corners++] = vertex;
        return vertex;
      }
      const at = found * 3;
      if (bits[at] === x && bits[at + 1] === y && bits[at + 2] === z) {
        this.index[this.corners++] = found;
        return found;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** { positions, index }: the distinct vertices, and for every corner added, its vertex. */
  result() {
    const positions = new Float32Array(this.bits.buffer, 0, this.count * 3).slice();
    return { positions, index: this.index.subarray(0, this.corners) };
  }
}

/** Weld a whole triangle soup (Float32Array of corners): see Welder. */
export function weld(soup) {
  const bits = new Uint32Array(soup.buffer, soup.byteOffset, soup.length);
  const welder = new Welder(soup.length / 3);
  for (let i = 0; i < bits.length; i += 3) welder.add(bits[i], bits[i + 1], bits[i + 2]);
  return welder.result();
}

function described(geometry, welded) {
  if (!geometry.attributes.normal) geometry.computeVertexNormals();
  const positions = geometry.attributes.position.array;
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < positions.length; i += 3) {
    for (let axis = 0; axis < 3; axis += 1) {
      const value = positions[i + axis];
      if (value < min[axis]) min[axis] = value;
      if (value > max[axis]) max[axis] = value;
    }
  }
  const indices = geometry.index ? geometry.index.array : null;
  const index = indices && !(indices instanceof Uint32Array) ? Uint32Array.from(indices) : indices;
  const normals = geometry.attributes.normal.array;
  return {
    positions: positions instanceof Float32Array ? positions : Float32Array.from(positions),
    normals: normals instanceof Float32Array ? normals : Float32Array.from(normals),
    index,
    min,
    max,
    welded,
    vertices: positions.length / 3,
    faces: index ? index.length / 3 : positions.length / 9,
  };
}

function weldedGeometry({ positions, index }, normals = null) {
  const geometry = new BufferGeometry();
  geometry.setAttribute("position", new Float32BufferAttribute(positions, 3));
  if (normals) geometry.setAttribute("normal", new Float32BufferAttribute(normals, 3));
  geometry.setIndex(new Uint32BufferAttribute(index, 1));
  return geometry;
}

/** Parse one mesh file; throws an Error when the bytes are not a mesh. */
export function parseMesh(buffer, format) {
  const geometry = geometryOf(buffer, format);
  const position = geometry.attributes.position;
  if (!position || position.count < 3) {
    throw new Error("no triangles");
  }
  if (geometry.index) return described(geometry, false);
  // A triangle soup (STL, OBJ): welded and shaded smoothly. The index keeps the soup's corner
  // order, which a distance colour map is given in.
  return described(weldedGeometry(weld(position.array)), true);
}

const STL_HEAD = 84;
const STL_RECORD = 50;

/**
 * A binary STL parsed while it downloads: push() each chunk as it arrives, finish() at the
 * end. The facets are welded as they come, so that little is left to do once the last byte is
 * in. `streaming` turns false when the first 84 bytes and the announced size do not describe
 * a binary STL (a text STL, another format): the caller then parses the whole file at the end.
 */
export class StlStream {
  constructor(size) {
    this.size = size;
    this.head = new Uint8Array(STL_HEAD);
    this.headLength = 0;
    this.carry = new Uint8Array(STL_RECORD);
    this.carryLength = 0;
    this.streaming = size > STL_HEAD;
    this.welder = null;
    this.faces = 0;
    this.face = 0;
    this.normals = null;
    this.corner = new Float64Array(9);
    this.ids = new Uint32Array(3);
  }

  push(bytes) {
    if (!this.streaming) return;
    let offset = 0;
    if (this.headLength < STL_HEAD) {
      const take = Math.min(STL_HEAD - this.headLength, bytes.length);
      this.head.set(bytes.subarray(0, take), this.headLength);
      this.headLength += take;
      offset = take;
      if (this.headLength < STL_HEAD) return;
      this.faces = new DataView(this.head.buffer).getUint32(80, true);
      if (STL_HEAD + this.faces * STL_RECORD !== this.size || this.faces === 0) {
        this.streaming = false;
        return;
      }
      this.welder = new Welder(this.faces * 3);
      // Each vertex's normal: the sum of its facets' area-weighted normals, as they come.
      this.normals = new Float32Array(this.faces * 9);
    }
    if (this.carryLength > 0) {
      const take = Math.min(STL_RECORD - this.carryLength, bytes.length - offset);
      this.carry.set(bytes.subarray(offset, offset + take), this.carryLength);
      this.carryLength += take;
      offset += take;
      if (this.carryLength < STL_RECORD) return;
      this.record(new DataView(this.carry.buffer), 0);
      this.carryLength = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (offset + STL_RECORD <= bytes.length) {
      this.record(view, offset);
      offset += STL_RECORD;
    }
    if (offset < bytes.length) {
      this.carry.set(bytes.subarray(offset), 0);
      this.carryLength = bytes.length - offset;
    }
  }

  record(view, offset) {
    if (this.face >= this.faces) throw new Error("more facets than the header says");
    const p = this.corner;
    const ids = this.ids;
    for (let corner = 0; corner < 3; corner += 1) {
      const at = offset + 12 + corner * 12;
      ids[corner] = this.welder.add(
        view.getUint32(at, true),
        view.getUint32(at + 4, true),
        view.getUint32(at + 8, true),
      );
      p[corner * 3] = view.getFloat32(at, true);
      p[corner * 3 + 1] = view.getFloat32(at + 4, true);
      p[corner * 3 + 2] = view.getFloat32(at + 8, true);
    }
    const ux = p[3] - p[0];
    const uy = p[4] - p[1];
    const uz = p[5] - p[2];
    const vx = p[6] - p[0];
    const vy = p[7] - p[1];
    const vz = p[8] - p[2];
    const nx = uy * vz - uz * vy;
    const ny = uz * vx - ux * vz;
    const nz = ux * vy - uy * vx;
    const normals = this.normals;
    for (let corner = 0; corner < 3; corner += 1) {
      const at = ids[corner] * 3;
      normals[at] += nx;
      normals[at + 1] += ny;
      normals[at + 2] += nz;
    }
    this.face += 1;
  }

  /** The parsed mesh (as parseMesh's); throws when the file ended early. */
  finish() {
    if (this.face !== this.faces || this.carryLength !== 0) throw new Error("truncated STL");
    const welded = this.welder.result();
    const normals = this.normals.subarray(0, welded.positions.length);
    for (let i = 0; i < normals.length; i += 3) {
      const length = Math.hypot(normals[i], normals[i + 1], normals[i + 2]) || 1;
      normals[i] /= length;
      normals[i + 1] /= length;
      normals[i + 2] /= length;
    }
    return described(weldedGeometry(welded, normals.slice()), true);
  }
}

/** The buffers of a parsed mesh, to transfer rather than copy. */
export function transferables(mesh) {
  const list = [mesh.positions.buffer, mesh.normals.buffer];
  if (mesh.index) list.push(mesh.index.buffer);
  return list;
}
