// A suite whose beforeAll throws: its tests do not pass, and the summary must say it failed.
import { beforeAll, describe, it } from "vitest";

describe("a suite with a failing beforeAll", () => {
  beforeAll(() => {
    throw new Error("beforeAll fails");
  });
  it("never runs", () => {});
});
