// Builds the browser bundle that the Python package serves at /static/tickcast-client.js
// (one ES module: the client, the arena and their dependencies; no Node at run time).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("..", import.meta.url));
export const bundlePath = `${here}../../src/tickcast/http/static/tickcast-client.js`;

export async function bundle(outfile = bundlePath) {
  await build({
    entryPoints: [`${here}src/browser.ts`],
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    minify: true,
    legalComments: "inline",
    banner: { js: "// tickcast-client browser bundle: built by clients/js (npm run build); do not edit." },
    outfile,
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle(process.argv[2]);
