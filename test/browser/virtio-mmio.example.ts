// The browser example of @microvm/virtio-mmio (bundled and run by test/browser.test.ts with no
// Node globals): a virtio-rng device behind a version-2 transport, driven through its registers
// and a split virtqueue in guest memory, the way a guest driver would (virtio 1.2 §3.1.1, §2.7).
import { GuestMemory, MmioReg, MmioTransport, RngDevice, Status, isVirtioError } from "@microvm/virtio-mmio";

const memory = new GuestMemory([{ guestAddress: 0, bytes: new ArrayBuffer(0x10000) }]);
let interrupts = 0;
const t = new MmioTransport({ memory, device: new RngDevice(), version: 2, interrupt: () => interrupts++ });

console.log(`magic 0x${t.read(MmioReg.MagicValue, 4).toString(16)} version ${t.read(MmioReg.Version, 4)} device ${t.read(MmioReg.DeviceId, 4)}`);
t.write(MmioReg.Status, 4, 0);
t.write(MmioReg.Status, 4, Status.Acknowledge | Status.Driver);
t.write(MmioReg.DeviceFeaturesSel, 4, 1);
const high = t.read(MmioReg.DeviceFeatures, 4);
t.write(MmioReg.DriverFeaturesSel, 4, 1);
t.write(MmioReg.DriverFeatures, 4, high & 1); // VIRTIO_F_VERSION_1 only
t.write(MmioReg.DriverFeaturesSel, 4, 0);
t.write(MmioReg.DriverFeatures, 4, 0);
t.write(MmioReg.Status, 4, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
console.log(`features ok ${(t.read(MmioReg.Status, 4) & Status.FeaturesOk) !== 0}`);

// Queue 0 with 8 entries: descriptors at 0x1000, available ring at 0x2000, used ring at 0x3000.
t.write(MmioReg.QueueSel, 4, 0);
t.write(MmioReg.QueueNum, 4, 8);
t.write(MmioReg.QueueDescLow, 4, 0x1000);
t.write(MmioReg.QueueAvailLow, 4, 0x2000);
t.write(MmioReg.QueueUsedLow, 4, 0x3000);
t.write(MmioReg.QueueReady, 4, 1);
t.write(MmioReg.Status, 4, Status.Acknowledge | Status.Driver | Status.FeaturesOk | Status.DriverOk);

// One device-writable 32-byte buffer at 0x4000, offered and notified.
memory.write64(0x1000, 0x4000n);
memory.write32(0x1008, 32);
memory.write16(0x100c, 2); // VRING_DESC_F_WRITE
memory.write16(0x2004, 0); // ring[0] = descriptor 0
memory.write16(0x2002, 1); // avail idx
t.write(MmioReg.QueueNotify, 4, 0);

const used = memory.read16(0x3002);
const len = memory.read32(0x3008);
const bytes = memory.view(0x4000, 32);
console.log(`used ${used} len ${len} interrupts ${interrupts} random ${bytes.some((b) => b !== bytes[0])}`);
try {
  memory.read32(0x20000);
} catch (e) {
  console.log(isVirtioError(e) ? `error ${e.code}` : "unexpected error");
}
