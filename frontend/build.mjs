// Build step (`npm run build`, called by `make install`): everything goes under static/dist,
// which is gitignored, so nothing third-party is committed.
//
// 1. The npm-installed libraries the pages load as they are: static/dist/vendor.
// 2. The 3D viewer (frontend/viewer), bundled with three.js and its addons by esbuild:
//    static/dist/viewer/viewer.js (an ES module the viewer partial loads) and
//    static/dist/viewer/mesh-worker.js (the Web Worker that parses meshes off the main thread).
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "static", "dist");
const vendor = join(dist, "vendor");
const viewer = join(dist, "viewer");

const files = [
  ["htmx.org/dist/htmx.min.js", "htmx.min.js"],
  ["three/build/three.module.js", "three/three.module.js"],
  ["three/build/three.core.js", "three/three.core.js"],
];

rmSync(vendor, { recursive: true, force: true });
for (const [source, target] of files) {
  const destination = join(vendor, target);
  mkdirSync(dirname(destination), { recursive: true });
  copyFileSync(join(root, "node_modules", source), destination);
}
const versions = Object.fromEntries(
  ["htmx.org", "three", "esbuild"].map((name) => [
    name,
    JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version,
  ]),
);
console.log(`static/dist/vendor: ${files.length} files from`, versions);

rmSync(viewer, { recursive: true, force: true });
const common = {
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ["es2020"],
  legalComments: "linked",
  logLevel: "warning",
};
await Promise.all([
  build({
    ...common,
    entryPoints: [join(root, "frontend", "viewer", "main.js")],
    outfile: join(viewer, "viewer.js"),
    format: "esm",
  }),
  build({
    ...common,
    entryPoints: [join(root, "frontend", "viewer", "mesh-worker.js")],
    outfile: join(viewer, "mesh-worker.js"),
    format: "iife",
  }),
]);
console.log("static/dist/viewer: viewer.js, mesh-worker.js (esbuild)");
