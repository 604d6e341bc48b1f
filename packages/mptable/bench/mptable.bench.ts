// Codec throughput of @microvm/mptable: encoding and decoding tables of 1, 8 and 254 CPUs, each
// against a plain copy of the same number of bytes (the floor any encoder or decoder has to pay).
import { decodeMpTable, encodeMpTable, mpTableSize } from "../src/index.js";
import { nsPerOp, type BenchCase } from "../../../bench/harness.ts";

function plainCopy(size: number): () => number {
  const src = new Uint8Array(size).map((_, i) => i);
  return () => nsPerOp(() => src.slice());
}

export const cases: BenchCase[] = [1, 8, 254].flatMap((cpus): BenchCase[] => {
  const address = cpus > 37 ? 0xf0000 : 0x9fc00;
  const config = { address, cpus };
  const size = mpTableSize(config);
  const bytes = encodeMpTable(config);
  return [
    {
      name: `mptable encode, ${cpus} CPU${cpus > 1 ? "s" : ""}`,
      unit: "ns/op",
      better: "lower",
      reference: `plain copy of ${size} bytes`,
      // Issue #14's goal for the largest table.
      ...(cpus === 254 ? { goal: "<= 5" } : {}),
      ours: () => nsPerOp(() => encodeMpTable(config)),
      ref: plainCopy(size),
    },
    {
      name: `mptable decode, ${cpus} CPU${cpus > 1 ? "s" : ""}`,
      unit: "ns/op",
      better: "lower",
      reference: `plain copy of ${size} bytes`,
      ours: () => nsPerOp(() => decodeMpTable(bytes, address)),
      ref: plainCopy(size),
    },
  ];
});
