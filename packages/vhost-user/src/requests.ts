// What each front-end request carries, both ways: payload shape, size and file descriptors.
// Source: QEMU docs/interop/vhost-user.rst, "Front-end message types" (request and reply payload
// of each message) and "Communication" (which messages carry file descriptors, which solicit a
// reply); "VHOST_USER_PROTOCOL_F_REPLY_ACK" (the u64 acknowledgement).
import { VHOST_USER_REQUEST, type VhostUserRequestName } from "./constants.js";
import type { VhostUserPayloadType } from "./payload.js";

/**
 * How many file descriptors come with a message: a fixed range (`dflt` is what an encoder attaches
 * when not told), one per memory region, or one unless bit 8 of the u64 (NOFD) is set.
 */
export type FdRule = { readonly min: number; readonly max: number; readonly dflt: number } | "regions" | "nofd-bit";

/** One accepted payload of a request or reply. */
export interface PayloadRule {
  readonly kind: VhostUserPayloadType;
  /** A fixed size for `raw` payloads; undefined: any size up to the payload limit. */
  readonly size?: number;
  readonly fds: FdRule;
  /** A constraint on a vring state's `num`: reserved (0), or a boolean (0/1). */
  readonly num?: "zero" | "bool";
}

/** The payloads a request takes and its reply takes; alternatives are told apart by size. */
export interface RequestSpec {
  readonly name: VhostUserRequestName;
  readonly id: number;
  readonly request: readonly PayloadRule[];
  readonly reply: readonly PayloadRule[];
  /** The request solicits a reply of its own (vhost-user.rst "Communication" and each message's reply payload). */
  readonly explicitReply: boolean;
}

const fds = (n: number): FdRule => ({ min: n, max: n, dflt: n });
const NO_FD = fds(0);
const none: PayloadRule = { kind: "none", fds: NO_FD };
const u64: PayloadRule = { kind: "u64", fds: NO_FD };
const state: PayloadRule = { kind: "vring-state", fds: NO_FD };
const withFd = (kind: VhostUserPayloadType): PayloadRule => ({ kind, fds: fds(1) });
const ack: readonly PayloadRule[] = [u64];

type Row = readonly [readonly PayloadRule[], readonly PayloadRule[], boolean];

const ROWS: Readonly<Record<VhostUserRequestName, Row>> = {
  GET_FEATURES: [[none], [u64], true],
  SET_FEATURES: [[u64], ack, false],
  SET_OWNER: [[none], ack, false],
  RESET_OWNER: [[none], ack, false],
  // One fd per region, in region order. The reply is a REPLY_ACK u64, or in postcopy the table
  // with the back-end's mapping bases (no fds).
  SET_MEM_TABLE: [[{ kind: "memory-table", fds: "regions" }], [u64, { kind: "memory-table", fds: NO_FD }], false],
  // The spec lists a u64; QEMU sends the 16-byte log description, with the log's fd when LOG_SHMFD.
  SET_LOG_BASE: [[u64, { kind: "log", fds: { min: 0, max: 1, dflt: 1 } }], ack, false],
  SET_LOG_FD: [[withFd("none")], ack, false],
  SET_VRING_NUM: [[state], ack, false],
  SET_VRING_ADDR: [[{ kind: "vring-addr", fds: NO_FD }], ack, false],
  SET_VRING_BASE: [[state], ack, false],
  // "The request payload's num field is currently reserved and must be set to 0."
  GET_VRING_BASE: [[{ ...state, num: "zero" }], [state], true],
  SET_VRING_KICK: [[{ kind: "vring-fd", fds: "nofd-bit" }], ack, false],
  SET_VRING_CALL: [[{ kind: "vring-fd", fds: "nofd-bit" }], ack, false],
  SET_VRING_ERR: [[{ kind: "vring-fd", fds: "nofd-bit" }], ack, false],
  GET_PROTOCOL_FEATURES: [[none], [u64], true],
  SET_PROTOCOL_FEATURES: [[u64], ack, false],
  GET_QUEUE_NUM: [[none], [u64], true],
  SET_VRING_ENABLE: [[{ ...state, num: "bool" }], ack, false],
  SEND_RARP: [[u64], ack, false],
  NET_SET_MTU: [[u64], ack, false],
  SET_BACKEND_REQ_FD: [[withFd("none")], ack, false],
  IOTLB_MSG: [[{ kind: "raw", fds: NO_FD }], [u64], true],
  // "Little-endian is indicated with state.num set to 0 and big-endian ... 1. Other values are invalid."
  SET_VRING_ENDIAN: [[{ ...state, num: "bool" }], ack, false],
  // A back-end answers a GET_CONFIG it cannot serve with an empty payload.
  GET_CONFIG: [[{ kind: "config", fds: NO_FD }], [{ kind: "config", fds: NO_FD }, none], true],
  SET_CONFIG: [[{ kind: "config", fds: NO_FD }], ack, false],
  CREATE_CRYPTO_SESSION: [[{ kind: "raw", fds: NO_FD }], [{ kind: "raw", fds: NO_FD }], true],
  CLOSE_CRYPTO_SESSION: [[u64], ack, false],
  POSTCOPY_ADVISE: [[none], [withFd("none")], true],
  POSTCOPY_LISTEN: [[none], ack, false],
  POSTCOPY_END: [[none], [u64], true],
  GET_INFLIGHT_FD: [[{ kind: "raw", fds: NO_FD }], [{ kind: "raw", fds: fds(1) }], true],
  SET_INFLIGHT_FD: [[{ kind: "raw", fds: fds(1) }], ack, false],
  GPU_SET_SOCKET: [[withFd("none")], ack, false],
  RESET_DEVICE: [[none], ack, false],
  // "The state.num field is currently reserved and must be set to 0."
  VRING_KICK: [[{ ...state, num: "zero" }], ack, false],
  GET_MAX_MEM_SLOTS: [[none], [u64], true],
  ADD_MEM_REG: [[withFd("memory-region")], [u64, { kind: "memory-region", fds: NO_FD }], false],
  // "No file descriptors SHOULD be passed ... the back-end MAY accept messages with one file descriptor."
  REM_MEM_REG: [[{ kind: "memory-region", fds: { min: 0, max: 1, dflt: 0 } }], ack, false],
  SET_STATUS: [[u64], ack, false],
  GET_STATUS: [[none], [u64], true],
  // A 16-byte UUID; the reply carries the dma-buf fd on success, none otherwise.
  GET_SHARED_OBJECT: [[{ kind: "raw", size: 16, fds: NO_FD }], [{ kind: "u64", fds: { min: 0, max: 1, dflt: 0 } }], true],
  // Transfer direction and migration phase (u32 each), with the channel's fd; the reply's bit 8 says no fd.
  SET_DEVICE_STATE_FD: [[{ kind: "raw", size: 8, fds: fds(1) }], [{ kind: "u64", fds: "nofd-bit" }], true],
  CHECK_DEVICE_STATE: [[none], [u64], true],
};

/** The spec of every request, indexed by its number. */
export const SPECS: readonly (RequestSpec | undefined)[] = (() => {
  const out: (RequestSpec | undefined)[] = [];
  for (const name of Object.keys(VHOST_USER_REQUEST) as VhostUserRequestName[]) {
    const id = VHOST_USER_REQUEST[name];
    const [request, reply, explicitReply] = ROWS[name];
    out[id] = { name, id, request, reply, explicitReply };
  }
  return out;
})();

/** The highest request number this codec knows. */
export const MAX_REQUEST_ID: number = SPECS.length - 1;
