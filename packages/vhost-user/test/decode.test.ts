// The decoder against hand-built vectors, one group per message type. Each vector is written
// field by field from QEMU docs/interop/vhost-user.rst (section named in each describe), not
// produced by the package's encoder.
import { describe, expect, it } from "vitest";
import { decodeVhostUserMessage, isVhostUserError, VhostUserError, type VhostUserMessage } from "../src/index.js";
import { codeOf, le32, le64, msg, NEED_REPLY, region, REPLY, V1 } from "./helpers.js";

const dec = (b: Uint8Array, fds = 0, o?: Parameters<typeof decodeVhostUserMessage>[2]): VhostUserMessage => decodeVhostUserMessage(b, fds, o);
const errOf = (f: () => unknown): VhostUserError => {
  try {
    f();
  } catch (e) {
    if (isVhostUserError(e)) return e;
    throw e;
  }
  throw new Error("nothing thrown");
};

describe("header (vhost-user.rst, Message Specification > Header)", () => {
  it("decodes request, flags and size, little-endian", () => {
    const m = dec(Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]));
    expect(m).toEqual({ request: "GET_FEATURES", requestId: 1, reply: false, needReply: false, payload: { type: "none" }, fdCount: 0 });
  });

  it("reads the REPLY (bit 2) and NEED_REPLY (bit 3) flags", () => {
    expect(dec(msg(2, NEED_REPLY, le64(1n))).needReply).toBe(true);
    const r = dec(msg(1, REPLY, le64(0x1_4000_0000n)));
    expect(r.reply).toBe(true);
    expect(r.payload).toEqual({ type: "u64", value: 0x1_4000_0000n });
  });

  it("refuses fewer than 12 bytes", () => {
    for (const n of [0, 1, 11]) expect(codeOf(() => dec(new Uint8Array(n)))).toBe("truncated");
    expect(errOf(() => dec(new Uint8Array(11))).message).toBe("header: expected 12 header bytes, got 11");
  });

  it("refuses a version other than 1 in bits 0-1", () => {
    for (const flags of [0, 2, 3, 0x4, 0x6]) expect(codeOf(() => dec(msg(3, flags)))).toBe("bad-version");
    expect(errOf(() => dec(msg(3, 2))).message).toBe("header.flags: expected version 1 in bits 0-1, got 2");
  });

  it("refuses reserved flag bits 4-31 and a reply that asks for a reply", () => {
    for (const flags of [0x11, 0x21, 0x8000_0001, 0xffff_fff1]) expect(codeOf(() => dec(msg(3, flags)))).toBe("bad-flags");
    expect(errOf(() => dec(msg(3, 0x8000_0001))).message).toBe("header.flags: bits 4-31 are reserved, got 0x80000001");
    expect(codeOf(() => dec(msg(1, 0xd, le64(0n))))).toBe("bad-flags");
  });

  it("refuses an unknown request and names its number", () => {
    for (const id of [0, 44, 100, 0xffff_ffff]) {
      const e = errOf(() => dec(msg(id, V1)));
      expect(e.code).toBe("unknown-request");
      expect(e.message).toContain(`request ${id} `);
    }
    expect(errOf(() => dec(msg(44, V1))).message).toBe("header.request: request 44 is not a front-end request this codec knows (1..43)");
  });

  it("refuses a size above the payload limit, before looking for the payload", () => {
    const e = errOf(() => dec(msg(22, V1, [], 4097)));
    expect(e.code).toBe("too-long");
    expect(e.message).toBe("header.size: expected at most 4096 payload bytes, got 4097");
    expect(dec(msg(22, V1, new Array(4096).fill(7))).payload).toMatchObject({ type: "raw" });
    expect(codeOf(() => dec(msg(22, V1, new Array(65).fill(0)), 0, { maxPayload: 64 }))).toBe("too-long");
  });

  it("checks size against the bytes: missing payload is truncated, extra bytes are bad-size", () => {
    expect(codeOf(() => dec(msg(2, V1, le64(1n).slice(0, 7), 8)))).toBe("truncated");
    expect(errOf(() => dec(msg(2, V1, [1, 2, 3], 8))).message).toBe("payload: header.size says 8 bytes, but only 3 follow the header");
    expect(codeOf(() => dec(msg(2, V1, [...le64(1n), 0], 8)))).toBe("bad-size");
  });

  it("checks size against the request's payload", () => {
    expect(codeOf(() => dec(msg(1, V1, le64(0n))))).toBe("bad-size"); // GET_FEATURES takes none
    expect(codeOf(() => dec(msg(2, V1, [1, 2, 3, 4])))).toBe("bad-size"); // SET_FEATURES takes a u64
    expect(errOf(() => dec(msg(9, V1, new Array(32).fill(0)))).message).toBe("header.size: SET_VRING_ADDR takes 40 (vring-addr) bytes, got 32");
  });

  it("checks its arguments", () => {
    expect(codeOf(() => decodeVhostUserMessage([1, 0, 0, 0] as unknown as Uint8Array, 0))).toBe("invalid-argument");
    expect(codeOf(() => dec(msg(3, V1), -1))).toBe("out-of-range");
    expect(codeOf(() => dec(msg(3, V1), 1.5))).toBe("invalid-argument");
    expect(codeOf(() => dec(msg(3, V1), 0, { maxQueues: 0 }))).toBe("out-of-range");
  });

  it("decodes a message inside a larger ArrayBuffer (subarray)", () => {
    const big = new Uint8Array(64).fill(0xee);
    big.set(msg(8, V1, [...le32(1), ...le32(128)]), 5);
    expect(dec(big.subarray(5, 25)).payload).toEqual({ type: "vring-state", index: 1, num: 128 });
  });
});

describe("no-payload requests (Front-end message types)", () => {
  it.each([
    [1, "GET_FEATURES"],
    [3, "SET_OWNER"],
    [4, "RESET_OWNER"],
    [15, "GET_PROTOCOL_FEATURES"],
    [17, "GET_QUEUE_NUM"],
    [29, "POSTCOPY_LISTEN"],
    [30, "POSTCOPY_END"],
    [34, "RESET_DEVICE"],
    [36, "GET_MAX_MEM_SLOTS"],
    [40, "GET_STATUS"],
    [43, "CHECK_DEVICE_STATE"],
  ])("%i %s: size 0, no fds", (id, name) => {
    const m = dec(msg(id, V1));
    expect(m.request).toBe(name);
    expect(m.payload).toEqual({ type: "none" });
    expect(codeOf(() => dec(msg(id, V1), 1))).toBe("fd-count");
  });

  it.each([
    [7, "SET_LOG_FD"],
    [21, "SET_BACKEND_REQ_FD"],
    [33, "GPU_SET_SOCKET"],
  ])("%i %s: size 0 and exactly one fd", (id, name) => {
    expect(dec(msg(id, V1), 1)).toMatchObject({ request: name, payload: { type: "none" }, fdCount: 1 });
    expect(codeOf(() => dec(msg(id, V1), 0))).toBe("fd-count");
    expect(errOf(() => dec(msg(id, V1), 2)).message).toBe(`${name}.fds: expected 1 file descriptor (fixed by the request), got 2`);
  });
});

describe("u64 payloads (Payload > A single 64-bit integer)", () => {
  it.each([
    [2, "SET_FEATURES"],
    [16, "SET_PROTOCOL_FEATURES"],
    [19, "SEND_RARP"],
    [20, "NET_SET_MTU"],
    [27, "CLOSE_CRYPTO_SESSION"],
    [39, "SET_STATUS"],
  ])("%i %s", (id, name) => {
    const m = dec(msg(id, V1, [0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0xf1]));
    expect(m.request).toBe(name);
    expect(m.payload).toEqual({ type: "u64", value: 0xf123456789abcdefn });
  });

  it.each([1, 15, 17, 36, 40, 30, 43, 22])("the reply to request %i is a u64", (id) => {
    expect(dec(msg(id, REPLY, le64(42n))).payload).toEqual({ type: "u64", value: 42n });
    expect(codeOf(() => dec(msg(id, REPLY)))).toBe("bad-size");
  });
});

describe("vring state (Payload > A vring state description)", () => {
  it("SET_VRING_NUM and SET_VRING_BASE: index and num, u32 each", () => {
    expect(dec(msg(8, V1, [...le32(3), ...le32(1024)])).payload).toEqual({ type: "vring-state", index: 3, num: 1024 });
    expect(dec(msg(10, V1, [...le32(0), ...le32(0xffff_ffff)])).payload).toEqual({ type: "vring-state", index: 0, num: 0xffff_ffff });
  });

  it("GET_VRING_BASE: num is reserved (0) in the request; the reply carries the index", () => {
    expect(dec(msg(11, V1, [...le32(1), ...le32(0)])).payload).toEqual({ type: "vring-state", index: 1, num: 0 });
    expect(errOf(() => dec(msg(11, V1, [...le32(1), ...le32(5)]))).message).toBe("GET_VRING_BASE.num: reserved, expected 0, got 5");
    expect(dec(msg(11, REPLY, [...le32(1), ...le32(77)])).payload).toEqual({ type: "vring-state", index: 1, num: 77 });
  });

  it("SET_VRING_ENABLE and SET_VRING_ENDIAN: num 0 or 1", () => {
    for (const id of [18, 23]) {
      expect(dec(msg(id, V1, [...le32(0), ...le32(1)])).payload).toEqual({ type: "vring-state", index: 0, num: 1 });
      expect(dec(msg(id, V1, [...le32(0), ...le32(0)])).payload).toEqual({ type: "vring-state", index: 0, num: 0 });
      expect(codeOf(() => dec(msg(id, V1, [...le32(0), ...le32(2)])))).toBe("bad-payload");
    }
  });

  it("VRING_KICK (35): num reserved", () => {
    expect(dec(msg(35, V1, [...le32(2), ...le32(0)])).request).toBe("VRING_KICK");
    expect(codeOf(() => dec(msg(35, V1, [...le32(2), ...le32(1)])))).toBe("bad-payload");
  });

  it("maxQueues bounds the index", () => {
    expect(dec(msg(8, V1, [...le32(1), ...le32(256)]), 0, { maxQueues: 2 }).payload).toMatchObject({ index: 1 });
    const e = errOf(() => dec(msg(8, V1, [...le32(2), ...le32(256)]), 0, { maxQueues: 2 }));
    expect(e.code).toBe("bad-index");
    expect(e.message).toBe("SET_VRING_NUM.index: expected a vring index 0..1, got 2");
  });
});

describe("vring address (Payload > A vring address description; Linux struct vhost_vring_addr)", () => {
  const addr = (flags: number, index = 1): number[] => [
    ...le32(index),
    ...le32(flags),
    ...le64(0x7f00_0000_1000n), // descriptor
    ...le64(0x7f00_0000_3000n), // used
    ...le64(0x7f00_0000_2000n), // available
    ...le64(0x1_0000_0000n), // log
  ];

  it("decodes index, flags, desc, used, avail and log, in that order", () => {
    expect(dec(msg(9, V1, addr(1))).payload).toEqual({
      type: "vring-addr",
      index: 1,
      flags: 1,
      descUser: 0x7f00_0000_1000n,
      usedUser: 0x7f00_0000_3000n,
      availUser: 0x7f00_0000_2000n,
      logGuest: 0x1_0000_0000n,
    });
  });

  it("refuses flags other than VHOST_VRING_F_LOG and an index at maxQueues", () => {
    expect(errOf(() => dec(msg(9, V1, addr(2)))).message).toBe("SET_VRING_ADDR.flags: only bit 0 (VHOST_VRING_F_LOG) is defined, got 0x2");
    expect(codeOf(() => dec(msg(9, V1, addr(0, 4)), 0, { maxQueues: 4 }))).toBe("bad-index");
  });
});

describe("SET_VRING_KICK/CALL/ERR (bits 0-7 index, bit 8 NOFD)", () => {
  it.each([
    [12, "SET_VRING_KICK"],
    [13, "SET_VRING_CALL"],
    [14, "SET_VRING_ERR"],
  ])("%i %s: one fd unless NOFD", (id, name) => {
    expect(dec(msg(id, V1, le64(5n)), 1)).toMatchObject({ request: name, payload: { type: "vring-fd", index: 5, noFd: false }, fdCount: 1 });
    expect(dec(msg(id, V1, le64(0x1ffn)), 0)).toMatchObject({ payload: { type: "vring-fd", index: 255, noFd: true }, fdCount: 0 });
    expect(errOf(() => dec(msg(id, V1, le64(5n)), 0)).message).toBe(`${name}.fds: expected 1 file descriptor (NOFD (bit 8) is clear), got 0`);
    expect(errOf(() => dec(msg(id, V1, le64(0x105n)), 1)).message).toBe(`${name}.fds: expected 0 file descriptors (NOFD (bit 8) is set), got 1`);
    expect(codeOf(() => dec(msg(id, V1, le64(5n)), 2))).toBe("fd-count");
  });

  it("refuses reserved bits 9-63", () => {
    for (const v of [0x200n, 1n << 32n, 1n << 63n]) expect(codeOf(() => dec(msg(13, V1, le64(v)), 1))).toBe("bad-payload");
  });

  it("applies maxQueues to the index", () => {
    expect(codeOf(() => dec(msg(12, V1, le64(3n)), 1, { maxQueues: 3 }))).toBe("bad-index");
    expect(dec(msg(12, V1, le64(2n)), 1, { maxQueues: 3 }).payload).toMatchObject({ index: 2 });
  });
});

describe("SET_MEM_TABLE (Payload > Multiple Memory regions description)", () => {
  const table = (regions: number[][], n = regions.length): number[] => [...le32(n), ...le32(0), ...regions.flat()];
  const low = region(0n, 0xa0000n, 0x7f00_0000_0000n, 0n);
  const high = region(0x10_0000n, 0x7ff0_0000n, 0x7f00_0010_0000n, 0x10_0000n);

  it("decodes nregions regions (guest, size, user, mmap offset) with one fd each", () => {
    const m = dec(msg(5, V1, table([low, high])), 2);
    expect(m.payload).toEqual({
      type: "memory-table",
      regions: [
        { guestAddress: 0n, size: 0xa0000n, userAddress: 0x7f00_0000_0000n, mmapOffset: 0n },
        { guestAddress: 0x10_0000n, size: 0x7ff0_0000n, userAddress: 0x7f00_0010_0000n, mmapOffset: 0x10_0000n },
      ],
    });
    expect(m.fdCount).toBe(2);
  });

  it("takes 8 regions (VHOST_MEMORY_BASELINE_NREGIONS), not 9 or 0", () => {
    const eight = Array.from({ length: 8 }, (_, i) => region(BigInt(i) << 32n, 1n << 30n, 0x7f00_0000_0000n + (BigInt(i) << 32n), 0n));
    expect(dec(msg(5, V1, table(eight)), 8).payload).toMatchObject({ regions: { length: 8 } });
    const nine = [...eight, region(9n << 32n, 1n, 0n, 0n)];
    expect(errOf(() => dec(msg(5, V1, table(nine)), 9)).message).toBe("SET_MEM_TABLE.nregions: expected 1..8, got 9");
    expect(codeOf(() => dec(msg(5, V1, table([])), 0))).toBe("out-of-range");
  });

  it("checks size = 8 + 32 * nregions", () => {
    expect(errOf(() => dec(msg(5, V1, table([low, high], 3)), 3)).message).toBe("header.size: SET_MEM_TABLE with nregions 3 takes 8 + 32 * 3 = 104 bytes, got 72");
    expect(codeOf(() => dec(msg(5, V1, [...table([low]), 0, 0, 0, 0]), 1))).toBe("bad-size");
    expect(codeOf(() => dec(msg(5, V1, [1, 0, 0, 0]), 1))).toBe("bad-size");
  });

  it("needs exactly nregions fds", () => {
    expect(errOf(() => dec(msg(5, V1, table([low, high])), 1)).message).toBe("SET_MEM_TABLE.fds: expected 2 file descriptors (one per region, 2 regions), got 1");
    expect(codeOf(() => dec(msg(5, V1, table([low, high])), 3))).toBe("fd-count");
  });

  it("refuses an empty region", () => {
    const e = errOf(() => dec(msg(5, V1, table([low, region(0x10_0000n, 0n, 0n, 0n)])), 2));
    expect(e.code).toBe("bad-region");
    expect(e.message).toBe("SET_MEM_TABLE.regions[1].size: expected a non-empty region, got size 0");
  });

  it("refuses a guest, user or mmap range past 2^64, accepts one ending at 2^64", () => {
    const top = (1n << 64n) - 0x1000n;
    expect(dec(msg(5, V1, table([region(top, 0x1000n, top, top)])), 1).payload).toMatchObject({ type: "memory-table" });
    for (const [r, key] of [
      [region(top, 0x1001n, 0n, 0n), "guestAddress"],
      [region(0n, 0x1001n, top, 0n), "userAddress"],
      [region(0n, 0x1001n, 0n, top), "mmapOffset"],
    ] as const) {
      const e = errOf(() => dec(msg(5, V1, table([r])), 1));
      expect(e.code).toBe("bad-region");
      expect(e.field).toBe(`SET_MEM_TABLE.regions[0].${key}`);
      expect(e.message).toContain("passes 2^64");
    }
  });

  it("refuses overlapping guest ranges, whatever their order; adjacent ranges are fine", () => {
    const a = region(0x1000n, 0x1000n, 0x10000n, 0n);
    const adjacent = region(0x2000n, 0x1000n, 0x20000n, 0n);
    const inside = region(0x1fffn, 0x10n, 0x30000n, 0n);
    expect(dec(msg(5, V1, table([adjacent, a])), 2).payload).toMatchObject({ regions: { length: 2 } });
    const e = errOf(() => dec(msg(5, V1, table([inside, adjacent, a])), 3));
    expect(e.code).toBe("overlap");
    expect(e.message).toBe("SET_MEM_TABLE.regions[0].guestAddress: 0x1fff is inside regions[2] [0x1000, 0x2000)");
    expect(codeOf(() => dec(msg(5, V1, table([a, a])), 2))).toBe("overlap");
  });

  it("a reply is a REPLY_ACK u64, or (postcopy) the table without fds", () => {
    expect(dec(msg(5, REPLY, le64(0n))).payload).toEqual({ type: "u64", value: 0n });
    expect(dec(msg(5, REPLY, table([low])), 0).payload).toMatchObject({ type: "memory-table" });
    expect(codeOf(() => dec(msg(5, REPLY, table([low])), 1))).toBe("fd-count");
  });
});

describe("ADD_MEM_REG and REM_MEM_REG (Payload > Single memory region description)", () => {
  const single = [...le64(0n), ...region(1n << 32n, 1n << 30n, 0x7f80_0000_0000n, 0n)];

  it("ADD_MEM_REG: 8 bytes of padding, one region, exactly one fd", () => {
    expect(dec(msg(37, V1, single), 1).payload).toEqual({
      type: "memory-region",
      region: { guestAddress: 1n << 32n, size: 1n << 30n, userAddress: 0x7f80_0000_0000n, mmapOffset: 0n },
    });
    expect(codeOf(() => dec(msg(37, V1, single), 0))).toBe("fd-count");
    expect(codeOf(() => dec(msg(37, V1, single.slice(8)), 1))).toBe("bad-size"); // no padding
  });

  it("REM_MEM_REG: no fd, one tolerated (the spec's MAY), two refused", () => {
    expect(dec(msg(38, V1, single), 0).fdCount).toBe(0);
    expect(dec(msg(38, V1, single), 1).fdCount).toBe(1);
    expect(errOf(() => dec(msg(38, V1, single), 2)).message).toBe("REM_MEM_REG.fds: expected 0..1 file descriptors (the spec tolerates either), got 2");
  });

  it("checks the region", () => {
    const empty = [...le64(0n), ...region(0n, 0n, 0n, 0n)];
    expect(codeOf(() => dec(msg(37, V1, empty), 1))).toBe("bad-region");
  });
});

describe("SET_LOG_BASE (Payload > Log description)", () => {
  it("the 16-byte log description, with or without the log's fd; the spec's u64 without one", () => {
    expect(dec(msg(6, V1, [...le64(0x4000n), ...le64(0x100n)]), 1).payload).toEqual({ type: "log", mmapSize: 0x4000n, mmapOffset: 0x100n });
    expect(dec(msg(6, V1, [...le64(0x4000n), ...le64(0n)]), 0).fdCount).toBe(0);
    expect(dec(msg(6, V1, le64(0x4000n))).payload).toEqual({ type: "u64", value: 0x4000n });
    expect(codeOf(() => dec(msg(6, V1, le64(0x4000n)), 1))).toBe("fd-count");
    expect(codeOf(() => dec(msg(6, V1, new Array(12).fill(0))))).toBe("bad-size");
  });
});

describe("GET_CONFIG and SET_CONFIG (Payload > Virtio device config space)", () => {
  const cfg = (offset: number, size: number, flags: number, data: number[] = new Array(size).fill(0)): number[] => [...le32(offset), ...le32(size), ...le32(flags), ...data];

  it("decodes offset, flags and size bytes of data", () => {
    expect(dec(msg(24, V1, cfg(0, 4, 0))).payload).toEqual({ type: "config", offset: 0, flags: 0, data: new Uint8Array(4) });
    expect(dec(msg(25, V1, cfg(8, 2, 1, [0xaa, 0xbb]))).payload).toEqual({ type: "config", offset: 8, flags: 1, data: Uint8Array.from([0xaa, 0xbb]) });
    expect(dec(msg(24, REPLY, cfg(0, 3, 0, [1, 2, 3]))).payload).toMatchObject({ data: Uint8Array.from([1, 2, 3]) });
  });

  it("takes up to 256 bytes (VHOST_USER_MAX_CONFIG_SIZE)", () => {
    expect(dec(msg(25, V1, cfg(0, 256, 0))).payload).toMatchObject({ type: "config" });
    expect(errOf(() => dec(msg(25, V1, cfg(0, 257, 0)))).message).toBe("SET_CONFIG.size: expected 0..256, got 257");
  });

  it("checks the message size against the config size, and the flags", () => {
    expect(errOf(() => dec(msg(24, V1, cfg(0, 4, 0, [0, 0])))).message).toBe("header.size: GET_CONFIG with config size 4 takes 12 + 4 = 16 bytes, got 14");
    expect(codeOf(() => dec(msg(24, V1, [0, 0, 0, 0])))).toBe("bad-size");
    expect(errOf(() => dec(msg(25, V1, cfg(0, 1, 2, [0])))).message).toBe("SET_CONFIG.flags: expected 0 (writable fields) or 1 (live migration), got 2");
  });

  it("an empty GET_CONFIG reply tells the front-end the read failed", () => {
    expect(dec(msg(24, REPLY)).payload).toEqual({ type: "none" });
  });

  it("copies the data out of the message", () => {
    const bytes = msg(25, V1, cfg(0, 2, 0, [5, 6]));
    const m = dec(bytes);
    bytes[bytes.length - 1] = 0;
    expect(m.payload).toMatchObject({ data: Uint8Array.from([5, 6]) });
  });
});

describe("requests kept as raw bytes", () => {
  it("IOTLB_MSG, CREATE_CRYPTO_SESSION, GET_INFLIGHT_FD: any size, no fd", () => {
    for (const id of [22, 26, 31]) {
      expect(dec(msg(id, V1, [1, 2, 3])).payload).toEqual({ type: "raw", bytes: Uint8Array.from([1, 2, 3]) });
      expect(codeOf(() => dec(msg(id, V1, [1]), 1))).toBe("fd-count");
    }
  });

  it("SET_INFLIGHT_FD carries one fd; GET_INFLIGHT_FD's reply too", () => {
    expect(dec(msg(32, V1, new Array(24).fill(0)), 1).fdCount).toBe(1);
    expect(codeOf(() => dec(msg(32, V1, new Array(24).fill(0)), 0))).toBe("fd-count");
    expect(dec(msg(31, REPLY, new Array(24).fill(0)), 1).fdCount).toBe(1);
  });

  it("GET_SHARED_OBJECT: a 16-byte UUID; the reply a u64 with or without the dma-buf fd", () => {
    expect(dec(msg(41, V1, new Array(16).fill(9))).payload).toMatchObject({ type: "raw" });
    expect(codeOf(() => dec(msg(41, V1, new Array(8).fill(9))))).toBe("bad-size");
    expect(dec(msg(41, REPLY, le64(0n)), 1).fdCount).toBe(1);
    expect(dec(msg(41, REPLY, le64(1n)), 0).fdCount).toBe(0);
  });

  it("SET_DEVICE_STATE_FD: direction and phase with one fd; the reply's bit 8 says no fd", () => {
    expect(dec(msg(42, V1, [...le32(0), ...le32(0)]), 1).fdCount).toBe(1);
    expect(codeOf(() => dec(msg(42, V1, [...le32(0), ...le32(0)]), 0))).toBe("fd-count");
    expect(dec(msg(42, REPLY, le64(0x100n)), 0).payload).toEqual({ type: "u64", value: 0x100n });
    expect(dec(msg(42, REPLY, le64(0n)), 1).fdCount).toBe(1);
    expect(codeOf(() => dec(msg(42, REPLY, le64(0n)), 0))).toBe("fd-count");
    expect(codeOf(() => dec(msg(42, REPLY, le64(1n)), 1))).toBe("bad-payload"); // an error with an fd
  });

  it("POSTCOPY_ADVISE's reply is the userfault fd, no payload", () => {
    expect(dec(msg(28, REPLY), 1).fdCount).toBe(1);
    expect(codeOf(() => dec(msg(28, REPLY), 0))).toBe("fd-count");
  });
});
