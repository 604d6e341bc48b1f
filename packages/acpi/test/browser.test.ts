// The package in a browser-like context: bundled by esbuild for the browser platform and run in a
// fresh V8 context with no Node globals (no process, Buffer or require), as the codec rule asks.
import { build } from "esbuild";
import { runInNewContext } from "node:vm";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url));
const example = `
import { encodeAcpiTables, madtForCpus, decodeMadt, decodeAml, decodeDefinitionBlock, amlScope, amlDevice, amlHid, amlUid, amlCrs, memory32Fixed, extendedInterrupt, isAcpiError, encodeRsdp } from ${JSON.stringify(entry)};
const set = encodeAcpiTables({ address: 0xe0000n, madt: madtForCpus({ cpus: 2 }), dsdt: [amlScope("\\\\_SB", [amlDevice("VR00", [amlHid("LNRO0005"), amlUid(0), amlCrs([memory32Fixed(0xfeb00000, 0x200), extendedInterrupt([24])])])])] });
const at = (a) => set.tables.subarray(Number(a - set.xsdtAddress));
console.log("cpus " + decodeMadt(at(set.madtAddress)).entries.filter((e) => e.type === "local-apic").length);
console.log("device " + decodeAml(decodeDefinitionBlock(at(set.dsdtAddress)).aml)[0].body[0].path);
try { encodeRsdp({ xsdtAddress: -1n }); } catch (e) { console.log("error " + (isAcpiError(e) ? e.code : "unexpected")); }
`;

describe("@microvm/acpi in a browser-like context", () => {
  it("bundles for the browser platform and runs without Node globals", async () => {
    const out = await build({ stdin: { contents: example, resolveDir: process.cwd(), loader: "ts" }, bundle: true, platform: "browser", format: "iife", write: false, logLevel: "silent" });
    const code = out.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["']node:/);
    const lines: string[] = [];
    runInNewContext(code, { console: { log: (s: string) => lines.push(s) } }, { timeout: 10_000 });
    expect(lines).toEqual(["cpus 2", "device VR00", "error out-of-range"]);
  });
});
