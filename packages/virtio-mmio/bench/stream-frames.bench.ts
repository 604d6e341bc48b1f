/**
 * `pnpm bench stream`: the length-prefixed frame stream (QEMU's `-netdev stream`, passt) against a
 * plain copy of the same bytes in the same run: 64 frames of 1514 bytes encoded, cut into 16 KiB
 * reads as a socket delivers them, and decoded.
 */
import { nsPerOp, type BenchCase } from "../../../bench/harness.ts";
import { StreamFrameDecoder, writeStreamFrame } from "../src/index.ts";

const FRAMES = 64;
const SIZE = 1514;
const READ = 16384;

function streamCase(): BenchCase {
  const frames = Array.from({ length: FRAMES }, (_, k) => new Uint8Array(SIZE).fill(k));
  const wire = new Uint8Array(FRAMES * (SIZE + 4));
  const out = new Uint8Array(FRAMES * SIZE);
  let sink = 0;
  return {
    name: "stream frames: encode + decode 64 x 1514 bytes in 16 KiB reads",
    unit: "ns/frame",
    better: "lower",
    reference: "plain copy of the same bytes, in and out",
    goal: "<= 3",
    reps: 15,
    ours: () =>
      nsPerOp(() => {
        let at = 0;
        for (const f of frames) at += writeStreamFrame(f, wire, at);
        const dec = new StreamFrameDecoder();
        let o = 0;
        for (let r = 0; r < wire.length; r += READ) {
          for (const f of dec.push(wire.subarray(r, Math.min(wire.length, r + READ)))) {
            out.set(f, o);
            o += f.length;
          }
        }
        sink += o;
      }) / FRAMES,
    ref: () =>
      nsPerOp(() => {
        let at = 0;
        for (const f of frames) {
          wire.set(f, at);
          at += f.length + 4;
        }
        let o = 0;
        for (let k = 0; k < FRAMES; k++) {
          out.set(wire.subarray(k * (SIZE + 4), k * (SIZE + 4) + SIZE), o);
          o += SIZE;
        }
        sink += o;
      }) / FRAMES,
    teardown: () => void (sink === -1 && console.log(sink)),
  };
}

export const cases: BenchCase[] = [streamCase()];
