// fast-check properties of the guard factory: for any name and any list of codes, the guard takes
// exactly the values whose `name` is that name and whose `code` is a string in the list, whatever
// else they carry; and an error built on the base classes keeps what it was given.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CodedError, FieldError, codedErrorGuard, type ErrorCodes } from "../src/index.js";

/** Kebab-case codes like the packages', plus the keys every object inherits. */
const codeArb: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,8}){0,3}$/),
  fc.constantFrom("toString", "__proto__", "constructor", "hasOwnProperty", "valueOf", ""),
  fc.string(),
);

/** A list of codes and a code to look up: one of the list half of the time, any other string else. */
const codesAndCode: fc.Arbitrary<[string[], string]> = fc
  .uniqueArray(codeArb, { maxLength: 12 })
  .chain((codes) => fc.tuple(fc.constant(codes), codes.length > 0 ? fc.oneof(fc.constantFrom(...codes), codeArb) : codeArb));

const table = (codes: readonly string[]): ErrorCodes<string> => {
  const t: Record<string, true> = {};
  // defineProperty: an own "__proto__" key, as an object literal with a quoted computed key has.
  for (const c of codes) Object.defineProperty(t, c, { value: true, enumerable: true, configurable: true, writable: true });
  return t;
};

describe("codedErrorGuard (properties)", () => {
  it("takes a value exactly when its name is the guard's and its code one of the guard's codes", () => {
    let taken = 0;
    let refusedByCode = 0;
    fc.assert(
      fc.property(fc.string(), codesAndCode, fc.string(), (name, [codes, code], otherName) => {
        const guard = codedErrorGuard<{ name: string; code: string }>(name, table(codes));
        const known = codes.includes(code);
        expect(guard({ name, code })).toBe(known);
        expect(guard({ name: otherName, code })).toBe(otherName === name && known);
        if (known) taken++;
        else refusedByCode++;
        // The same through a real error carrying them.
        expect(guard(new CodedError(name, code, "m"))).toBe(known);
        expect(guard(new FieldError(name, code, "f", "d"))).toBe(known);
      }),
    );
    // Both outcomes were reached, so the property above was not true on one side only.
    expect(taken).toBeGreaterThan(10);
    expect(refusedByCode).toBeGreaterThan(10);
  });

  it("takes no value whose name or code is not a string, and no primitive or function", () => {
    const guard = codedErrorGuard<{ name: string; code: string }>("E", table(["a", "b-c"]));
    fc.assert(
      fc.property(fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true }), (v) => {
        const o = v as { name?: unknown; code?: unknown } | null;
        const expected = typeof v === "object" && v !== null && o!.name === "E" && (o!.code === "a" || o!.code === "b-c");
        expect(guard(v)).toBe(expected);
      }),
    );
    expect(guard(Object.assign(function E() {}, { code: "a" }))).toBe(false);
    expect(guard({ name: "E", code: "b-c" })).toBe(true);
  });

  it("a FieldError's message is `${field}: ${detail}` and its field, code and name are what it was given", () => {
    fc.assert(
      fc.property(fc.string(), codeArb, fc.string(), fc.string(), (name, code, field, detail) => {
        const e = new FieldError(name, code, field, detail);
        expect([e.name, e.code, e.field, e.message]).toEqual([name, code, field, `${field}: ${detail}`]);
      }),
    );
  });
});
