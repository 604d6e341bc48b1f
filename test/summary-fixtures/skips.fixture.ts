// Passing and skipped tests, with every way the summary reporter finds a reason.
import { describe, expect, it } from "vitest";

it("passes", () => expect(1).toBe(1));
it.skip("skipped without a reason", () => {});
it("skips itself with a note", (ctx) => {
  ctx.skip("the note of ctx.skip");
});
it.todo("a todo");
describe.skipIf(true)("a suite (skipped: no widget here)", () => {
  it("one", () => {});
  it("two", () => {});
  describe("nested", () => {
    it("three", () => {});
  });
});
describe("another suite", () => {
  it("passes too", () => expect(2).toBe(2));
  it.skipIf(true)("a test [skipped: bracket (nested) reason]", () => {});
});
