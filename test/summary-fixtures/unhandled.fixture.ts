// A passing test that leaves an error behind it: vitest fails the run, so must the summary.
import { it } from "vitest";

it("passes but leaves a rejected promise behind", () => {
  void Promise.reject(new Error("rejected after the test"));
});
