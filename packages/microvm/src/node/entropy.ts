import { openSync, readSync } from "node:fs";
import type { EntropySource } from "@microvm/virtio-mmio";

/**
 * The host system's entropy for virtio-rng: bytes read from `/dev/urandom`, the kernel's CSPRNG
 * (random(4); the same pool as getrandom(2) without flags once it is initialised). QEMU's
 * `rng-random` backend reads the same file by default (backends/rng-random.c).
 *
 * @returns an entropy source for `RngDevice`
 * @example
 * ```ts
 * const rng = new RngDevice({ source: systemEntropy() });
 * ```
 */
export function systemEntropy(): EntropySource {
  let fd = -1;
  return (out: Uint8Array): void => {
    if (fd < 0) fd = openSync("/dev/urandom", "r");
    let done = 0;
    while (done < out.length) done += readSync(fd, out, done, out.length - done, null);
  };
}
