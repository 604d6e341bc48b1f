/**
 * The vCPU worker's entry: runs one vCPU for the worker's whole life, calling `KVM_RUN`
 * synchronously on this thread (never through a thread pool), and serves exits with the handler
 * module loaded here. Protocol with the owner: see protocol.ts and vcpu-thread.ts.
 *
 * @internal
 */
import { parentPort } from "node:worker_threads";
import { answerRead, exitDecoder, type VcpuExit } from "./exits.js";
import type { VcpuContext, VcpuHandler, VcpuHandlerFactory } from "./handlers.js";
import { viewRam } from "./memory.js";
import {
  CMD,
  CMD_PAUSE,
  CMD_STOP,
  EXITS,
  serializeError,
  STATE,
  STATE_ENDED,
  STATE_PAUSED,
  STATE_RUNNING,
  STARTED,
  TID,
  type VcpuEndReason,
  type VcpuWorkerData,
  type WorkerMessage,
} from "./protocol.js";
import { EAGAIN, EINTR, sys } from "./sys.js";
import { ioctlError } from "./errors.js";
import { Vcpu } from "./vcpu.js";
import type { Regs, Sregs } from "./registers.js";

const port = parentPort!;
const s = sys();
const tid = s.gettid();

function post(m: WorkerMessage): void {
  port.postMessage(m);
}

/** Runs one vCPU until its run ends; the worker then waits for the next job (see pool.ts). */
async function runJob(wd: VcpuWorkerData): Promise<void> {
  const ctrl = new Int32Array(wd.control);
  Atomics.store(ctrl, TID, tid);
  const end = (): void => {
    Atomics.store(ctrl, STATE, STATE_ENDED);
    Atomics.notify(ctrl, STATE);
  };
  const vcpu = Vcpu.attach(wd.vcpu);
  let stopMessage: string | undefined;
  const ctx: VcpuContext = {
    vcpuId: wd.vcpu.id,
    vcpu,
    memory: wd.ram.map(viewRam),
    data: wd.data,
    stop(message?: string) {
      stopMessage = message ?? "stop requested by the handler";
    },
  };
  let handler: VcpuHandler;
  try {
    const mod = (await import(wd.handler)) as { createVcpuHandler?: VcpuHandlerFactory };
    if (typeof mod.createVcpuHandler !== "function") {
      throw new Error(`${wd.handler} has no named export createVcpuHandler`);
    }
    handler = await mod.createVcpuHandler(ctx);
  } catch (e) {
    end();
    post({ type: "error", error: serializeError(e) });
    return;
  }

  const fd = wd.vcpu.fd;
  const run = vcpu.runBytes;
  const decodeExit = exitDecoder(run, new DataView(run.buffer, run.byteOffset, run.byteLength));
  const io = handler.io?.bind(handler);
  const mmio = handler.mmio?.bind(handler);
  let exits = 0;
  let reason: VcpuEndReason | undefined;
  let last: VcpuExit | undefined;
  /** An I/O or MMIO exit not yet completed by re-entering KVM_RUN. */
  let pending: VcpuExit | undefined;
  // KVM completes an I/O or MMIO exit (writes an IN's data to the register, advances RIP) only
  // when userspace re-enters KVM_RUN; for a consistent state before saving it, the API says to
  // re-enter with immediate_exit set (Documentation/virt/kvm/api.rst, "immediate_exit"). Intel
  // often completes an OUT before the exit (fast PIO), AMD without next-RIP support does not: so
  // a run that ends right after such an exit completes it here, on both vendors. A read nobody
  // answered gets all ones, as an unclaimed read does.
  const completePending = (): void => {
    const exit = pending;
    pending = undefined;
    if (!exit) return;
    if ((exit.kind === "io" && exit.direction === "in") || (exit.kind === "mmio" && !exit.isWrite)) {
      if (!answered) answerRead(exit, undefined);
    }
    Atomics.store(run, 1, 1);
    s.run(fd); // -EINTR once the pending operation is complete
    Atomics.store(run, 1, 0);
  };
  let answered = false;

  Atomics.store(ctrl, STARTED, 1);
  Atomics.store(ctrl, STATE, STATE_RUNNING);
  Atomics.notify(ctrl, STATE);
  const t0 = process.hrtime.bigint();
  try {
    for (;;) {
      const r = s.run(fd);
      if (r < 0) {
        if (r !== -EINTR && r !== -EAGAIN) throw ioctlError("KVM_RUN", -r, `vCPU ${wd.vcpu.id}`);
        // A kick: clear immediate_exit first, then read the command (the kicker wrote the command
        // before setting immediate_exit, so it is visible here). Firecracker's ordering.
        Atomics.store(run, 1, 0);
        let cmd = Atomics.load(ctrl, CMD);
        if (cmd === CMD_PAUSE) {
          Atomics.store(ctrl, STATE, STATE_PAUSED);
          Atomics.notify(ctrl, STATE);
          while ((cmd = Atomics.load(ctrl, CMD)) === CMD_PAUSE) Atomics.wait(ctrl, CMD, CMD_PAUSE);
          Atomics.store(ctrl, STATE, STATE_RUNNING);
          Atomics.notify(ctrl, STATE);
        }
        if (cmd === CMD_STOP) {
          reason = "host";
          break;
        }
        continue;
      }
      exits++;
      Atomics.store(ctrl, EXITS, exits | 0);
      const exit = decodeExit();
      pending = undefined;
      switch (exit.kind) {
        case "io":
          pending = exit;
          answered = false;
          if (exit.direction === "in") answerRead(exit, io ? io(exit) : undefined);
          else if (io) io(exit);
          answered = true;
          break;
        case "mmio":
          pending = exit;
          answered = false;
          if (!exit.isWrite) answerRead(exit, mmio ? mmio(exit) : undefined);
          else if (mmio) mmio(exit);
          answered = true;
          break;
        case "hlt":
          if (handler.hlt?.(exit) !== true) {
            reason = "hlt";
            last = exit;
          }
          break;
        case "interrupted":
          break;
        default:
          handler.exit?.(exit);
          reason = exit.kind === "other" ? "unhandled" : exit.kind;
          last = exit;
      }
      if (reason !== undefined) break;
      if (stopMessage !== undefined) {
        reason = "handler";
        break;
      }
    }
  } catch (e) {
    try {
      completePending(); // a handler threw during an I/O exit: finish the instruction first
    } catch {
      // the error being reported is the handler's
    }
    end();
    post({ type: "error", error: serializeError(e) });
    return;
  }
  if (reason === "handler") completePending();
  const runTimeNs = Number(process.hrtime.bigint() - t0);
  // For ends that need a post-mortem, snapshot the registers here, on the vCPU's own thread.
  let snapshot: { regs: Regs; sregs: Sregs } | undefined;
  if (reason === "shutdown" || reason === "fail-entry" || reason === "internal-error" || reason === "unhandled") {
    try {
      snapshot = { regs: vcpu.getRegs(), sregs: vcpu.getSregs() };
    } catch {
      snapshot = undefined;
    }
  }
  end();
  post({
    type: "done",
    reason,
    exits,
    runTimeNs,
    ...(last ? { exit: last } : {}),
    ...(reason === "handler" && stopMessage !== undefined ? { message: stopMessage } : {}),
    ...snapshot,
  });
}

port.on("message", (m: { type: "job"; data: VcpuWorkerData }) => {
  if (m.type === "job") void runJob(m.data);
});
