/**
 * The contracts of handler modules: code that `@microvm/kvm` loads *inside* a vCPU worker or the
 * I/O worker, so that exits and eventfd events are served on the thread where they happen, with no
 * cross-thread round trip. Handler modules share state with other threads through
 * SharedArrayBuffers passed in `data`.
 */
import type { HltExit, IoExit, MmioExit, ReadAnswer, VcpuExit } from "./exits.js";
import type { RamRegion } from "./memory.js";
import type { Vcpu } from "./vcpu.js";

/**
 * What a vCPU handler module gets, on the vCPU's own thread.
 *
 * @example
 * ```ts
 * export const createVcpuHandler: VcpuHandlerFactory = (ctx: VcpuContext) => ({
 *   hlt: () => {
 *     console.log(ctx.vcpu.getRegs().rip);
 *     ctx.stop("halted");
 *   },
 * });
 * ```
 */
export interface VcpuContext {
  /** The vCPU id. */
  readonly vcpuId: number;
  /** The vCPU, attached on this thread: its register ioctls are safe here (between exits). */
  readonly vcpu: Vcpu;
  /** The VM's RAM regions, viewed on this thread with no copy. */
  readonly memory: readonly RamRegion[];
  /** The `data` given to {@link Vm.startVcpu} (structured-cloned; SharedArrayBuffers are shared). */
  readonly data: unknown;
  /** Ends the run loop after the current exit; the thread's result has reason `handler` and this message. */
  stop(message?: string): void;
}

/**
 * The exit handlers of a vCPU, called synchronously on its thread. Missing methods get the
 * defaults: port and MMIO reads answer all-ones, writes are ignored, HLT ends the run.
 *
 * @example
 * ```ts
 * const handler: VcpuHandler = {
 *   io(exit) {
 *     if (exit.direction === "out" && exit.port === 0x3f8) process.stdout.write(exit.data);
 *   },
 * };
 * ```
 */
export interface VcpuHandler {
  /** Port I/O. For `in`, the return value is the answer ({@link ReadAnswer}). */
  io?(exit: IoExit): ReadAnswer;
  /** MMIO. For a read, the return value is the answer ({@link ReadAnswer}). */
  mmio?(exit: MmioExit): ReadAnswer;
  /** HLT (only without an in-kernel irqchip). Return `true` to re-enter the guest; otherwise the run ends. */
  hlt?(exit: HltExit): boolean | void;
  /**
   * Every exit that ends the run (shutdown, fail-entry, internal-error, system-event, unknown
   * reasons), before it ends: for logging or dumping registers with `ctx.vcpu`.
   */
  exit?(exit: VcpuExit): void;
}

/**
 * The named export `createVcpuHandler` of a vCPU handler module.
 *
 * @example
 * ```ts
 * // devices.ts, loaded in each vCPU worker
 * import type { VcpuHandlerFactory } from "@microvm/kvm";
 * export const createVcpuHandler: VcpuHandlerFactory = (ctx) => ({
 *   io(exit) {
 *     if (exit.direction === "out" && exit.port === 0x3f8) process.stdout.write(exit.data);
 *   },
 * });
 * ```
 */
export type VcpuHandlerFactory = (ctx: VcpuContext) => VcpuHandler | Promise<VcpuHandler>;

/**
 * Options of {@link IoContext.watch}.
 *
 * @example
 * ```ts
 * ctx.watch(kickFd, (_events, count) => console.log(`${count} notifications`), { eventfd: true });
 * ```
 */
export interface WatchOptions {
  /** The fd is an eventfd: read (and reset) its counter before calling back, and pass the count. Default false. */
  readonly eventfd?: boolean;
  /**
   * Call back when the fd is readable (`EPOLLIN`). Default true; false waits for output room only
   * (with `writable`), e.g. while the reader of a socket is paused.
   */
  readonly readable?: boolean;
  /**
   * Also call back when the fd is writable (`EPOLLOUT`, level-triggered), e.g. while a socket has
   * output queued; the callback's `events` says which (`EPOLLIN` 0x1, `EPOLLOUT` 0x4; `EPOLLERR`
   * 0x8 and `EPOLLHUP` 0x10 come whatever was asked). To change what is waited for, `unwatch` the
   * fd and `watch` it again. Default false.
   */
  readonly writable?: boolean;
}

/**
 * What an I/O handler module gets, on the I/O thread.
 *
 * @example
 * ```ts
 * export const createIoHandler: IoHandlerFactory = (ctx: IoContext) => {
 *   ctx.watch(0, () => {
 *     // stdin is readable
 *   });
 *   return {};
 * };
 * ```
 */
export interface IoContext {
  /** The VM's RAM regions, viewed on this thread with no copy. */
  readonly memory: readonly RamRegion[];
  /** The `data` given to {@link Vm.startIoThread}. */
  readonly data: unknown;
  /**
   * Adds an fd to the epoll set (level-triggered; `EPOLLIN` unless {@link WatchOptions.readable}
   * is false, `EPOLLOUT` with {@link WatchOptions.writable}): `callback` runs on this thread each
   * time it is readable (or writable). For a non-eventfd the callback must read it, or it fires
   * again.
   */
  watch(fd: number, callback: (events: number, count: bigint) => void, options?: WatchOptions): void;
  /** Removes an fd from the epoll set. */
  unwatch(fd: number): void;
  /** Ends the I/O thread after the current callback. */
  stop(): void;
}

/**
 * The handlers of an I/O module.
 *
 * @example
 * ```ts
 * const devices: IoHandler = {
 *   onMessage: (m) => console.log("from the host", m),
 *   close: () => console.log("I/O thread stopping"),
 * };
 * ```
 */
export interface IoHandler {
  /** A message from {@link IoThread.send}, delivered on the I/O thread. */
  onMessage?(message: unknown): void;
  /** Called once when the thread stops. */
  close?(): void;
}

/**
 * The named export `createIoHandler` of an I/O handler module.
 *
 * @example
 * ```ts
 * // virtio.ts, loaded in the I/O worker
 * import type { IoHandlerFactory } from "@microvm/kvm";
 * export const createIoHandler: IoHandlerFactory = (ctx) => {
 *   const { kick } = ctx.data as { kick: number };
 *   ctx.watch(kick, () => { // the guest wrote QueueNotify
 *   }, { eventfd: true });
 *   return {};
 * };
 * ```
 */
export type IoHandlerFactory = (ctx: IoContext) => IoHandler | Promise<IoHandler>;

/**
 * @internal Imports an I/O handler module and creates its handler with `ctx` (on an I/O worker,
 * or inline on the owner's thread).
 * @throws whatever the module or its factory throws, or an error naming a module without the export
 */
export async function loadIoHandler(url: string, ctx: IoContext): Promise<IoHandler> {
  const mod = (await import(url)) as { createIoHandler?: IoHandlerFactory };
  if (typeof mod.createIoHandler !== "function") throw new Error(`${url} has no named export createIoHandler`);
  return mod.createIoHandler(ctx);
}
