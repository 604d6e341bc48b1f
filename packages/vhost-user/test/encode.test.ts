// The encoder and the reply helpers against hand-built vectors (QEMU docs/interop/vhost-user.rst,
// sections named per test), the fd count, the reply rules, feature negotiation and the framer.
import { describe, expect, it } from "vitest";
import {
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_PROTOCOL_F,
  VHOST_USER_REQUEST,
  VhostUserFramer,
  decodeVhostUserMessage,
  encodeVhostUserAck,
  encodeVhostUserConfigReply,
  encodeVhostUserMessage,
  encodeVhostUserU64Reply,
  encodeVhostUserVringBaseReply,
  hasVhostUserFeature,
  negotiateVhostUserFeatures,
  vhostUserFdCount,
  vhostUserFeatureMask,
  vhostUserReplyKind,
  vhostUserRequestName,
} from "../src/index.js";
import { codeOf, le32, le64, msg, NEED_REPLY, region, REPLY, V1 } from "./helpers.js";

describe("encodeVhostUserMessage: bytes", () => {
  it("a request without payload: header only, version 1", () => {
    expect(encodeVhostUserMessage({ request: "SET_OWNER" })).toEqual(msg(3, V1));
    expect(encodeVhostUserMessage({ request: 1 })).toEqual(msg(1, V1));
  });

  it("the NEED_REPLY and REPLY flags", () => {
    expect(encodeVhostUserMessage({ request: "SET_FEATURES", needReply: true, payload: { type: "u64", value: 1 } })).toEqual(msg(2, NEED_REPLY, le64(1n)));
    expect(encodeVhostUserMessage({ request: "GET_FEATURES", reply: true, payload: { type: "u64", value: 1n << 32n } })).toEqual(msg(1, REPLY, le64(1n << 32n)));
    expect(codeOf(() => encodeVhostUserMessage({ request: "GET_FEATURES", reply: true, needReply: true, payload: { type: "u64", value: 0 } }))).toBe("bad-flags");
  });

  it("vring state and vring address", () => {
    expect(encodeVhostUserMessage({ request: "SET_VRING_NUM", payload: { type: "vring-state", index: 1, num: 256 } })).toEqual(msg(8, V1, [...le32(1), ...le32(256)]));
    const addr = { type: "vring-addr", index: 0, flags: 1, descUser: 0x1000n, usedUser: 0x3000, availUser: 0x2000n, logGuest: 0x4000n } as const;
    expect(encodeVhostUserMessage({ request: "SET_VRING_ADDR", payload: addr })).toEqual(msg(9, V1, [...le32(0), ...le32(1), ...le64(0x1000n), ...le64(0x3000n), ...le64(0x2000n), ...le64(0x4000n)]));
  });

  it("SET_VRING_CALL: index in bits 0-7, NOFD in bit 8", () => {
    expect(encodeVhostUserMessage({ request: "SET_VRING_CALL", payload: { type: "vring-fd", index: 7, noFd: true } })).toEqual(msg(13, V1, le64(0x107n)));
    expect(encodeVhostUserMessage({ request: "SET_VRING_KICK", payload: { type: "vring-fd", index: 255, noFd: false } })).toEqual(msg(12, V1, le64(0xffn)));
    expect(codeOf(() => encodeVhostUserMessage({ request: "SET_VRING_KICK", payload: { type: "vring-fd", index: 256, noFd: false } }))).toBe("out-of-range");
  });

  it("SET_MEM_TABLE: nregions, zero padding, regions", () => {
    const regions = [
      { guestAddress: 0n, size: 0xa0000n, userAddress: 0x7f00_0000_0000n, mmapOffset: 0n },
      { guestAddress: 0x10_0000, size: 0x7ff0_0000, userAddress: 0x7f00_0010_0000n, mmapOffset: 0x10_0000 },
    ];
    expect(encodeVhostUserMessage({ request: "SET_MEM_TABLE", payload: { type: "memory-table", regions } })).toEqual(
      msg(5, V1, [...le32(2), ...le32(0), ...region(0n, 0xa0000n, 0x7f00_0000_0000n, 0n), ...region(0x10_0000n, 0x7ff0_0000n, 0x7f00_0010_0000n, 0x10_0000n)]),
    );
  });

  it("ADD_MEM_REG: 8 bytes of padding then the region", () => {
    const r = { guestAddress: 1n << 32n, size: 1n << 30n, userAddress: 0x7f80_0000_0000n, mmapOffset: 0n };
    expect(encodeVhostUserMessage({ request: "ADD_MEM_REG", payload: { type: "memory-region", region: r } })).toEqual(msg(37, V1, [...le64(0n), ...region(1n << 32n, 1n << 30n, 0x7f80_0000_0000n, 0n)]));
  });

  it("SET_LOG_BASE, SET_CONFIG and a raw payload", () => {
    expect(encodeVhostUserMessage({ request: "SET_LOG_BASE", payload: { type: "log", mmapSize: 0x4000, mmapOffset: 0 } })).toEqual(msg(6, V1, [...le64(0x4000n), ...le64(0n)]));
    expect(encodeVhostUserMessage({ request: "SET_CONFIG", payload: { type: "config", offset: 4, flags: 1, data: Uint8Array.from([9, 8]) } })).toEqual(msg(25, V1, [...le32(4), ...le32(2), ...le32(1), 9, 8]));
    expect(encodeVhostUserMessage({ request: "IOTLB_MSG", payload: { type: "raw", bytes: Uint8Array.from([1, 2]) } })).toEqual(msg(22, V1, [1, 2]));
  });

  it("applies the decoder's checks", () => {
    const r = (g: bigint, s: bigint) => ({ guestAddress: g, size: s, userAddress: 0n, mmapOffset: 0n });
    const table = (regions: ReturnType<typeof r>[]) => ({ request: "SET_MEM_TABLE" as const, payload: { type: "memory-table" as const, regions } });
    expect(codeOf(() => encodeVhostUserMessage(table([])))).toBe("out-of-range");
    expect(codeOf(() => encodeVhostUserMessage(table(Array.from({ length: 9 }, (_, i) => r(BigInt(i) << 20n, 1n)))))).toBe("out-of-range");
    expect(codeOf(() => encodeVhostUserMessage(table([r(0n, 0n)])))).toBe("bad-region");
    expect(codeOf(() => encodeVhostUserMessage(table([r(0n, 0x2000n), r(0x1000n, 1n)])))).toBe("overlap");
    expect(codeOf(() => encodeVhostUserMessage(table([r((1n << 64n) - 1n, 2n)])))).toBe("bad-region");
    expect(codeOf(() => encodeVhostUserMessage(table([r(1n << 64n, 1n)])))).toBe("out-of-range");
    expect(codeOf(() => encodeVhostUserMessage(table([r(-1n, 1n)])))).toBe("out-of-range");
    expect(codeOf(() => encodeVhostUserMessage({ request: "SET_VRING_NUM", payload: { type: "vring-state", index: 2, num: 1 } }, { maxQueues: 2 }))).toBe("bad-index");
    expect(codeOf(() => encodeVhostUserMessage({ request: "SET_VRING_ENABLE", payload: { type: "vring-state", index: 0, num: 2 } }))).toBe("bad-payload");
    expect(codeOf(() => encodeVhostUserMessage({ request: "SET_CONFIG", payload: { type: "config", offset: 0, flags: 0, data: new Uint8Array(257) } }))).toBe("out-of-range");
    expect(codeOf(() => encodeVhostUserMessage({ request: "IOTLB_MSG", payload: { type: "raw", bytes: new Uint8Array(4097) } }))).toBe("too-long");
    expect(codeOf(() => encodeVhostUserMessage({ request: "GET_SHARED_OBJECT", payload: { type: "raw", bytes: new Uint8Array(15) } }))).toBe("bad-payload");
  });

  it("refuses a payload the request does not take, and unknown requests", () => {
    expect(codeOf(() => encodeVhostUserMessage({ request: "SET_MEM_TABLE", payload: { type: "u64", value: 0 } }))).toBe("bad-payload");
    expect(codeOf(() => encodeVhostUserMessage({ request: "GET_FEATURES", payload: { type: "u64", value: 0 } }))).toBe("bad-payload");
    expect(codeOf(() => encodeVhostUserMessage({ request: "NOPE" as never }))).toBe("unknown-request");
    expect(codeOf(() => encodeVhostUserMessage({ request: "toString" as never }))).toBe("unknown-request");
    expect(codeOf(() => encodeVhostUserMessage({ request: 44 }))).toBe("unknown-request");
    expect(codeOf(() => encodeVhostUserMessage({ request: 1.5 }))).toBe("invalid-argument");
    expect(codeOf(() => encodeVhostUserMessage({ request: "SET_FEATURES", payload: { type: "u64", value: 1.5 } }))).toBe("invalid-argument");
    expect(codeOf(() => encodeVhostUserMessage({ request: "SET_FEATURES", payload: { type: "bogus" } as never }))).toBe("invalid-argument");
    expect(codeOf(() => encodeVhostUserMessage(null as never))).toBe("invalid-argument");
  });
});

describe("vhostUserFdCount (vhost-user.rst, Communication)", () => {
  const r = { guestAddress: 0n, size: 1n, userAddress: 0n, mmapOffset: 0n };
  it.each([
    [{ request: "SET_OWNER" }, 0],
    [{ request: "SET_LOG_FD" }, 1],
    [{ request: "SET_BACKEND_REQ_FD" }, 1],
    [{ request: "SET_VRING_KICK", payload: { type: "vring-fd", index: 0, noFd: false } }, 1],
    [{ request: "SET_VRING_ERR", payload: { type: "vring-fd", index: 0, noFd: true } }, 0],
    [{ request: "ADD_MEM_REG", payload: { type: "memory-region", region: r } }, 1],
    [{ request: "REM_MEM_REG", payload: { type: "memory-region", region: r } }, 0],
    [{ request: "SET_LOG_BASE", payload: { type: "log", mmapSize: 1, mmapOffset: 0 } }, 1],
    [{ request: "SET_MEM_TABLE", payload: { type: "memory-table", regions: [r, { ...r, guestAddress: 1n }, { ...r, guestAddress: 2n }] } }, 3],
  ] as const)("%# %o carries %i fds", (m, n) => {
    expect(vhostUserFdCount(m)).toBe(n);
    expect(decodeVhostUserMessage(encodeVhostUserMessage(m), n).fdCount).toBe(n);
  });

  it("checks a given fdCount", () => {
    expect(vhostUserFdCount({ request: "REM_MEM_REG", payload: { type: "memory-region", region: r }, fdCount: 1 })).toBe(1);
    expect(codeOf(() => vhostUserFdCount({ request: "SET_LOG_FD", fdCount: 0 }))).toBe("fd-count");
  });
});

describe("reply helpers", () => {
  it("u64 replies and REPLY_ACK (vhost-user.rst, VHOST_USER_PROTOCOL_F_REPLY_ACK)", () => {
    expect(encodeVhostUserU64Reply("GET_PROTOCOL_FEATURES", 0x8)).toEqual(msg(15, REPLY, le64(8n)));
    expect(encodeVhostUserAck("SET_MEM_TABLE", true)).toEqual(msg(5, REPLY, le64(0n)));
    expect(encodeVhostUserAck(VHOST_USER_REQUEST.SET_VRING_ADDR, false)).toEqual(msg(9, REPLY, le64(1n)));
    expect(codeOf(() => encodeVhostUserAck("GET_VRING_BASE", true))).toBe("bad-payload"); // its reply is a vring state
    expect(codeOf(() => encodeVhostUserAck("SET_OWNER", 0 as never))).toBe("invalid-argument");
  });

  it("GET_VRING_BASE's reply", () => {
    expect(encodeVhostUserVringBaseReply(1, 0x1234)).toEqual(msg(11, REPLY, [...le32(1), ...le32(0x1234)]));
  });

  it("GET_CONFIG's reply, and the empty one for a failure", () => {
    expect(encodeVhostUserConfigReply(0, Uint8Array.from([1, 2, 3]))).toEqual(msg(24, REPLY, [...le32(0), ...le32(3), ...le32(0), 1, 2, 3]));
    expect(encodeVhostUserConfigReply(0, undefined)).toEqual(msg(24, REPLY));
  });

  it("vhostUserReplyKind", () => {
    const reqs = (request: keyof typeof VHOST_USER_REQUEST, needReply = false) => ({ request, reply: false, needReply });
    const ackOn = vhostUserFeatureMask([VHOST_USER_PROTOCOL_F.REPLY_ACK]);
    expect(vhostUserReplyKind(reqs("GET_FEATURES"), 0n)).toBe("explicit");
    expect(vhostUserReplyKind(reqs("GET_VRING_BASE", true), ackOn)).toBe("explicit");
    expect(vhostUserReplyKind(reqs("SET_MEM_TABLE", true), ackOn)).toBe("ack");
    expect(vhostUserReplyKind(reqs("SET_MEM_TABLE", true), 0n)).toBe("none");
    expect(vhostUserReplyKind(reqs("SET_MEM_TABLE", false), ackOn)).toBe("none");
    expect(vhostUserReplyKind(reqs("SET_LOG_BASE"), vhostUserFeatureMask([VHOST_USER_PROTOCOL_F.LOG_SHMFD]))).toBe("explicit");
    expect(vhostUserReplyKind(reqs("SET_LOG_BASE"), 0)).toBe("none");
    expect(vhostUserReplyKind({ request: "GET_FEATURES", reply: true, needReply: false }, ackOn)).toBe("none");
  });

  it("vhostUserRequestName", () => {
    expect(vhostUserRequestName(5)).toBe("SET_MEM_TABLE");
    expect(vhostUserRequestName(21)).toBe("SET_BACKEND_REQ_FD");
    expect(vhostUserRequestName(43)).toBe("CHECK_DEVICE_STATE");
    for (const n of [0, 44, -1, 1.5, NaN]) expect(vhostUserRequestName(n)).toBeUndefined();
  });
});

describe("the request numbers and feature bits (vhost-user.rst, Front-end message types, Protocol features)", () => {
  it("match the spec's ids", () => {
    expect(VHOST_USER_REQUEST).toMatchObject({
      GET_FEATURES: 1, SET_FEATURES: 2, SET_OWNER: 3, RESET_OWNER: 4, SET_MEM_TABLE: 5, SET_LOG_BASE: 6, SET_LOG_FD: 7,
      SET_VRING_NUM: 8, SET_VRING_ADDR: 9, SET_VRING_BASE: 10, GET_VRING_BASE: 11, SET_VRING_KICK: 12, SET_VRING_CALL: 13,
      SET_VRING_ERR: 14, GET_PROTOCOL_FEATURES: 15, SET_PROTOCOL_FEATURES: 16, GET_QUEUE_NUM: 17, SET_VRING_ENABLE: 18,
      SEND_RARP: 19, NET_SET_MTU: 20, SET_BACKEND_REQ_FD: 21, IOTLB_MSG: 22, SET_VRING_ENDIAN: 23, GET_CONFIG: 24,
      SET_CONFIG: 25, CREATE_CRYPTO_SESSION: 26, CLOSE_CRYPTO_SESSION: 27, POSTCOPY_ADVISE: 28, POSTCOPY_LISTEN: 29,
      POSTCOPY_END: 30, GET_INFLIGHT_FD: 31, SET_INFLIGHT_FD: 32, GPU_SET_SOCKET: 33, RESET_DEVICE: 34, VRING_KICK: 35,
      GET_MAX_MEM_SLOTS: 36, ADD_MEM_REG: 37, REM_MEM_REG: 38, SET_STATUS: 39, GET_STATUS: 40, GET_SHARED_OBJECT: 41,
      SET_DEVICE_STATE_FD: 42, CHECK_DEVICE_STATE: 43,
    });
    expect(Object.keys(VHOST_USER_REQUEST)).toHaveLength(43);
    expect(VHOST_USER_F_PROTOCOL_FEATURES).toBe(30);
    expect(VHOST_USER_PROTOCOL_F).toEqual({
      MQ: 0, LOG_SHMFD: 1, RARP: 2, REPLY_ACK: 3, MTU: 4, BACKEND_REQ: 5, CROSS_ENDIAN: 6, CRYPTO_SESSION: 7, PAGEFAULT: 8,
      CONFIG: 9, BACKEND_SEND_FD: 10, HOST_NOTIFIER: 11, INFLIGHT_SHMFD: 12, RESET_DEVICE: 13, INBAND_NOTIFICATIONS: 14,
      CONFIGURE_MEM_SLOTS: 15, STATUS: 16, XEN_MMAP: 17, SHARED_OBJECT: 18, DEVICE_STATE: 19,
    });
  });
});

describe("feature negotiation", () => {
  const offered = vhostUserFeatureMask([0, 32, VHOST_USER_F_PROTOCOL_FEATURES]);

  it("masks and bits", () => {
    expect(offered).toBe(0x1_4000_0001n);
    expect(hasVhostUserFeature(offered, 30)).toBe(true);
    expect(hasVhostUserFeature(offered, 31)).toBe(false);
    expect(hasVhostUserFeature(1n << 63n, 63)).toBe(true);
    expect(codeOf(() => vhostUserFeatureMask([64]))).toBe("out-of-range");
  });

  it("accepts a subset of the offer, refuses a bit not offered and names it", () => {
    expect(negotiateVhostUserFeatures(offered, 0x1_0000_0000n)).toBe(0x1_0000_0000n);
    expect(negotiateVhostUserFeatures(offered, 0)).toBe(0n);
    expect(negotiateVhostUserFeatures(offered, offered)).toBe(offered);
    try {
      negotiateVhostUserFeatures(offered, 0x1_4000_0003n);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: "not-offered", message: "SET_FEATURES.value: bit 1 set but not offered (offered 0x140000001, set 0x140000003)" });
    }
    expect(codeOf(() => negotiateVhostUserFeatures(0, 1n << 63n, "protocol-features"))).toBe("not-offered");
  });

  it("INBAND_NOTIFICATIONS needs BACKEND_REQ and REPLY_ACK (vhost-user.rst, In-band notifications)", () => {
    const all = vhostUserFeatureMask([3, 5, 14]);
    expect(negotiateVhostUserFeatures(all, all, "protocol-features")).toBe(all);
    expect(codeOf(() => negotiateVhostUserFeatures(all, vhostUserFeatureMask([3, 14]), "protocol-features"))).toBe("feature-dependency");
    expect(codeOf(() => negotiateVhostUserFeatures(all, vhostUserFeatureMask([5, 14]), "protocol-features"))).toBe("feature-dependency");
    expect(negotiateVhostUserFeatures(all, vhostUserFeatureMask([5, 14]))).toBe(vhostUserFeatureMask([5, 14])); // virtio features: no such rule
  });
});

describe("VhostUserFramer", () => {
  const a = msg(8, V1, [...le32(0), ...le32(256)]); // 20 bytes
  const b = msg(3, V1); // 12 bytes
  const c = msg(13, V1, le64(1n)); // 20 bytes, one fd
  const stream = Uint8Array.from([...a, ...b, ...c]);

  it("cuts a stream into messages whatever the chunking", () => {
    for (let step = 1; step <= stream.length; step++) {
      const f = new VhostUserFramer();
      const out: Uint8Array[] = [];
      for (let at = 0; at < stream.length; at += step) out.push(...f.push(stream.subarray(at, at + step)).map((x) => x.bytes));
      expect(out, `step ${step}`).toEqual([a, b, c]);
      expect(f.buffered).toBe(0);
    }
  });

  it("counts a chunk's fds for the message its first byte belongs to", () => {
    const f = new VhostUserFramer();
    expect(f.push(Uint8Array.from([...a, ...b]))).toEqual([{ bytes: a, fdCount: 0 }, { bytes: b, fdCount: 0 }]);
    expect(f.push(c.subarray(0, 12), 1)).toEqual([]);
    expect(f.buffered).toBe(12);
    expect(f.push(c.subarray(12))).toEqual([{ bytes: c, fdCount: 1 }]);
    expect(f.push(Uint8Array.from([...c, ...b]), 1)).toEqual([{ bytes: c, fdCount: 1 }, { bytes: b, fdCount: 0 }]);
  });

  it("refuses a header announcing more than maxPayload, at once, and stays failed", () => {
    const f = new VhostUserFramer({ maxPayload: 16 });
    const long = msg(22, V1, [], 17);
    expect(codeOf(() => f.push(long))).toBe("too-long");
    expect(codeOf(() => f.push(b))).toBe("too-long");
    const g = new VhostUserFramer();
    expect(g.push(msg(22, V1, [], 4096).subarray(0, 12))).toEqual([]);
    expect(codeOf(() => new VhostUserFramer().push(msg(22, V1, [], 4097)))).toBe("too-long");
  });

  it("returns copies", () => {
    const f = new VhostUserFramer();
    const chunk = b.slice();
    const [frame] = f.push(chunk);
    chunk.fill(0);
    expect(frame!.bytes).toEqual(b);
  });

  it("checks its arguments", () => {
    expect(codeOf(() => new VhostUserFramer({ maxPayload: -1 }))).toBe("out-of-range");
    expect(codeOf(() => new VhostUserFramer().push([1, 2] as never))).toBe("invalid-argument");
    expect(codeOf(() => new VhostUserFramer().push(b, -1))).toBe("out-of-range");
  });
});
