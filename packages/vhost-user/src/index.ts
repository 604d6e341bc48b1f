/**
 * @packageDocumentation
 * `@microvm/vhost-user`: the message codec of the vhost-user protocol (QEMU
 * docs/interop/vhost-user.rst), the control plane through which a front-end (QEMU, a VMM) hands
 * virtqueues, guest memory and eventfds to a back-end program. It decodes and validates the
 * front-end's requests and the back-end's replies (header, typed payloads, memory tables, the
 * number of file descriptors each one carries), encodes both, cuts a byte stream into messages,
 * and negotiates feature masks.
 *
 * It is pure: bytes and counts in, values or bytes out. Sockets, SCM_RIGHTS and mmap are the
 * caller's; no Node APIs, so it runs in browsers.
 *
 * ```ts
 * import { VhostUserFramer, decodeVhostUserMessage, encodeVhostUserU64Reply } from "@microvm/vhost-user";
 * const framer = new VhostUserFramer();
 * for (const f of framer.push(chunk, fds.length)) {
 *   const m = decodeVhostUserMessage(f.bytes, f.fdCount, { maxQueues: 2 });
 *   if (m.request === "GET_FEATURES") send(encodeVhostUserU64Reply("GET_FEATURES", offered));
 * }
 * ```
 */
export { VHOST_USER_ERROR_CODES, VhostUserError, isVhostUserError, type VhostUserErrorCode } from "./errors.js";
export {
  VHOST_F_LOG_ALL,
  VHOST_MEMORY_BASELINE_NREGIONS,
  VHOST_USER_CONFIG_HEADER_SIZE,
  VHOST_USER_FLAGS,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_CONFIG_SIZE,
  VHOST_USER_MAX_PAYLOAD,
  VHOST_USER_MEMORY_REGION_SIZE,
  VHOST_USER_PROTOCOL_F,
  VHOST_USER_REQUEST,
  VHOST_USER_VRING_FD,
  VHOST_VRING_F_LOG,
  type VhostUserRequestName,
} from "./constants.js";
export type {
  VhostUserConfigPayload,
  VhostUserLogPayload,
  VhostUserMemoryRegion,
  VhostUserMemoryRegionPayload,
  VhostUserMemoryTablePayload,
  VhostUserNonePayload,
  VhostUserPayload,
  VhostUserPayloadType,
  VhostUserRawPayload,
  VhostUserU64Payload,
  VhostUserVringAddrPayload,
  VhostUserVringFdPayload,
  VhostUserVringStatePayload,
} from "./payload.js";
export {
  decodeVhostUserMessage,
  encodeVhostUserAck,
  encodeVhostUserConfigReply,
  encodeVhostUserMessage,
  encodeVhostUserU64Reply,
  encodeVhostUserVringBaseReply,
  vhostUserFdCount,
  vhostUserReplyKind,
  vhostUserRequestName,
  type VhostUserDecodeOptions,
  type VhostUserMessage,
  type VhostUserMessageInput,
} from "./message.js";
export { VhostUserFramer, type VhostUserFrame, type VhostUserFramerOptions } from "./framer.js";
export { hasVhostUserFeature, negotiateVhostUserFeatures, vhostUserFeatureMask } from "./features.js";
