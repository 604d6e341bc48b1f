/**
 * A net backend of ours (the ARP responder, a JS module) as the peer of QEMU's
 * `-netdev stream`: frames cross a unix stream socket, each after its 4-byte big-endian length
 * (QEMU 7.2 net/stream.c; `@microvm/virtio-mmio`'s stream-frame codec). The guest's frames go to
 * the backend's `transmit`; what the backend sends the guest is written to the socket (QEMU
 * queues it for the guest's receive ring).
 *
 * @internal
 */
import type { Socket } from "node:net";
import { StreamFrameDecoder, encodeStreamFrame, type FrameBackend } from "@microvm/virtio-mmio";

/**
 * Serves `backend` on a connected socket until either side closes it.
 *
 * @param sock - the connection QEMU made
 * @param backend - the frame backend
 * @returns a function that ends the service (and the connection)
 */
export function serveFrames(sock: Socket, backend: FrameBackend): () => void {
  const dec = new StreamFrameDecoder();
  backend.attach?.({
    receive: (frame) => {
      if (sock.destroyed) return false;
      sock.write(encodeStreamFrame(frame));
      return true;
    },
  });
  sock.on("data", (b: Buffer) => {
    let frames: Uint8Array[];
    try {
      frames = dec.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
    } catch {
      sock.destroy(); // a length beyond QEMU's own limit: not a peer we can follow
      return;
    }
    for (const f of frames) void Promise.resolve(backend.transmit(f.slice())).catch(() => undefined);
  });
  sock.on("error", () => undefined);
  return () => sock.destroy();
}
