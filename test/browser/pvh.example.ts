// The browser example of @microvm/pvh (bundled and run by test/browser.test.ts with no Node
// globals): build a memory map, lay out a boot for a tiny hand-made ELF, and print what a guest
// would see.
import { buildE820, decodeStartInfo, isPvhError, layoutPvhBoot, readPvhKernel } from "@microvm/pvh";

// A minimal ELF64 with one PT_LOAD at 1 MiB and a PT_NOTE holding the PVH note (entry 1 MiB).
const elf = new Uint8Array(0x200);
const dv = new DataView(elf.buffer);
elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
dv.setUint16(18, 62, true);
dv.setBigUint64(32, 64n, true);
dv.setUint16(54, 56, true);
dv.setUint16(56, 2, true);
dv.setUint32(64, 1, true); // PT_LOAD
dv.setBigUint64(64 + 8, 0x100n, true);
dv.setBigUint64(64 + 24, 0x100000n, true);
dv.setBigUint64(64 + 32, 0x100n, true);
dv.setBigUint64(64 + 40, 0x1000n, true);
dv.setUint32(120, 4, true); // PT_NOTE
dv.setBigUint64(120 + 8, 0x100n, true);
dv.setBigUint64(120 + 32, 20n, true);
dv.setUint32(0x100, 4, true);
dv.setUint32(0x104, 4, true);
dv.setUint32(0x108, 18, true);
elf.set([0x58, 0x65, 0x6e, 0], 0x10c);
dv.setUint32(0x110, 0x100000, true);

const kernel = readPvhKernel(elf);
const memmap = buildE820({ ram: [{ start: 0, size: 64 << 20 }], reserved: [{ start: 0x9fc00, size: 0x400 }] });
const boot = layoutPvhBoot({ kernel, memmap, cmdline: "console=ttyS0" });
const si = decodeStartInfo(boot.placements.find((p) => p.kind === "start_info")!.bytes);
console.log(`entry 0x${kernel.entry.toString(16)} memmap ${si.memmapEntries} cmdline 0x${si.cmdlinePaddr.toString(16)}`);
for (const p of boot.placements) console.log(`${p.name} 0x${p.address.toString(16)} ${p.size}`);
try {
  readPvhKernel(elf.subarray(0, 10));
} catch (e) {
  console.log(isPvhError(e) ? `error ${e.code}` : "unexpected error");
}
