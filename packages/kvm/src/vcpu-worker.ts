/**
 * The vCPU worker's entry: runs one vCPU for the worker's whole life, calling `KVM_RUN`
 * synchronously on this thread (never through a thread pool), and serves exits with the handler
 * module loaded here. Protocol with the owner: see protocol.ts and vcpu-thread.ts.
 *
 * @internal
 */
import { parentPort } from "node:worker_threads";
import {
  CMD,
  CMD_PAUSE,
  CMD_STOP,
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
import { sys } from "./sys.js";
import { Vcpu } from "./vcpu.js";
import { VcpuLoop } from "./vcpu-loop.js";

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
  const loop = new VcpuLoop(vcpu, ctrl);
  try {
    await loop.load(wd.handler, wd.ram, wd.data);
  } catch (e) {
    end();
    post({ type: "error", error: serializeError(e) });
    return;
  }
  const fd = wd.vcpu.fd;
  const completePending = (): void => {
    if (!loop.preparePendingCompletion()) return;
    s.run(fd); // -EINTR once the pending operation is complete
    loop.pendingCompleted();
  };
  let reason: VcpuEndReason | undefined;

  Atomics.store(ctrl, STARTED, 1);
  Atomics.store(ctrl, STATE, STATE_RUNNING);
  Atomics.notify(ctrl, STATE);
  const t0 = process.hrtime.bigint();
  try {
    for (;;) {
      const step = loop.serve(s.run(fd));
      if (step === "end") {
        reason = loop.reason;
        break;
      }
      if (step === "interrupted") {
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
  const result = loop.result(reason as VcpuEndReason);
  end();
  post({ type: "done", ...result, runTimeNs });
}

port.on("message", (m: { type: "job"; data: VcpuWorkerData }) => {
  if (m.type === "job") void runJob(m.data);
});
