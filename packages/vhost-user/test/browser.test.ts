// The package in a browser-like context: bundled by esbuild for the browser platform and run in a
// fresh V8 context with no Node globals, as the codec rule asks.
import { build } from "esbuild";
import { runInNewContext } from "node:vm";
import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url));
const example = `
import { VhostUserFramer, decodeVhostUserMessage, encodeVhostUserMessage, vhostUserFdCount, isVhostUserError } from ${JSON.stringify(entry)};
const table = { request: "SET_MEM_TABLE", payload: { type: "memory-table", regions: [{ guestAddress: 0n, size: 0x8000000n, userAddress: 0x7f0000000000n, mmapOffset: 0n }] } };
const bytes = encodeVhostUserMessage(table);
const [frame] = new VhostUserFramer().push(bytes, vhostUserFdCount(table));
const m = decodeVhostUserMessage(frame.bytes, frame.fdCount);
console.log(m.request + " regions " + m.payload.regions.length + " fds " + m.fdCount);
try { decodeVhostUserMessage(bytes, 0); } catch (e) { console.log("error " + (isVhostUserError(e) ? e.code : "unexpected")); }
`;

describe("@microvm/vhost-user in a browser-like context", () => {
  it("bundles for the browser platform and runs without Node globals", async () => {
    const out = await build({ stdin: { contents: example, resolveDir: dirname(entry), loader: "ts" }, bundle: true, platform: "browser", format: "iife", write: false, logLevel: "silent" });
    const code = out.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["']node:/);
    expect(code).not.toMatch(/\bBuffer\b|\bprocess\b/);
    const lines: string[] = [];
    runInNewContext(code, { console: { log: (s: string) => lines.push(s) } }, { timeout: 10_000 });
    expect(lines).toEqual(["SET_MEM_TABLE regions 1 fds 1", "error fd-count"]);
  });
});
