// The type guard, the routing helper's option checks and the argument checks' messages: each
// error names its field and the limit, and the guard tells real errors from look-alikes.
import { describe, expect, it } from "vitest";
import { MptableError, identityIrqRouting, isMptableError, type IrqRoutingOptions } from "../src/index.js";

/** The MptableError thrown by `f` (fails the test when there is none). */
function errorOf(f: () => unknown): MptableError {
  try {
    f();
  } catch (e) {
    expect(isMptableError(e)).toBe(true);
    return e as MptableError;
  }
  return expect.unreachable("expected an MptableError") as never;
}

describe("isMptableError", () => {
  // A function carries a `name` too: `function MptableError() {}` with a valid code attached.
  const fnLookAlike = Object.assign(function MptableError() {}, { code: "no-cpus" });
  const rows: [string, unknown, boolean][] = [
    ["a real MptableError", new MptableError("bad-checksum", "header.checksum", "x"), true],
    ["an error from another copy of the package (name and code)", { name: "MptableError", code: "truncated" }, true],
    ["every code is known", { name: "MptableError", code: "no-processors" }, true],
    ["a plain Error", new Error("x"), false],
    ["an Error with a valid code but another name", Object.assign(new Error("x"), { code: "no-cpus" }), false],
    ["an object with a valid code but another name", { name: "Error", code: "no-cpus" }, false],
    ["an object with a valid code and no name", { code: "no-cpus" }, false],
    ["the right name and an unknown code", { name: "MptableError", code: "nope" }, false],
    ["the right name and no code", { name: "MptableError" }, false],
    ["the right name and a numeric code", { name: "MptableError", code: 5 }, false],
    ["the right name and a code object", { name: "MptableError", code: new String("no-cpus") }, false],
    ["a function named MptableError with a valid code", fnLookAlike, false],
    ["the string MptableError", "MptableError", false],
    ["a number", 5, false],
    ["undefined", undefined, false],
    ["null", null, false],
  ];
  it.each(rows)("%s: %s", (_name, value, expected) => {
    expect(isMptableError(value)).toBe(expected);
  });
});

describe("identityIrqRouting", () => {
  it.each<[IrqRoutingOptions, string, string]>([
    [{ ioApicId: 256 }, "ioApicId", "ioApicId: expected 0..255, got 256"],
    // decimal up to 0xffff, hex above
    [{ ioApicId: 0xffff }, "ioApicId", "ioApicId: expected 0..255, got 65535"],
    [{ ioApicId: 0x10000 }, "ioApicId", "ioApicId: expected 0..255, got 0x10000"],
    [{ ioApicId: -1 }, "ioApicId", "ioApicId: expected 0..255, got -1"],
    [{ ioApicId: 2, sourceBus: 256 }, "sourceBus", "sourceBus: expected 0..255, got 256"],
    [{ ioApicId: 2, irqs: 0 }, "irqs", "irqs: expected 1..256, got 0"],
    [{ ioApicId: 2, irqs: 257 }, "irqs", "irqs: expected 1..256, got 257"],
  ])("rejects %j naming %s and its range", (options, field, message) => {
    const e = errorOf(() => identityIrqRouting(options));
    expect(e.code).toBe("out-of-range");
    expect(e.field).toBe(field);
    expect(e.message).toBe(message);
  });

  it("rejects values of the wrong type naming the field", () => {
    const e = errorOf(() => identityIrqRouting({ ioApicId: 2, irq0Override: 1 as unknown as boolean }));
    expect([e.code, e.field, e.message]).toEqual(["invalid-argument", "irq0Override", "irq0Override: expected a boolean, got 1"]);
    const f = errorOf(() => identityIrqRouting({ ioApicId: 1.5 }));
    expect([f.code, f.field]).toEqual(["invalid-argument", "ioApicId"]);
  });

  it("accepts the limits: IOAPIC 255, bus 255, 1 and 256 IRQs", () => {
    expect(identityIrqRouting({ ioApicId: 255, sourceBus: 255, irqs: 1 })).toEqual([
      { type: "INT", polarity: "conforming", trigger: "conforming", sourceBus: 255, sourceIrq: 0, destApic: 255, destPin: 0 },
    ]);
    const all = identityIrqRouting({ ioApicId: 0, irqs: 256 });
    expect(all.length).toBe(256);
    expect(all[255]).toMatchObject({ sourceIrq: 255, destPin: 255 });
  });

  it("with the override, moves only IRQ0 to pin 2 and leaves IRQ2 out; without it, IRQ n is pin n", () => {
    const over = identityIrqRouting({ ioApicId: 2, irqs: 8, irq0Override: true });
    expect(over.map((e) => [e.sourceIrq, e.destPin])).toEqual([[0, 2], [1, 1], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7]]);
    const plain = identityIrqRouting({ ioApicId: 2, irqs: 4, irq0Override: false });
    expect(plain.map((e) => [e.sourceIrq, e.destPin])).toEqual([[0, 0], [1, 1], [2, 2], [3, 3]]);
  });
});
