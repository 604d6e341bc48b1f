// Hand byte builders for the tests: they write little-endian integers field by field from the
// layouts in QEMU docs/interop/vhost-user.rst, without the package's encoder, so a vector built
// here checks the codec rather than restating it.
import { isVhostUserError } from "../src/index.js";
import { typedErrorOf } from "../../../test/error-codes.ts";

/** The little-endian bytes of a u32. */
export function le32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** The little-endian bytes of a u64. */
export function le64(n: bigint): number[] {
  const out: number[] = [];
  for (let i = 0n; i < 8n; i++) out.push(Number((n >> (8n * i)) & 0xffn));
  return out;
}

/** A message: header (request, flags, size) and the payload bytes; `size` defaults to the payload length. */
export function msg(request: number, flags: number, payload: readonly number[] = [], size: number = payload.length): Uint8Array {
  return Uint8Array.from([...le32(request), ...le32(flags), ...le32(size), ...payload]);
}

/** One memory region description: guest address, size, user address, mmap offset. */
export function region(guest: bigint, size: bigint, user: bigint, offset: bigint): number[] {
  return [...le64(guest), ...le64(size), ...le64(user), ...le64(offset)];
}

/** Flags: version 1, plus REPLY (0x4) and/or NEED_REPLY (0x8). */
export const V1 = 0x1;
export const REPLY = 0x5;
export const NEED_REPLY = 0x9;

/** Runs `f` and returns the code of the VhostUserError it throws (fails on any other outcome). */
export function codeOf(f: () => unknown): string {
  const e = typedErrorOf(f, isVhostUserError);
  if (!e) throw new Error("expected a VhostUserError, nothing was thrown");
  return e.code;
}
