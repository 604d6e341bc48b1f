/**
 * The I/O worker's entry: blocks in `epoll_wait` (synchronously, so the thread sleeps in the kernel
 * and uses no CPU) on the fds the device module watches plus a wake-up eventfd for messages from
 * the owner, and runs device callbacks when fds become readable. No timers, no polling.
 *
 * @internal
 */
import { parentPort, receiveMessageOnPort } from "node:worker_threads";
import { EventFd } from "./eventfd.js";
import { loadIoHandler, type IoContext, type IoHandler } from "./handlers.js";
import { viewRam } from "./memory.js";
import { serializeError, setState, STATE_ENDED, STATE_RUNNING, TID, type IoWorkerData } from "./protocol.js";
import { EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLLIN, EPOLLOUT, sys } from "./sys.js";
import { KvmError, syscallError } from "./errors.js";

const port = parentPort!;
const s = sys();
const tid = s.gettid();

interface Watch {
  readonly callback: (events: number, count: bigint) => void;
  readonly eventfd: EventFd | undefined;
}


function epollEvent(fd: number, events: number = EPOLLIN): Uint8Array {
  // struct epoll_event is packed on x86_64: events u32 @0, data u64 @4 (include/uapi/linux/eventpoll.h).
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, events, true);
  v.setUint32(4, fd, true);
  return b;
}

/** Serves one I/O job until it is stopped; the worker then waits for the next one (see pool.ts). */
async function runJob(wd: IoWorkerData): Promise<void> {
  const ctrl = new Int32Array(wd.control);
  Atomics.store(ctrl, TID, tid);
  const end = (): void => setState(ctrl, STATE_ENDED);
  const epfd = s.epollCreate();
  // Every way out of the job: release the epoll set and the job's port, mark the thread ended,
  // and tell the host how it went.
  const finish = (failure?: { readonly error: unknown }): void => {
    s.close(epfd);
    wd.port.close();
    end();
    port.postMessage(failure === undefined ? { type: "done" } : { type: "error", error: serializeError(failure.error) });
  };
  const watches = new Map<number, Watch>();
  let stopping = false;
  s.epollCtl(epfd, EPOLL_CTL_ADD, wd.wakeFd, epollEvent(wd.wakeFd));
  const wake = EventFd.fromFd(wd.wakeFd);
  const ctx: IoContext = {
    memory: wd.ram.map(viewRam),
    data: wd.data,
    watch(fd, callback, options) {
      if (!Number.isInteger(fd) || fd < 0) throw new KvmError("invalid-argument", `watch: fd: expected a non-negative integer, got ${fd}`);
      if (fd === wd.wakeFd || watches.has(fd)) throw new KvmError("invalid-argument", `watch: fd ${fd} is already watched`);
      s.epollCtl(epfd, EPOLL_CTL_ADD, fd, epollEvent(fd, (options?.readable === false ? 0 : EPOLLIN) | (options?.writable ? EPOLLOUT : 0)));
      watches.set(fd, { callback, eventfd: options?.eventfd ? EventFd.fromFd(fd) : undefined });
    },
    unwatch(fd) {
      if (!watches.delete(fd)) return;
      s.epollCtl(epfd, EPOLL_CTL_DEL, fd, null);
    },
    stop() {
      stopping = true;
    },
  };
  let handler: IoHandler;
  try {
    handler = await loadIoHandler(wd.handler, ctx);
  } catch (e) {
    finish({ error: e });
    return;
  }
  setState(ctrl, STATE_RUNNING);

  const MAX = 64;
  const events = new Uint8Array(12 * MAX);
  const ev = new DataView(events.buffer);
  try {
    while (!stopping) {
      const n = s.epollWait(epfd, events, MAX, -1);
      if (n === -EINTR) continue;
      if (n < 0) throw syscallError("epoll_wait", -n);
      for (let i = 0; i < n && !stopping; i++) {
        const flags = ev.getUint32(i * 12, true);
        const fd = ev.getUint32(i * 12 + 4, true);
        if (fd === wd.wakeFd) {
          wake.read();
          for (let m = receiveMessageOnPort(wd.port); m; m = receiveMessageOnPort(wd.port)) {
            const msg = m.message as { type: "stop" } | { type: "message"; data: unknown };
            if (msg.type === "stop") stopping = true;
            else handler.onMessage?.(msg.data);
          }
          continue;
        }
        const w = watches.get(fd);
        if (!w) continue;
        let count = 0n;
        if (w.eventfd) {
          count = w.eventfd.read();
          if (count === 0n) continue;
        }
        w.callback(flags, count);
      }
    }
    handler.close?.();
  } catch (e) {
    finish({ error: e });
    return;
  }
  finish();
}

port.on("message", (m: { type: "job"; data: IoWorkerData }) => {
  if (m.type === "job") void runJob(m.data);
});
