/**
 * Serving a vCPU's exits with its handler module: what every thread that runs a vCPU does between
 * two `KVM_RUN`s, whether the `KVM_RUN` happens on the same thread (a worker, vcpu-worker.ts) or
 * on a native thread (native-vcpu.ts), and its side of the control block the owner watches
 * (protocol.ts). The callers own the loop and how they wait.
 *
 * @internal
 */
import { answerRead, exitDecoder, type VcpuExit } from "./exits.js";
import type { VcpuContext, VcpuHandler, VcpuHandlerFactory } from "./handlers.js";
import { viewRam, type RamDescriptor } from "./memory.js";
import { CMD, CMD_PAUSE, EXITS, setState, STARTED, STATE_ENDED, STATE_PAUSED, STATE_RUNNING, TID, type VcpuEndReason } from "./protocol.js";
import { EAGAIN, EINTR } from "./sys.js";
import { ioctlError } from "./errors.js";
import type { Vcpu } from "./vcpu.js";
import type { Regs, Sregs } from "./registers.js";

/** What one `KVM_RUN` return value asks of the loop: go on, look at the command, or end. */
export type LoopStep = "run" | "interrupted" | "end";

/** The fields of a run's result that the loop knows (see `VcpuRunResult`). */
export interface LoopResult {
  readonly reason: VcpuEndReason;
  readonly exits: number;
  readonly exit?: VcpuExit;
  readonly message?: string;
  readonly regs?: Regs;
  readonly sregs?: Sregs;
}

/** @internal The exit-serving half of a vCPU run loop. */
export class VcpuLoop {
  /** Exits to userspace served. */
  exits = 0;
  /** Why the run ends, once known. */
  reason: VcpuEndReason | undefined;
  private last: VcpuExit | undefined;
  private stopMessage: string | undefined;
  private handler: VcpuHandler = {};
  private io: VcpuHandler["io"];
  private mmio: VcpuHandler["mmio"];
  private readonly decodeExit: () => VcpuExit;
  /** An I/O or MMIO exit not yet completed by re-entering KVM_RUN. */
  private pending: VcpuExit | undefined;
  private answered = false;

  constructor(
    private readonly vcpu: Vcpu,
    private readonly ctrl: Int32Array,
  ) {
    const run = vcpu.runBytes;
    this.decodeExit = exitDecoder(run, new DataView(run.buffer, run.byteOffset, run.byteLength));
  }

  /** Tells the owner the run loop has started, on the thread with id `tid` (the kick's target). */
  started(tid: number): void {
    Atomics.store(this.ctrl, TID, tid);
    Atomics.store(this.ctrl, STARTED, 1);
    setState(this.ctrl, STATE_RUNNING);
  }

  /** Tells the owner the run is over (or never started). */
  ended(): void {
    setState(this.ctrl, STATE_ENDED);
  }

  /**
   * After an interruption (EINTR): parks while the owner's command is pause, waiting with `wait`
   * (`Atomics.wait` on a worker, `Atomics.waitAsync` on an event loop), and returns the command
   * that follows (`CMD_RUN` or `CMD_STOP`).
   */
  async command(wait: (ctrl: Int32Array, index: number, value: number) => unknown): Promise<number> {
    let cmd = Atomics.load(this.ctrl, CMD);
    if (cmd !== CMD_PAUSE) return cmd;
    setState(this.ctrl, STATE_PAUSED);
    while ((cmd = Atomics.load(this.ctrl, CMD)) === CMD_PAUSE) await wait(this.ctrl, CMD, CMD_PAUSE);
    setState(this.ctrl, STATE_RUNNING);
    return cmd;
  }

  /**
   * Imports the handler module and creates the handler with this vCPU's context.
   * @throws whatever the module or its factory throws
   */
  async load(handlerUrl: string, ram: readonly RamDescriptor[], data: unknown): Promise<void> {
    const ctx: VcpuContext = {
      vcpuId: this.vcpu.id,
      vcpu: this.vcpu,
      memory: ram.map(viewRam),
      data,
      stop: (message?: string) => {
        this.stopMessage = message ?? "stop requested by the handler";
      },
    };
    const mod = (await import(handlerUrl)) as { createVcpuHandler?: VcpuHandlerFactory };
    if (typeof mod.createVcpuHandler !== "function") throw new Error(`${handlerUrl} has no named export createVcpuHandler`);
    this.handler = await mod.createVcpuHandler(ctx);
    this.io = this.handler.io?.bind(this.handler);
    this.mmio = this.handler.mmio?.bind(this.handler);
  }

  /**
   * Serves one `KVM_RUN` return value `r` (0 or `-errno`).
   * @returns `interrupted` for EINTR/EAGAIN (the caller looks at its command), `end` once the run
   * is over (`reason` says why), else `run`
   * @throws {@link KvmError} `ioctl-failed` for another error; whatever a handler throws
   */
  serve(r: number): LoopStep {
    if (r < 0) {
      if (r !== -EINTR && r !== -EAGAIN) throw ioctlError("KVM_RUN", -r, `vCPU ${this.vcpu.id}`);
      Atomics.store(this.vcpu.runBytes, 1, 0); // immediate_exit
      return "interrupted";
    }
    this.exits++;
    Atomics.store(this.ctrl, EXITS, this.exits | 0);
    const exit = this.decodeExit();
    this.pending = undefined;
    switch (exit.kind) {
      case "io":
        this.pending = exit;
        this.answered = false;
        if (exit.direction === "in") answerRead(exit, this.io ? this.io(exit) : undefined);
        else if (this.io) this.io(exit);
        this.answered = true;
        break;
      case "mmio":
        this.pending = exit;
        this.answered = false;
        if (!exit.isWrite) answerRead(exit, this.mmio ? this.mmio(exit) : undefined);
        else if (this.mmio) this.mmio(exit);
        this.answered = true;
        break;
      case "hlt":
        if (this.handler.hlt?.(exit) !== true) {
          this.reason = "hlt";
          this.last = exit;
        }
        break;
      case "interrupted":
        break;
      default:
        this.handler.exit?.(exit);
        this.reason = exit.kind === "other" ? "unhandled" : exit.kind;
        this.last = exit;
    }
    if (this.reason === undefined && this.stopMessage !== undefined) this.reason = "handler";
    return this.reason === undefined ? "run" : "end";
  }

  /**
   * KVM completes an I/O or MMIO exit (writes an IN's data to the register, advances RIP) only
   * when userspace re-enters KVM_RUN; for a consistent state before saving it, the API says to
   * re-enter with immediate_exit set (Documentation/virt/kvm/api.rst, "immediate_exit"). Intel
   * often completes an OUT before the exit (fast PIO), AMD without next-RIP support does not: so
   * a run that ends right after such an exit must complete it. This answers a read nobody
   * answered with all ones (as an unclaimed read), sets immediate_exit and says whether the
   * caller must re-enter `KVM_RUN` once (it then returns EINTR at once).
   * @returns true when an exit is pending
   */
  preparePendingCompletion(): boolean {
    const exit = this.pending;
    this.pending = undefined;
    if (!exit) return false;
    if ((exit.kind === "io" && exit.direction === "in") || (exit.kind === "mmio" && !exit.isWrite)) {
      if (!this.answered) answerRead(exit, undefined);
    }
    Atomics.store(this.vcpu.runBytes, 1, 1);
    return true;
  }

  /** Clears immediate_exit after the completing `KVM_RUN`. */
  pendingCompleted(): void {
    Atomics.store(this.vcpu.runBytes, 1, 0);
  }

  /**
   * The run's result once it has ended, with the registers of ends that need a post-mortem
   * (read here, on the thread that may use the vCPU's ioctls).
   * @param reason - why it ended (`host` for a stop from outside)
   */
  result(reason: VcpuEndReason): LoopResult {
    let snapshot: { regs: Regs; sregs: Sregs } | undefined;
    if (reason === "shutdown" || reason === "fail-entry" || reason === "internal-error" || reason === "unhandled") {
      try {
        snapshot = { regs: this.vcpu.getRegs(), sregs: this.vcpu.getSregs() };
      } catch {
        snapshot = undefined;
      }
    }
    return {
      reason,
      exits: this.exits,
      ...(this.last ? { exit: this.last } : {}),
      ...(reason === "handler" && this.stopMessage !== undefined ? { message: this.stopMessage } : {}),
      ...snapshot,
    };
  }
}
