import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { GuestMemory, MmioTransport, RegisterMailbox, RngDevice, isVirtioError } from "../src/index.ts";

describe("RegisterMailbox", () => {
  it("forwards register accesses from another thread to the owner and returns the results", async () => {
    const t = new MmioTransport({ memory: new GuestMemory([]), device: new RngDevice(), interrupt: () => {} });
    const box = new RegisterMailbox();
    // The worker runs TypeScript through tsx's loader, registered from a small JS bootstrap.
    const script = new URL("./mailbox-worker.ts", import.meta.url).href;
    const worker = new Worker(
      `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(script)}); });`,
      { eval: true, workerData: box.buffer },
    );
    const result = new Promise<number[]>((res, rej) => {
      worker.once("message", res);
      worker.once("error", rej);
    });
    let served = 0;
    let done = false;
    void result.finally(() => (done = true));
    while (!done) {
      if (box.serve(t)) served++;
      else await new Promise((r) => setTimeout(r, 1));
    }
    expect(await result).toEqual([0x74726976, 4, 1, 0]);
    expect(served).toBe(5);
    expect(t.hostileCounts["register-width"]).toBe(1);
    await worker.terminate();
  }, 30_000);

  it("times out when nobody serves, and withdraws the request", () => {
    const box = new RegisterMailbox();
    try {
      box.call("read", 0, 4, 0, 20);
      throw new Error("expected a timeout");
    } catch (e) {
      expect(isVirtioError(e)).toBe(true);
    }
    expect(box.pending()).toBe(false);
    expect(() => new RegisterMailbox(new SharedArrayBuffer(8))).toThrow(/at least 32 bytes/);
  });
});
