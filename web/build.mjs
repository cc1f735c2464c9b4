// Builds the app into dist/: dist/index.html and content-hashed assets under
// dist/assets/. The edge serves exactly these files (services/edge/webapp.py):
// index.html is never cached, the hashed assets forever.
// The output depends only on the sources and the locked tool versions, so
// `make web-check` can rebuild it and compare it with the committed dist/.
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, process.argv[2] ?? "dist");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });

const result = await build({
  entryPoints: [join(root, "src/main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome100", "firefox100", "safari15"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.endsWith(".js"));
const style = outputs.find((name) => name.endsWith(".css"));
if (!script || !style) throw new Error(`unexpected outputs: ${outputs.join(", ")}`);

const page = readFileSync(join(root, "src/index.html"), "utf8")
  .replace("{{script}}", `/assets/${script}`)
  .replace("{{style}}", `/assets/${style}`);
writeFileSync(join(out, "index.html"), page);
