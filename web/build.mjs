// Copy the built browser files the server serves into app/api/static/vendor.
// Run from this folder: `npm ci && npm run build` (see README "The web playground").
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "app", "api", "static", "vendor");
const files = {
  "wavesurfer.js/dist/wavesurfer.esm.js": "wavesurfer.esm.js",
  "wavesurfer.js/dist/plugins/regions.esm.js": "regions.esm.js",
  "wavesurfer.js/dist/plugins/spectrogram.esm.js": "spectrogram.esm.js",
  "wavesurfer.js/LICENSE": "LICENSE.wavesurfer.txt",
  "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui-bundle.js",
  "swagger-ui-dist/swagger-ui.css": "swagger-ui.css",
  "swagger-ui-dist/LICENSE": "LICENSE.swagger-ui.txt",
  "redoc/bundles/redoc.standalone.js": "redoc.standalone.js",
  "redoc/LICENSE": "LICENSE.redoc.txt",
};
mkdirSync(out, { recursive: true });
const versions = {};
for (const [src, dst] of Object.entries(files)) {
  copyFileSync(join(here, "node_modules", src), join(out, dst));
}
// ReDoc's sidebar credit loads its logo from the vendor's CDN; serve ours so the page stays offline.
const redoc = join(out, "redoc.standalone.js");
const patched = readFileSync(redoc, "utf8").replace(/https:\/\/cdn\.redoc\.ly\/redoc\/logo-mini\.svg/g, "/static/favicon.svg");
if (/https:\/\/cdn\./.test(patched)) throw new Error("redoc.standalone.js still names a CDN asset");
writeFileSync(redoc, patched);
for (const pkg of ["wavesurfer.js", "swagger-ui-dist", "redoc"]) {
  const meta = JSON.parse(readFileSync(join(here, "node_modules", pkg, "package.json"), "utf8"));
  versions[pkg] = { version: meta.version, license: meta.license };
}
writeFileSync(join(out, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(`copied ${Object.keys(files).length} files to ${out}`);
