/**
 * The device backends a board names in its device configuration, made into objects: one place
 * for both engines. The KVM engine's I/O thread builds its devices from these; the QEMU engine
 * builds the ones QEMU cannot reach itself (a RAM disk, a JS module, the ARP responder) and serves
 * them to QEMU over vhost-user or a stream socket.
 *
 * @internal
 */
import { pathToFileURL } from "node:url";
import { MemoryBlockBackend, cryptoEntropy, type BlockBackend, type EntropySource, type FrameBackend } from "@microvm/virtio-mmio";
import { ArpResponder } from "../arp-responder.js";
import type { BlkBackendSpec } from "../devices/blk.js";
import type { ModuleBackendSpec } from "../devices/kind.js";
import type { NetBackendSpec } from "../devices/net.js";
import type { RngBackendSpec } from "../devices/rng.js";
import { systemEntropy } from "./entropy.js";
import { FdBlockBackend } from "./fd-block-backend.js";
import { FileBlockBackend } from "./file-block-backend.js";

/**
 * Loads a `module` backend: the module's named export `createBackend(options)`.
 *
 * @param spec - the module and its options
 * @returns what `createBackend` returned
 * @throws Error when the module has no `createBackend`
 */
export async function moduleBackend(spec: ModuleBackendSpec): Promise<unknown> {
  const url = spec.module.startsWith("file:") ? spec.module : pathToFileURL(spec.module).href;
  const mod = (await import(url)) as { createBackend?: (o: unknown) => unknown };
  if (typeof mod.createBackend !== "function") throw new Error(`${spec.module}: no named export createBackend`);
  return mod.createBackend(spec.options);
}

/**
 * A blk device's backend.
 *
 * @param spec - the backend the board names
 * @param closers - where a close function goes for what must be closed at the end
 * @returns the backend
 */
export async function blockBackend(spec: BlkBackendSpec, closers: (() => void)[]): Promise<BlockBackend> {
  if (spec.type === "memory") return new MemoryBlockBackend(new Uint8Array(spec.buffer), { readOnly: spec.readOnly ?? false, volatileCache: true });
  if (spec.type === "file") {
    const f = new FileBlockBackend(spec.path, { readOnly: spec.readOnly ?? false });
    closers.push(() => f.close());
    return f;
  }
  if (spec.type === "fd") return new FdBlockBackend(spec.fd, { size: spec.size, readOnly: spec.readOnly ?? false, ...(spec.id !== undefined ? { id: spec.id } : {}) });
  return (await moduleBackend(spec)) as BlockBackend;
}

/**
 * A net device's frame backend, for the kinds that live in this process: the ARP responder (the
 * default) and JS modules.
 *
 * @param spec - the backend (absent: the ARP responder)
 * @returns the backend
 */
export async function frameBackend(spec: Extract<NetBackendSpec, { type: "arp-responder" }> | ModuleBackendSpec | undefined): Promise<FrameBackend> {
  if (spec === undefined || spec.type === "arp-responder") return new ArpResponder({ ...(spec?.ips ? { ips: spec.ips } : {}), ...(spec?.mac ? { mac: spec.mac } : {}) });
  return (await moduleBackend(spec)) as FrameBackend;
}

/**
 * An rng device's entropy source.
 *
 * @param spec - the backend (absent: `crypto.getRandomValues`)
 * @returns the source
 */
export async function entropySource(spec: RngBackendSpec | undefined): Promise<EntropySource> {
  if (spec === undefined || spec.type === "crypto") return cryptoEntropy;
  if (spec.type === "system") return systemEntropy();
  return (await moduleBackend(spec)) as EntropySource;
}
