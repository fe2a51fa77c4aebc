// Build step: place the npm-installed front-end libraries under static/dist/vendor so Django's
// staticfiles (and whitenoise) serve them. Nothing third-party is committed to git.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "static", "dist", "vendor");

const files = [
  ["htmx.org/dist/htmx.min.js", "htmx.min.js"],
  ["three/build/three.module.js", "three/three.module.js"],
  ["three/build/three.core.js", "three/three.core.js"],
];

rmSync(out, { recursive: true, force: true });
for (const [source, target] of files) {
  const destination = join(out, target);
  mkdirSync(dirname(destination), { recursive: true });
  copyFileSync(join(root, "node_modules", source), destination);
}
const versions = Object.fromEntries(
  ["htmx.org", "three"].map((name) => [
    name,
    JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version,
  ]),
);
console.log(`static/dist/vendor: ${files.length} files from`, versions);
