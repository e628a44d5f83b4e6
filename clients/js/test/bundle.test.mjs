// The committed browser bundle is what the sources build (rebuild with `npm run build`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundle, bundlePath } from "../scripts/bundle.mjs";

test("src/tickcast/http/static/tickcast-client.js is up to date", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tickcast-bundle-"));
  try {
    const fresh = join(dir, "bundle.js");
    await bundle(fresh);
    assert.ok(readFileSync(fresh).equals(readFileSync(bundlePath)),
      "the committed bundle differs from a fresh build: run `npm run build` in clients/js and commit it");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
