// Internal: little-endian reads and writes of the encoders and decoders. Not exported from the
// package (argument checks are in checks.ts).

/** A DataView over exactly the bytes of `b` (its byteOffset and length respected). */
export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

// The start_info encoder writes bytes with explicit little-endian shifts instead of a DataView: on
// Node 20 a DataView costs about 200 ns to create (and materialises the ArrayBuffer of a small
// on-heap Uint8Array), more than encoding a whole start_info. The table encoders (module list,
// memory map) create one DataView per call, which pays off over many entries.

/** Writes a u32 little-endian. */
export function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Writes a validated u64 little-endian. */
export function putU64(b: Uint8Array, off: number, v: number | bigint): void {
  if (typeof v === "bigint") {
    put32(b, off, Number(v & 0xffff_ffffn));
    put32(b, off + 4, Number(v >> 32n));
  } else {
    // v is a safe integer: `>>> 0` is exactly v mod 2^32, and the subtraction is exact.
    const lo = v >>> 0;
    put32(b, off, lo);
    put32(b, off + 4, v === lo ? 0 : (v - lo) / 0x1_0000_0000);
  }
}

/** Writes a validated u64 little-endian through a DataView (for tables of many entries). */
export function putU64Dv(dv: DataView, off: number, v: number | bigint): void {
  if (typeof v === "bigint") {
    dv.setBigUint64(off, v, true);
  } else {
    const lo = v >>> 0;
    dv.setUint32(off, lo, true);
    dv.setUint32(off + 4, v === lo ? 0 : (v - lo) / 0x1_0000_0000, true);
  }
}
