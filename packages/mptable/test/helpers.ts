// Test-only helpers, written independently of the package's own code.
import { isMptableError } from "../src/index.js";
import { typedErrorOf } from "../../../test/error-codes.ts";

/** 8-bit sum of b[from..to). */
export function sum8(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += b[i]!;
  return s & 0xff;
}

/** Re-balances both checksums of a contiguous table (floating pointer at 0, table at 16). */
export function fixChecksums(b: Uint8Array): Uint8Array {
  const len = b[16 + 4]! | (b[16 + 5]! << 8);
  const end = Math.min(b.length, 16 + len);
  b[16 + 7] = 0;
  b[16 + 7] = (256 - sum8(b, 16, end)) & 0xff;
  b[10] = 0;
  b[10] = (256 - sum8(b, 0, 16)) & 0xff;
  return b;
}

/** The MptableError code thrown by `f`, or "no error"; anything else thrown is rethrown. */
export function codeOf(f: () => unknown): string {
  return typedErrorOf(f, isMptableError)?.code ?? "no error";
}

/** Entry sizes by type, per MP spec 1.4 §4.3 (tables 4-3 to 4-8). */
export const ENTRY_SIZE: Record<number, number> = { 0: 20, 1: 8, 2: 8, 3: 8, 4: 8 };

/**
 * An independent writer of the bytes a table should have, from the MP specification 1.4 §4
 * (tables 4-1 to 4-8) rather than from the package: the floating pointer, then the configuration
 * table right after it, entries in type order, strings blank-padded, the entry count of the base
 * table, both checksums. The property tests compare the encoder's output with it.
 */
export function referenceMpTable(t: {
  address: number;
  specRevision: number;
  imcrPresent: boolean;
  oemId: string;
  productId: string;
  lapicAddress: number;
  processors: readonly { apicId: number; apicVersion: number; enabled: boolean; bootstrap: boolean; signature: number; featureFlags: number }[];
  buses: readonly { id: number; type: string }[];
  ioApics: readonly { id: number; version: number; usable: boolean; address: number }[];
  ioInterrupts: readonly { type: string; polarity: string; trigger: string; sourceBus: number; sourceIrq: number; destApic: number; destPin: number }[];
  localInterrupts: readonly { type: string; polarity: string; trigger: string; sourceBus: number; sourceIrq: number; destApic: number; destLint: number }[];
}): Uint8Array {
  const entries = t.processors.length + t.buses.length + t.ioApics.length + t.ioInterrupts.length + t.localInterrupts.length;
  const baseLength = 44 + 20 * t.processors.length + 8 * (entries - t.processors.length);
  const out: number[] = [];
  const u8 = (v: number): void => void out.push(v & 0xff);
  const u16 = (v: number): void => (u8(v), u8(v >>> 8));
  const u32 = (v: number): void => (u16(v & 0xffff), u16(v >>> 16));
  const text = (s: string, width: number): void => {
    for (let i = 0; i < width; i++) u8(i < s.length ? s.charCodeAt(i) : 0x20);
  };
  // Interrupt type, polarity (flags bits 1:0) and trigger mode (bits 3:2): tables 4-6 to 4-8.
  const INT_TYPE: Record<string, number> = { INT: 0, NMI: 1, SMI: 2, ExtINT: 3 };
  const PO: Record<string, number> = { conforming: 0, "active-high": 1, reserved: 2, "active-low": 3 };
  const EL: Record<string, number> = { conforming: 0, edge: 1, reserved: 2, level: 3 };
  const irq = (entryType: number, e: { type: string; polarity: string; trigger: string; sourceBus: number; sourceIrq: number; destApic: number }, last: number): void => {
    u8(entryType);
    u8(INT_TYPE[e.type]!);
    u16(PO[e.polarity]! | (EL[e.trigger]! << 2));
    u8(e.sourceBus);
    u8(e.sourceIrq);
    u8(e.destApic);
    u8(last);
  };
  // Floating pointer structure (table 4-1).
  text("_MP_", 4);
  u32(t.address + 16);
  u8(1); // length in paragraphs
  u8(t.specRevision);
  u8(0); // checksum, set below
  u8(0); // feature byte 1: a configuration table is present
  u8(t.imcrPresent ? 0x80 : 0);
  u8(0), u8(0), u8(0);
  // Configuration table header (table 4-2).
  text("PCMP", 4);
  u16(baseLength);
  u8(t.specRevision);
  u8(0); // checksum, set below
  text(t.oemId, 8);
  text(t.productId, 12);
  u32(0); // OEM table pointer
  u16(0); // OEM table size
  u16(entries);
  u32(t.lapicAddress);
  u16(0); // extended table length
  u8(0); // extended table checksum
  u8(0); // reserved
  for (const p of t.processors) {
    // Processor entry (table 4-3): CPU flags bit 0 EN, bit 1 BP; 8 reserved bytes.
    u8(0), u8(p.apicId), u8(p.apicVersion), u8((p.enabled ? 1 : 0) | (p.bootstrap ? 2 : 0));
    u32(p.signature), u32(p.featureFlags), u32(0), u32(0);
  }
  for (const b of t.buses) (u8(1), u8(b.id), text(b.type, 6)); // bus entry (table 4-4)
  for (const a of t.ioApics) (u8(2), u8(a.id), u8(a.version), u8(a.usable ? 1 : 0), u32(a.address)); // I/O APIC (4-5)
  for (const e of t.ioInterrupts) irq(3, e, e.destPin); // I/O interrupt assignment (4-6)
  for (const e of t.localInterrupts) irq(4, e, e.destLint); // local interrupt assignment (4-8)
  const b = new Uint8Array(out);
  b[16 + 7] = (256 - sum8(b, 16, b.length)) & 0xff;
  b[10] = (256 - sum8(b, 0, 16)) & 0xff;
  return b;
}
