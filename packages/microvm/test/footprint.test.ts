// useSmallFootprint (`microvm --footprint small`) takes effect: in a child process, V8 no longer
// optimises a function and the young generation stays at its initial size under a load that makes
// it grow otherwise (its size after the load against its size when the settings were applied). The same probe without the call is the negative control.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SMALL_FOOTPRINT_V8_FLAGS } from "../src/index.js";

const here = fileURLToPath(new URL(".", import.meta.url));

function probe(mode: "small" | "default"): { turbofan: boolean; before: number; after: number } {
  const out = execFileSync(process.execPath, ["--allow-natives-syntax", "--import", "tsx", join(here, "fixtures", "footprint-probe.ts"), mode], { encoding: "utf8", cwd: here });
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as { turbofan: boolean; before: number; after: number };
}

describe("useSmallFootprint", () => {
  it("names its flags", () => {
    expect(SMALL_FOOTPRINT_V8_FLAGS).toEqual(["--no-opt", "--semi-space-growth-factor=1"]);
    expect(Object.isFrozen(SMALL_FOOTPRINT_V8_FLAGS)).toBe(true);
  });

  it("turns V8's optimising compiler off and keeps the young generation at its initial size", () => {
    const small = probe("small");
    expect(small.turbofan).toBe(false);
    expect(small.before).toBeGreaterThan(0);
    expect(small.after, JSON.stringify(small)).toBe(small.before);
  }, 60_000);

  it("negative control: without it the same probe is optimised and the young generation grows", () => {
    const plain = probe("default");
    expect(plain.turbofan).toBe(true);
    expect(plain.after, JSON.stringify(plain)).toBeGreaterThan(plain.before);
  }, 60_000);
});
