// The vhost-user message codec: header, payload by request, file descriptor count.
// Layouts: QEMU docs/interop/vhost-user.rst "Message Specification"; Linux
// include/uapi/linux/vhost_types.h (`struct vhost_vring_state`, `struct vhost_vring_addr`,
// `struct vhost_memory_region`).
import { TWO_64, checkBool, checkBytes, checkInt, checkU64, describe, hex, viewOf } from "./bytes.js";
import {
  VHOST_MEMORY_BASELINE_NREGIONS,
  VHOST_USER_CONFIG_HEADER_SIZE,
  VHOST_USER_FLAGS,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_CONFIG_SIZE,
  VHOST_USER_MAX_PAYLOAD,
  VHOST_USER_MEMORY_REGION_SIZE,
  VHOST_USER_PROTOCOL_F,
  VHOST_USER_REQUEST,
  VHOST_USER_VRING_FD,
  type VhostUserRequestName,
} from "./constants.js";
import { VhostUserError } from "./errors.js";
import type { VhostUserMemoryRegion, VhostUserPayload, VhostUserPayloadType } from "./payload.js";
import { MAX_REQUEST_ID, SPECS, type FdRule, type PayloadRule, type RequestSpec } from "./requests.js";

/**
 * A decoded vhost-user message: which request, which direction, the typed payload and the number
 * of file descriptors that came with it (already checked against what the request carries).
 *
 * @example
 * ```ts
 * const m: VhostUserMessage = decodeVhostUserMessage(bytes, fds.length);
 * if (m.request === "SET_VRING_CALL" && m.payload.type === "vring-fd") setCall(m.payload.index, m.payload.noFd ? undefined : fds[0]);
 * ```
 */
export interface VhostUserMessage {
  /** The request's name. */
  readonly request: VhostUserRequestName;
  /** The request's number, as on the wire. */
  readonly requestId: number;
  /** The REPLY flag: this is the back-end's reply to `request`. */
  readonly reply: boolean;
  /** The NEED_REPLY flag: the sender asks for a REPLY_ACK acknowledgement. */
  readonly needReply: boolean;
  /** The payload. */
  readonly payload: VhostUserPayload;
  /** How many file descriptors came with the message. */
  readonly fdCount: number;
}

/**
 * A message to encode. `payload` defaults to none; `fdCount` defaults to what the request carries
 * (one per region for SET_MEM_TABLE, one for SET_VRING_KICK without NOFD, …) and is checked when given.
 *
 * @example
 * ```ts
 * const input: VhostUserMessageInput = { request: "SET_VRING_NUM", payload: { type: "vring-state", index: 0, num: 256 } };
 * ```
 */
export interface VhostUserMessageInput {
  /** The request, by name or number. */
  readonly request: VhostUserRequestName | number;
  /** Encode the back-end's reply to `request` (sets the REPLY flag). */
  readonly reply?: boolean;
  /** Ask for a REPLY_ACK acknowledgement (sets the NEED_REPLY flag; not on a reply). */
  readonly needReply?: boolean;
  /** The payload; 64-bit fields take numbers or bigints. */
  readonly payload?: VhostUserPayload<bigint | number>;
  /** How many file descriptors will go with the message. */
  readonly fdCount?: number;
}

/**
 * Options of the decoder (and of the encoder, which applies the same checks).
 *
 * @example
 * ```ts
 * decodeVhostUserMessage(bytes, 0, { maxQueues: 2 }); // a vring index of 2 or more is `bad-index`
 * ```
 */
export interface VhostUserDecodeOptions {
  /** The number of queues of the device: vring indexes must be below it. Default: no check (kick/call/err indexes are 0..255 anyway). */
  readonly maxQueues?: number;
  /** The largest payload accepted, in bytes (0..2^32-1). Default {@link VHOST_USER_MAX_PAYLOAD}, 4096. */
  readonly maxPayload?: number;
}

/** The spec of request number `id`, or `unknown-request`. */
function specOf(id: number, field: string): RequestSpec {
  const spec = id >= 0 && id <= MAX_REQUEST_ID ? SPECS[id] : undefined;
  if (spec === undefined) throw new VhostUserError("unknown-request", field, `request ${id} is not a front-end request this codec knows (1..${MAX_REQUEST_ID})`);
  return spec;
}

function optionsOf(options: VhostUserDecodeOptions | undefined): { maxQueues: number; maxPayload: number } {
  if (options === undefined) return { maxQueues: Infinity, maxPayload: VHOST_USER_MAX_PAYLOAD };
  if (typeof options !== "object" || options === null) throw new VhostUserError("invalid-argument", "options", `expected an object, got ${describe(options)}`);
  const maxQueues = options.maxQueues === undefined ? Infinity : checkInt("options.maxQueues", options.maxQueues, 1, 0xffffffff);
  const maxPayload = options.maxPayload === undefined ? VHOST_USER_MAX_PAYLOAD : checkInt("options.maxPayload", options.maxPayload, 0, 0xffffffff);
  return { maxQueues, maxPayload };
}

/**
 * The sizes of the payload kinds whose size is fixed (vhost-user.rst "Payload": a u64; a vring
 * state or a vring fd index, 8; the log description, 16; a vring address or one memory region, 40).
 */
const FIXED_SIZE: Readonly<Record<Exclude<VhostUserPayloadType, "memory-table" | "config" | "raw">, number>> = {
  none: 0,
  u64: 8,
  "vring-state": 8,
  "vring-fd": 8,
  log: 16,
  "vring-addr": 40,
  "memory-region": 40,
};

/** The fixed size of a payload kind, or undefined for the variable ones. */
function fixedSize(rule: PayloadRule): number | undefined {
  if (rule.kind === "raw") return rule.size;
  return rule.kind === "memory-table" || rule.kind === "config" ? undefined : FIXED_SIZE[rule.kind];
}

/** The smallest size of a variable payload kind. */
function minSize(rule: PayloadRule): number {
  return rule.kind === "memory-table" ? 8 : rule.kind === "config" ? VHOST_USER_CONFIG_HEADER_SIZE : 0;
}

function sizeText(rule: PayloadRule): string {
  const fixed = fixedSize(rule);
  if (fixed !== undefined) return `${fixed} (${rule.kind})`;
  if (rule.kind === "memory-table") return `8 + 32 * nregions (memory-table)`;
  if (rule.kind === "config") return `12 + config size (config)`;
  return "any (raw)";
}

function pickRule(spec: RequestSpec, reply: boolean, size: number, field: string): PayloadRule {
  const rules = reply ? spec.reply : spec.request;
  for (const rule of rules) {
    const fixed = fixedSize(rule);
    if (fixed === undefined ? size >= minSize(rule) : size === fixed) return rule;
  }
  throw new VhostUserError("bad-size", field, `${spec.name}${reply ? " reply" : ""} takes ${rules.map(sizeText).join(" or ")} bytes, got ${size}`);
}

function readRegion(v: DataView, at: number): VhostUserMemoryRegion {
  return {
    guestAddress: v.getBigUint64(at, true),
    size: v.getBigUint64(at + 8, true),
    userAddress: v.getBigUint64(at + 16, true),
    mmapOffset: v.getBigUint64(at + 24, true),
  };
}

/** Reads the payload of `rule` from `p` (its size already matches the rule's fixed size or minimum). */
function readPayload(name: string, rule: PayloadRule, p: Uint8Array): VhostUserPayload {
  const v = viewOf(p);
  switch (rule.kind) {
    case "none":
      return { type: "none" };
    case "u64":
      return { type: "u64", value: v.getBigUint64(0, true) };
    case "vring-state":
      return { type: "vring-state", index: v.getUint32(0, true), num: v.getUint32(4, true) };
    case "vring-addr":
      return {
        type: "vring-addr",
        index: v.getUint32(0, true),
        flags: v.getUint32(4, true),
        descUser: v.getBigUint64(8, true),
        usedUser: v.getBigUint64(16, true),
        availUser: v.getBigUint64(24, true),
        logGuest: v.getBigUint64(32, true),
      };
    case "vring-fd": {
      const value = v.getBigUint64(0, true);
      if (value >> 9n !== 0n) {
        throw new VhostUserError("bad-payload", `${name}.u64`, `bits 9-63 are reserved (index in bits 0-7, NOFD in bit 8), got 0x${value.toString(16)}`);
      }
      return { type: "vring-fd", index: Number(value & BigInt(VHOST_USER_VRING_FD.INDEX_MASK)), noFd: (value & BigInt(VHOST_USER_VRING_FD.NOFD)) !== 0n };
    }
    case "memory-table": {
      const n = v.getUint32(0, true);
      if (n < 1 || n > VHOST_MEMORY_BASELINE_NREGIONS) {
        throw new VhostUserError("out-of-range", `${name}.nregions`, `expected 1..${VHOST_MEMORY_BASELINE_NREGIONS}, got ${hex(n)}`);
      }
      const want = 8 + n * VHOST_USER_MEMORY_REGION_SIZE;
      if (p.length !== want) throw new VhostUserError("bad-size", "header.size", `${name} with nregions ${n} takes 8 + 32 * ${n} = ${want} bytes, got ${p.length}`);
      const regions: VhostUserMemoryRegion[] = [];
      for (let i = 0; i < n; i++) regions.push(readRegion(v, 8 + i * VHOST_USER_MEMORY_REGION_SIZE));
      return { type: "memory-table", regions };
    }
    case "memory-region":
      return { type: "memory-region", region: readRegion(v, 8) };
    case "log":
      return { type: "log", mmapSize: v.getBigUint64(0, true), mmapOffset: v.getBigUint64(8, true) };
    case "config": {
      const size = v.getUint32(4, true);
      if (size > VHOST_USER_MAX_CONFIG_SIZE) throw new VhostUserError("out-of-range", `${name}.size`, `expected 0..${VHOST_USER_MAX_CONFIG_SIZE}, got ${hex(size)}`);
      const want = VHOST_USER_CONFIG_HEADER_SIZE + size;
      if (p.length !== want) throw new VhostUserError("bad-size", "header.size", `${name} with config size ${size} takes 12 + ${size} = ${want} bytes, got ${p.length}`);
      return { type: "config", offset: v.getUint32(0, true), flags: v.getUint32(8, true), data: p.slice(VHOST_USER_CONFIG_HEADER_SIZE) };
    }
    case "raw":
      return { type: "raw", bytes: p.slice() };
  }
}

/** The file descriptor range a payload of `rule` comes with. */
function fdRange(rule: FdRule, payload: VhostUserPayload): { min: number; max: number; dflt: number; why: string } {
  if (rule === "regions") {
    const n = payload.type === "memory-table" ? payload.regions.length : 0;
    return { min: n, max: n, dflt: n, why: `one per region, ${n} regions` };
  }
  if (rule === "nofd-bit") {
    const noFd = payload.type === "vring-fd" ? payload.noFd : payload.type === "u64" ? (payload.value & BigInt(VHOST_USER_VRING_FD.NOFD)) !== 0n : true;
    const n = noFd ? 0 : 1;
    return { min: n, max: n, dflt: n, why: noFd ? "NOFD (bit 8) is set" : "NOFD (bit 8) is clear" };
  }
  return { ...rule, why: rule.min === rule.max ? "fixed by the request" : "the spec tolerates either" };
}

function checkFdCount(name: string, rule: PayloadRule, payload: VhostUserPayload, fdCount: number): void {
  const r = fdRange(rule.fds, payload);
  if (fdCount < r.min || fdCount > r.max) {
    const want = r.min === r.max ? String(r.min) : `${r.min}..${r.max}`;
    throw new VhostUserError("fd-count", `${name}.fds`, `expected ${want} file descriptor${r.max === 1 && r.min === 1 ? "" : "s"} (${r.why}), got ${fdCount}`);
  }
}

function checkIndex(field: string, index: number, maxQueues: number): void {
  if (index >= maxQueues) throw new VhostUserError("bad-index", field, `expected a vring index 0..${maxQueues - 1}, got ${index}`);
}

function checkRegion(field: string, r: VhostUserMemoryRegion): void {
  if (r.size === 0n) throw new VhostUserError("bad-region", `${field}.size`, "expected a non-empty region, got size 0");
  for (const [key, base] of [["guestAddress", r.guestAddress], ["userAddress", r.userAddress], ["mmapOffset", r.mmapOffset]] as const) {
    if (base + r.size > TWO_64) {
      throw new VhostUserError("bad-region", `${field}.${key}`, `0x${base.toString(16)} + size 0x${r.size.toString(16)} passes 2^64`);
    }
  }
}

/** The semantic checks shared by the decoder and the encoder. */
function checkPayload(name: string, rule: PayloadRule, p: VhostUserPayload, maxQueues: number): void {
  switch (p.type) {
    case "vring-state":
      checkIndex(`${name}.index`, p.index, maxQueues);
      if (rule.num === "zero" && p.num !== 0) throw new VhostUserError("bad-payload", `${name}.num`, `reserved, expected 0, got ${hex(p.num)}`);
      if (rule.num === "bool" && p.num > 1) throw new VhostUserError("bad-payload", `${name}.num`, `expected 0 or 1, got ${hex(p.num)}`);
      return;
    case "vring-addr":
      checkIndex(`${name}.index`, p.index, maxQueues);
      if ((p.flags & ~1) !== 0) throw new VhostUserError("bad-payload", `${name}.flags`, `only bit 0 (VHOST_VRING_F_LOG) is defined, got 0x${p.flags.toString(16)}`);
      return;
    case "vring-fd":
      checkIndex(`${name}.index`, p.index, maxQueues);
      return;
    case "memory-table": {
      p.regions.forEach((r, i) => checkRegion(`${name}.regions[${i}]`, r));
      // Guest ranges must not overlap: sort by start, compare neighbours.
      const order = p.regions.map((r, i) => ({ r, i })).sort((a, b) => (a.r.guestAddress < b.r.guestAddress ? -1 : a.r.guestAddress > b.r.guestAddress ? 1 : 0));
      for (let k = 1; k < order.length; k++) {
        const a = order[k - 1]!;
        const b = order[k]!;
        if (a.r.guestAddress + a.r.size > b.r.guestAddress) {
          throw new VhostUserError(
            "overlap",
            `${name}.regions[${b.i}].guestAddress`,
            `0x${b.r.guestAddress.toString(16)} is inside regions[${a.i}] [0x${a.r.guestAddress.toString(16)}, 0x${(a.r.guestAddress + a.r.size).toString(16)})`,
          );
        }
      }
      return;
    }
    case "memory-region":
      checkRegion(`${name}.region`, p.region);
      return;
    case "config":
      if (p.flags > 1) throw new VhostUserError("bad-payload", `${name}.flags`, `expected 0 (writable fields) or 1 (live migration), got ${hex(p.flags)}`);
      return;
    case "u64":
      // SET_DEVICE_STATE_FD's reply: bits 0-7 are the error, bit 8 NOFD; an error comes without an fd.
      if (rule.fds === "nofd-bit" && (p.value & 0xffn) !== 0n && (p.value & BigInt(VHOST_USER_VRING_FD.NOFD)) === 0n) {
        throw new VhostUserError("bad-payload", `${name}.u64`, `an error (0x${(p.value & 0xffn).toString(16)}) must come with NOFD (bit 8) set`);
      }
      return;
    default:
      return;
  }
}

/**
 * Decodes one vhost-user message: the 12-byte header and exactly `size` payload bytes, with the
 * number of file descriptors that came with it in the socket's ancillary data. Checks, in order:
 * the header is there (`truncated`), version 1 (`bad-version`), no reserved flag and no
 * NEED_REPLY on a reply (`bad-flags`), a known request (`unknown-request`), `size` within the
 * payload limit (`too-long`), `size` against the bytes (`truncated`, `bad-size`) and against the
 * request's payload (`bad-size`), the payload's fields (`out-of-range`, `bad-payload`), the file
 * descriptor count (`fd-count`), vring indexes (`bad-index`), memory regions (`bad-region`,
 * `overlap`).
 *
 * @param bytes - one whole message (see {@link VhostUserFramer} to cut a stream into messages)
 * @param fdCount - how many file descriptors came with it (SCM_RIGHTS)
 * @param options - `maxQueues` for the vring index check, `maxPayload` for the size limit
 * @returns the message with its typed payload; raw and config bytes are copies
 * @throws {@link VhostUserError} with the codes above, or `invalid-argument` for arguments of the wrong type
 * @example
 * ```ts
 * // SET_VRING_NUM (8), version 1, 8 payload bytes: index 0, num 256.
 * const bytes = new Uint8Array([8, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
 * const m = decodeVhostUserMessage(bytes, 0);
 * // m.request === "SET_VRING_NUM", m.payload: { type: "vring-state", index: 0, num: 256 }
 * ```
 */
export function decodeVhostUserMessage(bytes: Uint8Array, fdCount: number, options?: VhostUserDecodeOptions): VhostUserMessage {
  checkBytes("bytes", bytes);
  checkInt("fdCount", fdCount, 0, 0xffff);
  const { maxQueues, maxPayload } = optionsOf(options);
  if (bytes.length < VHOST_USER_HEADER_SIZE) {
    throw new VhostUserError("truncated", "header", `expected ${VHOST_USER_HEADER_SIZE} header bytes, got ${bytes.length}`);
  }
  const v = viewOf(bytes);
  const requestId = v.getUint32(0, true);
  const flags = v.getUint32(4, true);
  const size = v.getUint32(8, true);
  const version = flags & VHOST_USER_FLAGS.VERSION_MASK;
  if (version !== VHOST_USER_FLAGS.VERSION) throw new VhostUserError("bad-version", "header.flags", `expected version ${VHOST_USER_FLAGS.VERSION} in bits 0-1, got ${version}`);
  if ((flags & VHOST_USER_FLAGS.RESERVED_MASK) !== 0) {
    throw new VhostUserError("bad-flags", "header.flags", `bits 4-31 are reserved, got 0x${(flags >>> 0).toString(16)}`);
  }
  const reply = (flags & VHOST_USER_FLAGS.REPLY) !== 0;
  const needReply = (flags & VHOST_USER_FLAGS.NEED_REPLY) !== 0;
  if (reply && needReply) throw new VhostUserError("bad-flags", "header.flags", "a reply (bit 2) cannot ask for a reply (bit 3)");
  const spec = specOf(requestId, "header.request");
  if (size > maxPayload) throw new VhostUserError("too-long", "header.size", `expected at most ${maxPayload} payload bytes, got ${size}`);
  const have = bytes.length - VHOST_USER_HEADER_SIZE;
  if (have < size) throw new VhostUserError("truncated", "payload", `header.size says ${size} bytes, but only ${have} follow the header`);
  if (have > size) throw new VhostUserError("bad-size", "header.size", `says ${size} bytes, but ${have} follow the header (one message per call)`);
  const rule = pickRule(spec, reply, size, "header.size");
  const payload = readPayload(spec.name, rule, bytes.subarray(VHOST_USER_HEADER_SIZE));
  checkFdCount(spec.name, rule, payload, fdCount);
  checkPayload(spec.name, rule, payload, maxQueues);
  return { request: spec.name, requestId, reply, needReply, payload, fdCount };
}

interface Prepared {
  readonly spec: RequestSpec;
  readonly rule: PayloadRule;
  readonly flags: number;
  readonly payload: VhostUserPayload;
  readonly size: number;
  readonly fdCount: number;
}

function normRegion(field: string, r: unknown): VhostUserMemoryRegion {
  if (typeof r !== "object" || r === null) throw new VhostUserError("invalid-argument", field, `expected a region object, got ${describe(r)}`);
  const o = r as Record<string, unknown>;
  return {
    guestAddress: checkU64(`${field}.guestAddress`, o["guestAddress"]),
    size: checkU64(`${field}.size`, o["size"]),
    userAddress: checkU64(`${field}.userAddress`, o["userAddress"]),
    mmapOffset: checkU64(`${field}.mmapOffset`, o["mmapOffset"]),
  };
}

/** Checks the field types and ranges of an input payload and returns it in decoded form. */
function normPayload(name: string, p: VhostUserPayload<bigint | number>, maxPayload: number): VhostUserPayload {
  const o = p as unknown as Record<string, unknown>;
  const f = (k: string): string => `${name}.${k}`;
  switch (p.type) {
    case "none":
      return { type: "none" };
    case "u64":
      return { type: "u64", value: checkU64(f("value"), o["value"]) };
    case "vring-state":
      return { type: "vring-state", index: checkInt(f("index"), o["index"], 0, 0xffffffff), num: checkInt(f("num"), o["num"], 0, 0xffffffff) };
    case "vring-addr":
      return {
        type: "vring-addr",
        index: checkInt(f("index"), o["index"], 0, 0xffffffff),
        flags: checkInt(f("flags"), o["flags"], 0, 0xffffffff),
        descUser: checkU64(f("descUser"), o["descUser"]),
        usedUser: checkU64(f("usedUser"), o["usedUser"]),
        availUser: checkU64(f("availUser"), o["availUser"]),
        logGuest: checkU64(f("logGuest"), o["logGuest"]),
      };
    case "vring-fd":
      return { type: "vring-fd", index: checkInt(f("index"), o["index"], 0, VHOST_USER_VRING_FD.INDEX_MASK), noFd: checkBool(f("noFd"), o["noFd"]) };
    case "memory-table": {
      const regions = o["regions"];
      if (!Array.isArray(regions)) throw new VhostUserError("invalid-argument", f("regions"), `expected an array, got ${describe(regions)}`);
      checkInt(f("nregions"), regions.length, 1, VHOST_MEMORY_BASELINE_NREGIONS);
      return { type: "memory-table", regions: regions.map((r, i) => normRegion(f(`regions[${i}]`), r)) };
    }
    case "memory-region":
      return { type: "memory-region", region: normRegion(f("region"), o["region"]) };
    case "log":
      return { type: "log", mmapSize: checkU64(f("mmapSize"), o["mmapSize"]), mmapOffset: checkU64(f("mmapOffset"), o["mmapOffset"]) };
    case "config": {
      const data = checkBytes(f("data"), o["data"]);
      checkInt(f("size"), data.length, 0, VHOST_USER_MAX_CONFIG_SIZE);
      return { type: "config", offset: checkInt(f("offset"), o["offset"], 0, 0xffffffff), flags: checkInt(f("flags"), o["flags"], 0, 0xffffffff), data };
    }
    case "raw": {
      const bytes = checkBytes(f("bytes"), o["bytes"]);
      if (bytes.length > maxPayload) throw new VhostUserError("too-long", f("bytes"), `expected at most ${maxPayload} payload bytes, got ${bytes.length}`);
      return { type: "raw", bytes };
    }
    default:
      throw new VhostUserError("invalid-argument", f("type"), `expected a payload type (none, u64, vring-state, …), got ${describe(o["type"])}`);
  }
}

function payloadSize(p: VhostUserPayload): number {
  switch (p.type) {
    case "memory-table":
      return 8 + p.regions.length * VHOST_USER_MEMORY_REGION_SIZE;
    case "config":
      return VHOST_USER_CONFIG_HEADER_SIZE + p.data.length;
    case "raw":
      return p.bytes.length;
    default:
      return FIXED_SIZE[p.type];
  }
}

function prepare(msg: VhostUserMessageInput, options: VhostUserDecodeOptions | undefined): Prepared {
  if (typeof msg !== "object" || msg === null) throw new VhostUserError("invalid-argument", "message", `expected an object, got ${describe(msg)}`);
  const { maxQueues, maxPayload } = optionsOf(options);
  let spec: RequestSpec;
  if (typeof msg.request === "string") {
    if (!Object.prototype.hasOwnProperty.call(VHOST_USER_REQUEST, msg.request)) {
      throw new VhostUserError("unknown-request", "request", `expected a request name (GET_FEATURES, SET_MEM_TABLE, …), got ${describe(msg.request)}`);
    }
    spec = specOf(VHOST_USER_REQUEST[msg.request], "request");
  } else if (typeof msg.request === "number" && Number.isInteger(msg.request)) {
    spec = specOf(msg.request, "request");
  } else {
    throw new VhostUserError("invalid-argument", "request", `expected a request name or number, got ${describe(msg.request)}`);
  }
  const reply = checkBool("reply", msg.reply);
  const needReply = checkBool("needReply", msg.needReply);
  if (reply && needReply) throw new VhostUserError("bad-flags", "needReply", "a reply cannot ask for a reply");
  const input = msg.payload ?? { type: "none" };
  if (typeof input !== "object" || input === null) throw new VhostUserError("invalid-argument", "payload", `expected a payload object, got ${describe(input)}`);
  const payload = normPayload(spec.name, input, maxPayload);
  const rules = reply ? spec.reply : spec.request;
  const size = payloadSize(payload);
  const rule = rules.find((r) => r.kind === payload.type && (r.size === undefined || r.size === size));
  if (rule === undefined) {
    const kinds = rules.map((r) => (r.size === undefined ? r.kind : `${r.kind} of ${r.size} bytes`)).join(" or ");
    throw new VhostUserError("bad-payload", `${spec.name}.payload`, `${spec.name}${reply ? " reply" : ""} takes ${kinds}, got ${payload.type}${payload.type === "raw" ? ` of ${size} bytes` : ""}`);
  }
  if (size > maxPayload) throw new VhostUserError("too-long", `${spec.name}.payload`, `expected at most ${maxPayload} payload bytes, got ${size}`);
  checkPayload(spec.name, rule, payload, maxQueues);
  const range = fdRange(rule.fds, payload);
  const fdCount = msg.fdCount === undefined ? range.dflt : checkInt("fdCount", msg.fdCount, 0, 0xffff);
  checkFdCount(spec.name, rule, payload, fdCount);
  const flags = VHOST_USER_FLAGS.VERSION | (reply ? VHOST_USER_FLAGS.REPLY : 0) | (needReply ? VHOST_USER_FLAGS.NEED_REPLY : 0);
  return { spec, rule, flags, payload, size, fdCount };
}

function writeRegion(v: DataView, at: number, r: VhostUserMemoryRegion): void {
  v.setBigUint64(at, r.guestAddress, true);
  v.setBigUint64(at + 8, r.size, true);
  v.setBigUint64(at + 16, r.userAddress, true);
  v.setBigUint64(at + 24, r.mmapOffset, true);
}

/**
 * Encodes a message, request or reply, into exactly the bytes {@link decodeVhostUserMessage}
 * accepts with {@link vhostUserFdCount}`(msg)` file descriptors: the header (version 1, the REPLY
 * and NEED_REPLY flags as asked) and the payload, with padding zeroed. The encoder applies the
 * decoder's checks, so it cannot produce a message the decoder refuses.
 *
 * @param msg - the request (name or number), direction, payload and optional fd count
 * @param options - the same options as the decoder (`maxQueues`, `maxPayload`)
 * @returns the message bytes; the file descriptors travel beside them (SCM_RIGHTS)
 * @throws {@link VhostUserError} `invalid-argument` and `out-of-range` for bad fields,
 *   `unknown-request`, `bad-payload` for a payload the request does not take, and the decoder's
 *   `bad-region`, `overlap`, `bad-index`, `fd-count`, `bad-flags`, `too-long`
 * @example
 * ```ts
 * const bytes = encodeVhostUserMessage({
 *   request: "SET_MEM_TABLE",
 *   payload: { type: "memory-table", regions: [{ guestAddress: 0n, size: 0x8000000n, userAddress: 0x7f0000000000n, mmapOffset: 0n }] },
 * });
 * // bytes.length === 12 + 8 + 32; send it with one fd
 * ```
 */
export function encodeVhostUserMessage(msg: VhostUserMessageInput, options?: VhostUserDecodeOptions): Uint8Array {
  const { spec, flags, payload, size } = prepare(msg, options);
  const out = new Uint8Array(VHOST_USER_HEADER_SIZE + size);
  const v = viewOf(out);
  v.setUint32(0, spec.id, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, size, true);
  const at = VHOST_USER_HEADER_SIZE;
  switch (payload.type) {
    case "none":
      break;
    case "u64":
      v.setBigUint64(at, payload.value, true);
      break;
    case "vring-state":
      v.setUint32(at, payload.index, true);
      v.setUint32(at + 4, payload.num, true);
      break;
    case "vring-addr":
      v.setUint32(at, payload.index, true);
      v.setUint32(at + 4, payload.flags, true);
      v.setBigUint64(at + 8, payload.descUser, true);
      v.setBigUint64(at + 16, payload.usedUser, true);
      v.setBigUint64(at + 24, payload.availUser, true);
      v.setBigUint64(at + 32, payload.logGuest, true);
      break;
    case "vring-fd":
      v.setUint32(at, payload.index | (payload.noFd ? VHOST_USER_VRING_FD.NOFD : 0), true);
      break;
    case "memory-table":
      v.setUint32(at, payload.regions.length, true);
      payload.regions.forEach((r, i) => writeRegion(v, at + 8 + i * VHOST_USER_MEMORY_REGION_SIZE, r));
      break;
    case "memory-region":
      writeRegion(v, at + 8, payload.region);
      break;
    case "log":
      v.setBigUint64(at, payload.mmapSize, true);
      v.setBigUint64(at + 8, payload.mmapOffset, true);
      break;
    case "config":
      v.setUint32(at, payload.offset, true);
      v.setUint32(at + 4, payload.data.length, true);
      v.setUint32(at + 8, payload.flags, true);
      out.set(payload.data, at + VHOST_USER_CONFIG_HEADER_SIZE);
      break;
    case "raw":
      out.set(payload.bytes, at);
      break;
  }
  return out;
}

/**
 * The number of file descriptors a message carries: one per region for SET_MEM_TABLE, one for
 * SET_VRING_KICK/CALL/ERR unless NOFD, one for ADD_MEM_REG, SET_LOG_FD, SET_BACKEND_REQ_FD,
 * SET_INFLIGHT_FD, GPU_SET_SOCKET, SET_DEVICE_STATE_FD and SET_LOG_BASE with a log description,
 * none otherwise (vhost-user.rst "Communication" and the message list). `msg.fdCount`, when
 * given, is checked and returned.
 *
 * @param msg - the message as given to {@link encodeVhostUserMessage}
 * @returns how many file descriptors go with it
 * @throws {@link VhostUserError} as {@link encodeVhostUserMessage} does
 * @example
 * ```ts
 * vhostUserFdCount({ request: "SET_VRING_CALL", payload: { type: "vring-fd", index: 0, noFd: false } }); // 1
 * ```
 */
export function vhostUserFdCount(msg: VhostUserMessageInput): number {
  return prepare(msg, undefined).fdCount;
}

/**
 * The name of request number `id`, or undefined for a number this codec does not know.
 *
 * @param id - a request number from a header
 * @returns its name
 * @example
 * ```ts
 * vhostUserRequestName(5); // "SET_MEM_TABLE"
 * ```
 */
export function vhostUserRequestName(id: number): VhostUserRequestName | undefined {
  return Number.isInteger(id) && id >= 0 && id <= MAX_REQUEST_ID ? SPECS[id]?.name : undefined;
}

/**
 * What a back-end owes the front-end after a request: `"explicit"` when the request has a reply of
 * its own (GET_FEATURES, GET_VRING_BASE, GET_CONFIG, IOTLB_MSG, …, and SET_LOG_BASE once LOG_SHMFD
 * is negotiated), `"ack"` when the front-end set NEED_REPLY and REPLY_ACK is negotiated (a u64, 0
 * for success: {@link encodeVhostUserAck}), `"none"` otherwise and for replies
 * (vhost-user.rst "Communication", "VHOST_USER_PROTOCOL_F_REPLY_ACK").
 *
 * @param msg - a decoded message
 * @param protocolFeatures - the negotiated protocol feature mask
 * @returns the kind of reply owed
 * @example
 * ```ts
 * if (vhostUserReplyKind(m, negotiated) === "ack") send(encodeVhostUserAck(m.request, ok));
 * ```
 */
export function vhostUserReplyKind(msg: Pick<VhostUserMessage, "request" | "reply" | "needReply">, protocolFeatures: bigint | number): "explicit" | "ack" | "none" {
  const features = checkU64("protocolFeatures", protocolFeatures);
  if (msg.reply) return "none";
  const spec = specOf(VHOST_USER_REQUEST[msg.request] ?? -1, "request");
  const has = (bit: number): boolean => ((features >> BigInt(bit)) & 1n) === 1n;
  if (spec.explicitReply || (spec.name === "SET_LOG_BASE" && has(VHOST_USER_PROTOCOL_F.LOG_SHMFD))) return "explicit";
  return msg.needReply && has(VHOST_USER_PROTOCOL_F.REPLY_ACK) ? "ack" : "none";
}

/**
 * Encodes the back-end's u64 reply to `request` (GET_FEATURES, GET_PROTOCOL_FEATURES,
 * GET_QUEUE_NUM, GET_MAX_MEM_SLOTS, GET_STATUS, POSTCOPY_END, CHECK_DEVICE_STATE, IOTLB_MSG, or an
 * acknowledgement of any request).
 *
 * @param request - the request answered
 * @param value - the value
 * @returns the reply bytes
 * @throws {@link VhostUserError} `unknown-request`, `out-of-range`, or `bad-payload` for a request whose reply is not a u64
 * @example
 * ```ts
 * const reply = encodeVhostUserU64Reply("GET_FEATURES", (1n << 32n) | (1n << 30n));
 * ```
 */
export function encodeVhostUserU64Reply(request: VhostUserRequestName | number, value: bigint | number): Uint8Array {
  return encodeVhostUserMessage({ request, reply: true, payload: { type: "u64", value } });
}

/**
 * Encodes the back-end's reply to GET_VRING_BASE: the vring index and its next available index
 * (for a packed ring, both indexes and wrap counters packed into `num`; vhost-user.rst "Vring
 * descriptor indices for packed virtqueues").
 *
 * @param index - the vring index
 * @param num - the next descriptor index
 * @returns the reply bytes
 * @throws {@link VhostUserError} `out-of-range` for values beyond u32
 * @example
 * ```ts
 * const reply = encodeVhostUserVringBaseReply(0, lastAvailIdx);
 * ```
 */
export function encodeVhostUserVringBaseReply(index: number, num: number): Uint8Array {
  return encodeVhostUserMessage({ request: "GET_VRING_BASE", reply: true, payload: { type: "vring-state", index, num } });
}

/**
 * Encodes the back-end's reply to GET_CONFIG: the request's offset and flags with the config bytes
 * (the same length as asked for; vhost-user.rst "VHOST_USER_GET_CONFIG"), or with `data`
 * undefined the empty reply that tells the front-end the read failed.
 *
 * @param offset - the offset of the request
 * @param data - the config bytes, at most 256; undefined for a failure
 * @param flags - the flags of the request (0 or 1)
 * @returns the reply bytes
 * @throws {@link VhostUserError} `out-of-range` for more than 256 bytes, `bad-payload` for flags other than 0/1
 * @example
 * ```ts
 * const reply = encodeVhostUserConfigReply(0, blkConfig.subarray(0, m.payload.data.length));
 * ```
 */
export function encodeVhostUserConfigReply(offset: number, data: Uint8Array | undefined, flags = 0): Uint8Array {
  const payload: VhostUserPayload = data === undefined ? { type: "none" } : { type: "config", offset, flags, data };
  return encodeVhostUserMessage({ request: "GET_CONFIG", reply: true, payload });
}

/**
 * Encodes a REPLY_ACK acknowledgement: the reply to a request sent with NEED_REPLY once
 * VHOST_USER_PROTOCOL_F_REPLY_ACK is negotiated, a u64 of 0 for success and 1 for failure
 * (vhost-user.rst "VHOST_USER_PROTOCOL_F_REPLY_ACK").
 *
 * @param request - the request acknowledged
 * @param success - whether it succeeded
 * @returns the reply bytes
 * @throws {@link VhostUserError} `unknown-request`, or `bad-payload` for a request whose reply is not a u64
 * @example
 * ```ts
 * if (m.needReply) send(encodeVhostUserAck(m.request, true));
 * ```
 */
export function encodeVhostUserAck(request: VhostUserRequestName | number, success: boolean): Uint8Array {
  if (typeof success !== "boolean") throw new VhostUserError("invalid-argument", "success", `expected a boolean, got ${describe(success)}`);
  return encodeVhostUserU64Reply(request, success ? 0n : 1n);
}
