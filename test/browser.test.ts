// The codec packages run outside Node: each one's example (test/browser/<name>.example.ts) is
// bundled by esbuild for the browser platform against the package's built ESM output (a Node
// built-in import fails the bundle), then run in a fresh V8 context whose only globals are the
// ones docs/architecture.md §1 allows (TextEncoder, TextDecoder, crypto.getRandomValues) and console.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { webcrypto } from "node:crypto";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { codecPackages, ensureBuilt, root } from "./build.ts";

beforeAll(() => ensureBuilt(), 600_000);

async function bundle(name: string): Promise<string> {
  const alias = Object.fromEntries(codecPackages.map((n) => [`@microvm/${n}`, join(root, "packages", n, "dist", "index.js")]));
  const result = await build({
    entryPoints: [join(root, "test", "browser", `${name}.example.ts`)],
    bundle: true,
    platform: "browser",
    format: "iife",
    target: "es2022",
    write: false,
    alias,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

function runIsolated(code: string): string[] {
  const lines: string[] = [];
  const sandbox = {
    console: { log: (...a: unknown[]) => lines.push(...a.map(String).join(" ").split("\n")) },
    TextEncoder,
    TextDecoder,
    crypto: { getRandomValues: <T extends ArrayBufferView>(a: T): T => webcrypto.getRandomValues(a as never) },
  };
  runInNewContext(code, sandbox, { timeout: 10_000 });
  return lines;
}

describe.each(codecPackages)("@microvm/%s in a browser-like context", (name) => {
  it("has an example", () => {
    expect(existsSync(join(root, "test", "browser", `${name}.example.ts`))).toBe(true);
  });

  it("bundles for the browser platform and runs without Node globals", async () => {
    const code = await bundle(name);
    expect(code).not.toMatch(/require\(["']node:/);
    const out = runIsolated(code);
    expect(out.length).toBeGreaterThan(0);
    expect(out.join("\n")).not.toMatch(/unexpected/);
    if (name === "mptable") {
      expect(out).toContain("Processors: 2");
      expect(out).toContain("error too-many-cpus");
      expect(out).toContain(`bytes ${16 + 44 + 2 * 20 + 8 + 8 + 16 * 8 + 2 * 8}`);
    }
    if (name === "virtio-mmio") {
      expect(out).toContain("magic 0x74726976 version 2 device 4");
      expect(out).toContain("features ok true");
      expect(out).toContain("used 1 len 32 interrupts 1 random true");
      expect(out).toContain("error out-of-bounds");
    }
    if (name === "errors") expect(out).toEqual(["error out-of-range sectors: sectors: expected 1..2048, got 0", "another copy true", "unknown code false"]);
    if (name === "pvh") expect(out.join("\n")).toMatch(/^entry 0x100000 memmap \d+ cmdline 0x20000$/m);
    if (name === "acpi") {
      expect(out.filter((l) => / length \d+ revision \d+$/.test(l)).map((l) => l.split(" ")[0])).toEqual(["XSDT", "FACP", "APIC", "DSDT"]);
      expect(out).toContain("aml objects 1");
      expect(out).toContain("error out-of-range");
    }
    if (name === "vhost-user") {
      expect(out).toEqual([
        "GET_FEATURES none fds 0",
        "reply 20 bytes",
        "SET_FEATURES u64 fds 0",
        "features 0x100000000",
        "SET_MEM_TABLE memory-table fds 1",
        "SET_VRING_CALL vring-fd fds 0",
        "error unknown-request",
      ]);
    }
  });

});

it("the browser bundle fails on a Node built-in, so the check above can fail", async () => {
  await expect(
    build({ stdin: { contents: `import { readFileSync } from "node:fs"; readFileSync("x");` }, bundle: true, platform: "browser", write: false, logLevel: "silent" }),
  ).rejects.toThrow();
});
