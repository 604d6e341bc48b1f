// The base classes and the guard factory: what an error carries, and which values a guard takes
// for an error of its class: the class's own, another copy's (a second load of the module, or a
// plain object with the right name and code), and nothing else.
import { describe, expect, it, vi } from "vitest";
import { CodedError, FieldError, codedErrorGuard, type ErrorCodes } from "../src/index.js";

type DemoCode = "out-of-range" | "truncated" | "bad-checksum";
const CODES: ErrorCodes<DemoCode> = { "out-of-range": true, truncated: true, "bad-checksum": true };

class DemoError extends FieldError<DemoCode> {
  constructor(code: DemoCode, field: string, detail: string) {
    super("DemoError", code, field, detail);
  }
}

class PlainError extends CodedError<DemoCode> {
  constructor(code: DemoCode, message: string, options?: { cause?: unknown }) {
    super("PlainError", code, message, options);
  }
}

const isDemoError = codedErrorGuard<DemoError>("DemoError", CODES);

describe("CodedError", () => {
  it("carries the name it is given, the code and the message, and is an Error", () => {
    const e = new PlainError("truncated", "header: expected 16 bytes, got 3");
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(CodedError);
    expect(e.name).toBe("PlainError");
    expect(e.code).toBe("truncated");
    expect(e.message).toBe("header: expected 16 bytes, got 3");
    expect(String(e)).toBe("PlainError: header: expected 16 bytes, got 3");
    expect(e.stack).toMatch(/^PlainError: header: expected 16 bytes, got 3\n/);
  });

  it("the name is an own property, so it survives a copy of the error's own properties", () => {
    const e = new PlainError("truncated", "x");
    expect(Object.hasOwn(e, "name")).toBe(true);
    expect({ ...e }).toEqual({ name: "PlainError", code: "truncated" });
  });

  it("passes the options to Error: a cause when given, no cause property when not", () => {
    const cause = new Error("EBADF");
    expect(new PlainError("truncated", "x", { cause }).cause).toBe(cause);
    expect("cause" in new PlainError("truncated", "x")).toBe(false);
    // { cause: undefined } is a cause that is undefined, as with Error itself.
    expect("cause" in new PlainError("truncated", "x", { cause: undefined })).toBe(true);
  });
});

describe("FieldError", () => {
  it("names the field in the message and keeps it apart", () => {
    const e = new DemoError("out-of-range", "processors[3].apicId", "expected 0..254, got 300");
    expect(e).toBeInstanceOf(CodedError);
    expect(e.name).toBe("DemoError");
    expect(e.code).toBe("out-of-range");
    expect(e.field).toBe("processors[3].apicId");
    expect(e.message).toBe("processors[3].apicId: expected 0..254, got 300");
  });

  it("passes a cause on", () => {
    const cause = new RangeError("inner");
    expect(new FieldError("DemoError", "truncated", "f", "d", { cause }).cause).toBe(cause);
  });
});

describe("codedErrorGuard", () => {
  // A function carries a `name` too: `function DemoError() {}` with a valid code attached.
  const fnLookAlike = Object.assign(function DemoError() {}, { code: "truncated" });
  const rows: [string, unknown, boolean][] = [
    ["an error of the class", new DemoError("bad-checksum", "header.checksum", "x"), true],
    ["an error from another copy (a plain object with the name and a code)", { name: "DemoError", code: "truncated" }, true],
    ["every code is known", { name: "DemoError", code: "out-of-range" }, true],
    ["an error of another class with the right name", Object.assign(new Error("x"), { name: "DemoError", code: "truncated" }), true],
    ["a plain Error", new Error("x"), false],
    ["an Error with a valid code but another name", Object.assign(new Error("x"), { code: "truncated" }), false],
    ["a CodedError of another name with a valid code", new PlainError("truncated", "x"), false],
    ["an object with a valid code and no name", { code: "truncated" }, false],
    ["the name in another case", { name: "demoerror", code: "truncated" }, false],
    ["the right name and an unknown code", { name: "DemoError", code: "nope" }, false],
    ["the right name and a code in another case", { name: "DemoError", code: "TRUNCATED" }, false],
    ["the right name and an inherited key as code", { name: "DemoError", code: "toString" }, false],
    ["the right name and __proto__ as code", { name: "DemoError", code: "__proto__" }, false],
    ["the right name and constructor as code", { name: "DemoError", code: "constructor" }, false],
    ["the right name and no code", { name: "DemoError" }, false],
    ["the right name and a numeric code", { name: "DemoError", code: 5 }, false],
    ["the right name and a code object", { name: "DemoError", code: new String("truncated") }, false],
    ["a function named DemoError with a valid code", fnLookAlike, false],
    ["the string DemoError", "DemoError", false],
    ["a number", 5, false],
    ["undefined", undefined, false],
    ["null", null, false],
  ];
  it.each(rows)("%s: %s", (_title, value, expected) => {
    expect(isDemoError(value)).toBe(expected);
  });

  it("recognises an error thrown by a second load of the module (another class, same name and code)", async () => {
    vi.resetModules();
    const copy = await import("../src/index.js");
    expect(copy.FieldError).not.toBe(FieldError);
    class CopyDemoError extends copy.FieldError<DemoCode> {
      constructor(code: DemoCode, field: string, detail: string) {
        super("DemoError", code, field, detail);
      }
    }
    const e = new CopyDemoError("truncated", "header", "expected 16 bytes, got 3");
    expect(e instanceof DemoError).toBe(false);
    expect(e instanceof FieldError).toBe(false);
    expect(isDemoError(e)).toBe(true);
    // And the other way round: the copy's guard takes this copy's errors.
    const copyGuard = copy.codedErrorGuard<DemoError>("DemoError", CODES);
    expect(copyGuard(new DemoError("out-of-range", "cpus", "expected 1..254, got 300"))).toBe(true);
  });

  it("keeps its own list of codes: changing the object afterwards changes nothing", () => {
    const codes: Record<string, true> = { truncated: true };
    const guard = codedErrorGuard<{ name: string; code: "truncated" }>("X", codes as ErrorCodes<"truncated">);
    codes["later"] = true;
    delete codes["truncated"];
    expect(guard({ name: "X", code: "truncated" })).toBe(true);
    expect(guard({ name: "X", code: "later" })).toBe(false);
  });

  it("reads name and code through getters and the prototype chain, as property reads do", () => {
    const proto = { name: "DemoError" };
    const inherited = Object.assign(Object.create(proto) as object, { code: "truncated" });
    expect(isDemoError(inherited)).toBe(true);
  });

  it("reads only name and code: an object with no prototype is refused, a read that throws (a revoked proxy) throws through as it did in the packages' guards", () => {
    expect(isDemoError(Object.create(null))).toBe(false);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(() => isDemoError(proxy)).toThrow(TypeError);
  });

  it("an empty list of codes takes nothing", () => {
    const none = codedErrorGuard<{ name: string; code: never }>("None", {});
    expect(none({ name: "None", code: "" })).toBe(false);
    expect(none({ name: "None", code: "anything" })).toBe(false);
  });

  it("the list of codes is checked against the union at compile time (pnpm typecheck)", () => {
    // @ts-expect-error a code of the union is missing
    const missing: ErrorCodes<DemoCode> = { "out-of-range": true, truncated: true };
    // @ts-expect-error a code the union does not have
    const extra: ErrorCodes<DemoCode> = { "out-of-range": true, truncated: true, "bad-checksum": true, nope: true };
    // @ts-expect-error the guard's codes must be those of the error type
    codedErrorGuard<DemoError>("DemoError", { truncated: true });
    expect(Object.keys(missing)).toEqual(["out-of-range", "truncated"]);
    expect(Object.keys(extra)).toHaveLength(4);
  });
});
