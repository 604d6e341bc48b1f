// Codec throughput of @microvm/vhost-user: decoding a SET_MEM_TABLE message with 8 regions (the
// largest memory table, 12 + 264 bytes, every region checked for overflow and overlap) against a
// plain copy of its bytes (the floor any decoder pays), and encoding it.
import { decodeVhostUserMessage, encodeVhostUserMessage, type VhostUserMessageInput } from "../src/index.js";
import { nsPerOp, type BenchCase } from "../../../bench/harness.ts";

// 8 regions of 512 MiB, 1 GiB apart in guest memory, in reverse order (the overlap check sorts).
const table: VhostUserMessageInput = {
  request: "SET_MEM_TABLE",
  payload: {
    type: "memory-table",
    regions: Array.from({ length: 8 }, (_, i) => ({
      guestAddress: BigInt(7 - i) << 30n,
      size: 1n << 29n,
      userAddress: 0x7f00_0000_0000n + (BigInt(7 - i) << 30n),
      mmapOffset: 0n,
    })),
  },
};
const bytes = encodeVhostUserMessage(table);

function plainCopy(): () => number {
  const src = bytes.slice();
  return () => nsPerOp(() => src.slice());
}

export const cases: BenchCase[] = [
  {
    name: "vhost-user SET_MEM_TABLE decode, 8 regions",
    unit: "ns/op",
    better: "lower",
    reference: `plain copy of ${bytes.length} bytes`,
    ours: () => nsPerOp(() => decodeVhostUserMessage(bytes, 8)),
    ref: plainCopy(),
  },
  {
    name: "vhost-user SET_MEM_TABLE encode, 8 regions",
    unit: "ns/op",
    better: "lower",
    reference: `plain copy of ${bytes.length} bytes`,
    ours: () => nsPerOp(() => encodeVhostUserMessage(table)),
    ref: plainCopy(),
  },
];
