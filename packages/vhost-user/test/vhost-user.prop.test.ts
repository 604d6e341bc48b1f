// fast-check properties of the vhost-user codec.
// - Round trip: every typed message, request and reply, encodes to bytes the decoder turns back
//   into the same message, with array and data sizes drawn so the limits are reached (counters
//   assert that every payload kind, every nregions 1..8, config sizes 0 and 256, raw sizes 0 and
//   4096, vring indexes 0 and 255 and a region ending at 2^64 were seen).
// - Framing: a stream of encoded messages cut at random points comes out of VhostUserFramer whole.
// - Hostile messages (at least 10,000 per run): random bytes, random headers, mutated valid
//   messages, wrong fd counts, overlapping or overflowing regions, unknown requests. Each gives a
//   VhostUserError or a valid decode (which then round-trips), never another kind of throw; the
//   count of each error code is printed and every decoder check must fire.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  VHOST_USER_ERROR_CODES,
  VHOST_USER_REQUEST,
  VhostUserFramer,
  decodeVhostUserMessage,
  encodeVhostUserMessage,
  isVhostUserError,
  vhostUserFdCount,
  type VhostUserDecodeOptions,
  type VhostUserErrorCode,
  type VhostUserMemoryRegion,
  type VhostUserMessage,
  type VhostUserMessageInput,
  type VhostUserPayload,
  type VhostUserRequestName,
} from "../src/index.js";
import { le32, le64, region as regionBytes } from "./helpers.js";

const RUNS = Number(process.env.VHOST_USER_PROP_RUNS ?? 10_000);
const SEED = Number(process.env.VHOST_USER_PROP_SEED ?? Date.now() % 2 ** 31);
const TWO_64 = 1n << 64n;

/** A length in [min, max]: one of the two bounds a quarter of the time, otherwise uniform. */
const lengthIn = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom(min, max) }, { weight: 3, arbitrary: fc.integer({ min, max }) });
const bytesIn = (min: number, max: number): fc.Arbitrary<Uint8Array> => lengthIn(min, max).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.oneof(fc.constantFrom(0n, TWO_64 - 1n), fc.bigInt({ min: 0n, max: TWO_64 - 1n }));
const bit = fc.constantFrom(0, 1);

/** 1..8 regions with disjoint guest ranges, in random order; sometimes the highest ends at exactly 2^64. */
const regions: fc.Arbitrary<VhostUserMemoryRegion[]> = lengthIn(1, 8).chain((n) =>
  fc
    .record({
      sizes: fc.array(fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: 1n << 36n })), { minLength: n, maxLength: n }),
      gaps: fc.array(fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1n << 36n })), { minLength: n, maxLength: n }),
      base: fc.bigInt({ min: 0n, max: 1n << 40n }),
      atTop: fc.boolean(),
      order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
      user: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }),
      offset: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }),
    })
    .map(({ sizes, gaps, base, atTop, order, user, offset }) => {
      const total = sizes.reduce((a, s, i) => a + s + gaps[i]!, 0n);
      let at = atTop ? TWO_64 - total : base;
      const sorted = sizes.map((size, i) => {
        at += gaps[i]!;
        const guestAddress = at;
        at += size;
        // A user address and an mmap offset anywhere that keeps the range below 2^64.
        const pick = (f: number): bigint => ((TWO_64 - size) * BigInt(Math.floor(f * 2 ** 20))) >> 20n;
        return { guestAddress, size, userAddress: pick(user[i]!), mmapOffset: pick(offset[i]!) };
      });
      return order.map((k) => sorted[k]!);
    }),
);
const oneRegion = regions.map((r) => r[0]!);

type Case = { msg: VhostUserMessageInput; options?: VhostUserDecodeOptions };
const req = (names: readonly VhostUserRequestName[], payload: fc.Arbitrary<VhostUserPayload>, fdCount?: fc.Arbitrary<number | undefined>): fc.Arbitrary<Case> =>
  fc.record({ request: fc.constantFrom(...names), needReply: fc.boolean(), payload, fdCount: fdCount ?? fc.constant(undefined) }).map(({ fdCount: n, ...m }) => ({ msg: n === undefined ? m : { ...m, fdCount: n } }));
const rep = (names: readonly VhostUserRequestName[], payload: fc.Arbitrary<VhostUserPayload>, fdCount?: fc.Arbitrary<number | undefined>): fc.Arbitrary<Case> =>
  fc.record({ request: fc.constantFrom(...names), payload, fdCount: fdCount ?? fc.constant(undefined) }).map(({ fdCount: n, ...m }) => ({ msg: { ...m, reply: true, ...(n === undefined ? {} : { fdCount: n }) } }));

const none = fc.constant<VhostUserPayload>({ type: "none" });
const u64Payload = u64.map((value): VhostUserPayload => ({ type: "u64", value }));
const state = (num: fc.Arbitrary<number>) => fc.record({ index: fc.oneof(fc.constantFrom(0, 0xffffffff), u32), num }).map((s): VhostUserPayload => ({ type: "vring-state", ...s }));
const config = fc.record({ offset: u32, flags: bit, data: bytesIn(0, 256) }).map((c): VhostUserPayload => ({ type: "config", ...c }));
const raw = (min: number, max: number) => bytesIn(min, max).map((bytes): VhostUserPayload => ({ type: "raw", bytes }));
const U64_REPLIES: VhostUserRequestName[] = ["GET_FEATURES", "GET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "GET_MAX_MEM_SLOTS", "GET_STATUS", "POSTCOPY_END", "CHECK_DEVICE_STATE", "IOTLB_MSG", "SET_OWNER", "SET_MEM_TABLE", "SET_VRING_ADDR", "SET_CONFIG", "ADD_MEM_REG"];

/** Every typed message the codec knows, both ways. */
const anyMessage: fc.Arbitrary<Case> = fc.oneof(
  req(["GET_FEATURES", "SET_OWNER", "RESET_OWNER", "SET_LOG_FD", "GET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "SET_BACKEND_REQ_FD", "POSTCOPY_ADVISE", "POSTCOPY_LISTEN", "POSTCOPY_END", "GPU_SET_SOCKET", "RESET_DEVICE", "GET_MAX_MEM_SLOTS", "GET_STATUS", "CHECK_DEVICE_STATE"], none),
  req(["SET_FEATURES", "SET_PROTOCOL_FEATURES", "SEND_RARP", "NET_SET_MTU", "CLOSE_CRYPTO_SESSION", "SET_STATUS", "SET_LOG_BASE"], u64Payload),
  req(["SET_VRING_NUM", "SET_VRING_BASE"], state(u32)),
  req(["GET_VRING_BASE", "VRING_KICK"], state(fc.constant(0))),
  req(["SET_VRING_ENABLE", "SET_VRING_ENDIAN"], state(bit)),
  req(["SET_VRING_ADDR"], fc.record({ index: u32, flags: bit, descUser: u64, usedUser: u64, availUser: u64, logGuest: u64 }).map((a): VhostUserPayload => ({ type: "vring-addr", ...a }))),
  req(["SET_VRING_KICK", "SET_VRING_CALL", "SET_VRING_ERR"], fc.record({ index: fc.oneof(fc.constantFrom(0, 255), fc.integer({ min: 0, max: 255 })), noFd: fc.boolean() }).map((v): VhostUserPayload => ({ type: "vring-fd", ...v }))),
  req(["SET_MEM_TABLE"], regions.map((r): VhostUserPayload => ({ type: "memory-table", regions: r }))),
  req(["ADD_MEM_REG"], oneRegion.map((region): VhostUserPayload => ({ type: "memory-region", region }))),
  req(["REM_MEM_REG"], oneRegion.map((region): VhostUserPayload => ({ type: "memory-region", region })), fc.constantFrom(undefined, 0, 1)),
  req(["SET_LOG_BASE"], fc.record({ mmapSize: u64, mmapOffset: u64 }).map((l): VhostUserPayload => ({ type: "log", ...l })), fc.constantFrom(undefined, 0, 1)),
  req(["GET_CONFIG", "SET_CONFIG"], config),
  req(["IOTLB_MSG", "CREATE_CRYPTO_SESSION", "GET_INFLIGHT_FD", "SET_INFLIGHT_FD"], raw(0, 4096)),
  req(["GET_SHARED_OBJECT"], raw(16, 16)),
  req(["SET_DEVICE_STATE_FD"], raw(8, 8)),
  rep(U64_REPLIES, u64Payload),
  rep(["GET_VRING_BASE"], state(u32)),
  rep(["GET_CONFIG"], fc.oneof(config, none)),
  rep(["SET_MEM_TABLE"], regions.map((r): VhostUserPayload => ({ type: "memory-table", regions: r }))),
  rep(["ADD_MEM_REG"], oneRegion.map((region): VhostUserPayload => ({ type: "memory-region", region }))),
  rep(["POSTCOPY_ADVISE"], none),
  rep(["GET_INFLIGHT_FD", "CREATE_CRYPTO_SESSION"], raw(0, 64)),
  rep(["GET_SHARED_OBJECT"], u64Payload, fc.constantFrom(0, 1)),
  rep(["SET_DEVICE_STATE_FD"], fc.oneof(fc.constant(0n), fc.constant(0x100n), fc.bigInt({ min: 0n, max: 0xffn }).map((e) => e | 0x100n)).map((value): VhostUserPayload => ({ type: "u64", value }))),
);

/** What the decoder must return for `m`. */
function expected(m: VhostUserMessageInput): VhostUserMessage {
  const name = m.request as VhostUserRequestName;
  return { request: name, requestId: VHOST_USER_REQUEST[name], reply: m.reply ?? false, needReply: m.needReply ?? false, payload: m.payload as VhostUserPayload, fdCount: vhostUserFdCount(m) };
}

describe(`round trip (fast-check, seed ${SEED})`, () => {
  it("decode(encode(m), fds) is m for every typed message; sizes reach their limits", () => {
    const seen: Record<string, number> = {};
    const count = (k: string) => (seen[k] = (seen[k] ?? 0) + 1);
    fc.assert(
      fc.property(anyMessage, ({ msg }) => {
        const bytes = encodeVhostUserMessage(msg);
        const got = decodeVhostUserMessage(bytes, vhostUserFdCount(msg));
        expect(got).toEqual(expected(msg));
        const p = got.payload;
        count(`${got.reply ? "reply" : "request"} ${p.type}`);
        count(got.request);
        if (p.type === "memory-table") {
          count(`nregions ${p.regions.length}`);
          if (p.regions.some((r) => r.guestAddress + r.size === TWO_64)) count("region ends at 2^64");
        }
        if (p.type === "config") count(`config ${p.data.length === 0 ? "empty" : p.data.length === 256 ? "256" : "mid"}`);
        if (p.type === "raw" && p.bytes.length === 0) count("raw 0");
        if (p.type === "raw" && p.bytes.length === 4096) count("raw 4096");
        if (p.type === "vring-fd") count(`vring-fd ${p.index === 0 ? "index 0" : p.index === 255 ? "index 255" : "index mid"} ${p.noFd ? "nofd" : "fd"}`);
        if (got.needReply) count("needReply");
      }),
      { numRuns: Math.max(RUNS / 2, 3000), seed: SEED },
    );
    const must = [
      ...["none", "u64", "vring-state", "vring-addr", "vring-fd", "memory-table", "memory-region", "log", "config", "raw"].map((k) => `request ${k}`),
      ...["u64", "vring-state", "config", "none", "memory-table", "memory-region", "raw"].map((k) => `reply ${k}`),
      ...[1, 2, 3, 4, 5, 6, 7, 8].map((n) => `nregions ${n}`),
      ...(Object.keys(VHOST_USER_REQUEST) as VhostUserRequestName[]),
      "region ends at 2^64", "config empty", "config 256", "raw 0", "raw 4096", "vring-fd index 0 fd", "vring-fd index 255 nofd", "needReply",
    ];
    for (const k of must) expect(seen[k] ?? 0, `${k}; seen: ${JSON.stringify(seen)}`).toBeGreaterThan(0);
  });

  it("a stream of messages cut anywhere comes out of the framer whole, with each message's fds", () => {
    fc.assert(
      fc.property(fc.array(anyMessage, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), (cases, cuts) => {
        const frames = cases.map(({ msg }) => ({ bytes: encodeVhostUserMessage(msg), fdCount: vhostUserFdCount(msg) }));
        const framer = new VhostUserFramer();
        const out: { bytes: Uint8Array; fdCount: number }[] = [];
        // Deliver each message's first byte in a chunk of its own that carries its fds (what a
        // socket does with SCM_RIGHTS), the rest in the random cuts.
        for (const f of frames) {
          out.push(...framer.push(f.bytes.subarray(0, 1), f.fdCount));
          let at = 1;
          for (let i = 0; at < f.bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            out.push(...framer.push(f.bytes.subarray(at, at + n)));
            at += n;
          }
        }
        expect(out).toEqual(frames);
        for (let i = 0; i < out.length; i++) expect(decodeVhostUserMessage(out[i]!.bytes, out[i]!.fdCount)).toEqual(expected(cases[i]!.msg));
      }),
      { numRuns: 500, seed: SEED },
    );
  });
});

// ---- hostile messages ----

type Hostile = { bytes: Uint8Array; fdCount: number; options?: VhostUserDecodeOptions; origin: string };

const hdr = (request: number, flags: number, size: number): number[] => [...le32(request), ...le32(flags), ...le32(size)];
const fdCount = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 12 }) });
const requestId = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 43 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 44, 45, 100, 0x7fffffff, 0xffffffff) },
  { weight: 1, arbitrary: u32 },
);
const flags = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0x1, 0x5, 0x9) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 15 }) },
  { weight: 1, arbitrary: u32 },
);
const options = fc.oneof(fc.constant(undefined), fc.record({ maxQueues: fc.integer({ min: 1, max: 4 }) }), fc.record({ maxPayload: fc.integer({ min: 0, max: 300 }) }));

/** Random bytes. */
const randomBytes: fc.Arbitrary<Hostile> = fc.record({ bytes: fc.uint8Array({ maxLength: 300 }), fdCount, origin: fc.constant("random bytes") });

/** A random header with a payload that matches its size, or not. */
const randomHeader: fc.Arbitrary<Hostile> = fc
  .record({
    request: requestId,
    flags,
    payload: fc.oneof(fc.uint8Array({ maxLength: 48 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.uint8Array({ maxLength: 300 })),
    sizeDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -4, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(4097, 0xffffffff) }),
    fdCount,
    options,
  })
  .map(({ request, flags, payload, sizeDelta, fdCount, options }) => {
    const size = sizeDelta > 4096 ? sizeDelta : Math.max(0, payload.length + sizeDelta);
    return { bytes: Uint8Array.from([...hdr(request, flags, size), ...payload]), fdCount, ...(options ? { options } : {}), origin: "random header" };
  });

/** A valid message with one thing changed: a byte, the size, the request, the flags, the length or the fd count. */
const mutated: fc.Arbitrary<Hostile> = fc
  .record({
    c: anyMessage,
    how: fc.constantFrom("byte", "bit", "size", "request", "flags", "truncate", "extend", "fds", "none"),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
    delta: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
    options,
  })
  .map(({ c, how, at, value, delta, options }) => {
    const bytes = encodeVhostUserMessage(c.msg).slice();
    let fds = vhostUserFdCount(c.msg);
    const v = new DataView(bytes.buffer);
    const i = at % bytes.length;
    if (how === "byte") bytes[i] = value;
    if (how === "bit") bytes[i]! ^= 1 << (value & 7);
    if (how === "size") v.setUint32(8, Math.max(0, v.getUint32(8, true) + delta), true);
    if (how === "request") v.setUint32(0, Math.max(0, v.getUint32(0, true) + delta), true);
    if (how === "flags") v.setUint32(4, v.getUint32(4, true) ^ (1 << (value % 32)), true);
    if (how === "fds") fds = Math.max(0, fds + delta);
    const out = how === "truncate" ? bytes.subarray(0, i) : how === "extend" ? Uint8Array.from([...bytes, value]) : bytes;
    return { bytes: out, fdCount: fds, ...(options ? { options } : {}), origin: `mutated ${how}` };
  });

/** Memory tables from a small address space (overlaps likely), near 2^64 (overflows likely), with zero sizes, wrong nregions and fd counts. */
const big = fc.oneof(fc.bigInt({ min: 0n, max: 0x4000n }), fc.bigInt({ min: TWO_64 - 0x4000n, max: TWO_64 - 1n }), fc.constant(0n));
const small = (min: bigint) => fc.bigInt({ min, max: 0x4000n });
const hostileRegion = fc.oneof(
  fc.tuple(big, big, big, big).map(([g, s, u, o]) => regionBytes(g, s, u, o)),
  // Well-formed regions in a 16 KiB space: they pass the region checks and often overlap.
  fc.tuple(small(0n), small(1n), small(0n), small(0n)).map(([g, s, u, o]) => regionBytes(g, s, u, o)),
);
const hostileTable: fc.Arbitrary<Hostile> = fc
  .record({
    request: fc.constantFrom(5, 37, 38),
    regions: fc.array(hostileRegion, { minLength: 1, maxLength: 9 }),
    nregionsDelta: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }) }),
    fdDelta: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 1 }) }),
    flags: fc.constantFrom(0x1, 0x5),
  })
  .map(({ request, regions, nregionsDelta, fdDelta, flags }) => {
    const n = Math.max(0, regions.length + nregionsDelta);
    const payload = request === 5 ? [...le32(n), ...le32(0), ...regions.flat()] : [...le64(0n), ...regions[0]!];
    const fds = request === 5 ? (flags === 0x5 ? 0 : regions.length) : request === 37 && flags === 0x1 ? 1 : 0;
    return { bytes: Uint8Array.from([...hdr(request, flags, payload.length), ...payload]), fdCount: Math.max(0, fds + fdDelta), origin: "hostile regions" };
  });

/** vring messages with indexes around maxQueues and reserved bits. */
const hostileVring: fc.Arbitrary<Hostile> = fc
  .record({ request: fc.constantFrom(8, 9, 10, 11, 12, 13, 14, 18, 23, 35), index: fc.integer({ min: 0, max: 6 }), num: fc.integer({ min: 0, max: 3 }), high: fc.constantFrom(0n, 0n, 0x200n, 1n << 40n), maxQueues: fc.integer({ min: 1, max: 5 }), fdCount: fc.integer({ min: 0, max: 1 }) })
  .map(({ request, index, num, high, maxQueues, fdCount }) => {
    const payload =
      request === 9
        ? [...le32(index), ...le32(num), ...le64(0x1000n), ...le64(0x2000n), ...le64(0x3000n), ...le64(0n)]
        : request >= 12 && request <= 14
          ? le64(BigInt(index) | (num & 1 ? 0x100n : 0n) | high)
          : [...le32(index), ...le32(num)];
    return { bytes: Uint8Array.from([...hdr(request, 0x1, payload.length), ...payload]), fdCount, options: { maxQueues }, origin: "hostile vring" };
  });

const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  { weight: 1, arbitrary: randomBytes },
  { weight: 3, arbitrary: randomHeader },
  { weight: 4, arbitrary: mutated },
  { weight: 2, arbitrary: hostileTable },
  { weight: 1, arbitrary: hostileVring },
);

/** The checks of the decoder, each of which must fire over a run. */
const DECODER_CODES: readonly VhostUserErrorCode[] = ["truncated", "too-long", "bad-version", "bad-flags", "bad-size", "unknown-request", "bad-index", "bad-region", "overlap", "fd-count", "bad-payload", "out-of-range"];

describe(`hostile messages (fast-check, ${RUNS} cases, seed ${SEED})`, () => {
  it("each gives a VhostUserError or a valid decode that round-trips, never another throw; every check fires", () => {
    const totals = Object.fromEntries([["decoded", 0], ...VHOST_USER_ERROR_CODES.map((c) => [c, 0])]) as Record<VhostUserErrorCode | "decoded", number>;
    console.log(`vhost-user: fast-check seed ${SEED} (rerun with VHOST_USER_PROP_SEED=${SEED})`);
    fc.assert(
      fc.property(hostile, (h) => {
        let m: VhostUserMessage;
        try {
          m = decodeVhostUserMessage(h.bytes, h.fdCount, h.options);
        } catch (e) {
          if (!isVhostUserError(e)) throw new Error(`${h.origin}: not a VhostUserError: ${String(e)}`);
          expect(e.message.startsWith(`${e.field}: `)).toBe(true);
          totals[e.code]++;
          return;
        }
        totals.decoded++;
        // A decoded message encodes (padding zeroed) to bytes that decode to the same message.
        const again = encodeVhostUserMessage({ request: m.request, reply: m.reply, needReply: m.needReply, payload: m.payload, fdCount: m.fdCount }, h.options);
        expect(decodeVhostUserMessage(again, m.fdCount, h.options)).toEqual(m);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    console.log(`vhost-user hostile messages fired: ${JSON.stringify(totals)}`);
    expect(Object.values(totals).reduce((a, b) => a + b, 0)).toBe(RUNS);
    if (RUNS >= 10_000) {
      for (const k of DECODER_CODES) expect(totals[k], `check ${k}`).toBeGreaterThan(0);
      expect(totals.decoded).toBeGreaterThan(0);
    }
  });

  it("a hostile stream through the framer gives frames or too-long, never another throw", () => {
    let frames = 0;
    let tooLong = 0;
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), hostile.map((h) => h.bytes)), { maxLength: 8 }), (chunks) => {
        const framer = new VhostUserFramer({ maxPayload: 256 });
        try {
          for (const c of chunks) {
            for (const f of framer.push(c)) {
              frames++;
              expect(f.bytes.length).toBe(12 + new DataView(f.bytes.buffer, f.bytes.byteOffset).getUint32(8, true));
              try {
                decodeVhostUserMessage(f.bytes, f.fdCount);
              } catch (e) {
                if (!isVhostUserError(e)) throw e;
              }
            }
          }
        } catch (e) {
          if (!isVhostUserError(e) || e.code !== "too-long") throw e;
          tooLong++;
        }
      }),
      { numRuns: 2000, seed: SEED },
    );
    expect(frames).toBeGreaterThan(0);
    expect(tooLong).toBeGreaterThan(0);
  });
});
