// Builds static/ (vendored, committed) from src/: `npm ci && npm run build`. No network at run time.
import { build } from "esbuild";
import { writeFileSync } from "node:fs";

await build({
  entryPoints: ["src/index.jsx"], bundle: true, minify: true, outdir: "static", entryNames: "canvas",
  jsx: "automatic", loader: { ".js": "jsx" }, target: ["chrome100", "firefox100", "safari15"],
  define: { "process.env.NODE_ENV": '"production"' }, legalComments: "linked", logLevel: "info",
});
writeFileSync("static/index.html", `<!doctype html>
<html><head><meta charset="utf-8"><title>LayerLab canvas</title>
<link rel="stylesheet" href="./canvas.css"></head>
<body><div id="root"></div><script src="./canvas.js"></script></body></html>
`);
