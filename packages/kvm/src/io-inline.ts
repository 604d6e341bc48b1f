/**
 * An I/O module on the owner's own thread (`startIoThread`'s `thread: "inline"`): the same
 * {@link IoContext} as on an I/O worker, its fds watched by this thread's event loop instead of a
 * worker's `epoll_wait`. Saves the worker (~10 MiB) where the exits are served on this thread
 * anyway (vCPUs on native threads).
 *
 * @internal
 */
import { EventFd } from "./eventfd.js";
import { KvmError, threadFailed } from "./errors.js";
import { loadIoHandler, type IoContext, type IoHandler } from "./handlers.js";
import { viewRam, type RamDescriptor } from "./memory.js";
import { setState, STATE_ENDED, STATE_RUNNING, TID, type IoCommand } from "./protocol.js";
import { sys, type PollWatch } from "./sys.js";

/** What `IoThread` needs from an inline module. */
export interface InlineIo {
  readonly tid: number;
  readonly deliver: (m: IoCommand) => void;
  readonly done: Promise<void>;
}

/**
 * Loads the module at `handlerUrl` here and serves its watches from the event loop.
 * @throws {@link KvmError} `thread-failed` when the module fails to load
 */
export async function startInlineIo(ram: readonly RamDescriptor[], handlerUrl: string, data: unknown, ctrl: Int32Array): Promise<InlineIo> {
  const s = sys();
  // One watch per fd for the module's life: unwatched, it is stopped, and started again if the fd
  // is watched again (libuv takes one watch per fd, and a closed one lingers until the next turn).
  const watches = new Map<number, { readonly handle: PollWatch; active: boolean }>();
  let stopping = false;
  let ended = false;
  let handler: IoHandler = {};
  let resolve: () => void = () => {};
  let reject: (e: unknown) => void = () => {};
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {}); // the caller sees it through `done`
  // Every way out: the watches closed, the module told (on a clean stop, as on a worker), the
  // state ended, `done` settled.
  const finish = (error?: { readonly e: unknown }): void => {
    if (ended) return;
    ended = true;
    stopping = true;
    for (const w of watches.values()) w.handle.close();
    watches.clear();
    let err = error;
    if (err === undefined) {
      try {
        handler.close?.();
      } catch (e) {
        err = { e };
      }
    }
    setState(ctrl, STATE_ENDED);
    if (err === undefined) resolve();
    else reject(threadFailed("I/O thread", err.e));
  };
  const ctx: IoContext = {
    memory: ram.map(viewRam),
    data,
    watch(fd, callback, options) {
      if (!Number.isInteger(fd) || fd < 0) throw new KvmError("invalid-argument", `watch: fd: expected a non-negative integer, got ${fd}`);
      const known = watches.get(fd);
      if (known?.active) throw new KvmError("invalid-argument", `watch: fd ${fd} is already watched`);
      const counter = options?.eventfd ? EventFd.fromFd(fd) : undefined;
      const serve = (events: number): void => {
        if (stopping) return;
        try {
          let count = 0n;
          if (counter) {
            count = counter.read();
            if (count === 0n) return;
          }
          callback(events, count);
        } catch (e) {
          finish({ e });
          return;
        }
        if (stopping) finish();
      };
      const readable = options?.readable !== false;
      const writable = options?.writable === true;
      if (known) {
        known.handle.restart(readable, writable, serve);
        known.active = true;
      } else watches.set(fd, { handle: s.poll(fd, readable, writable, serve), active: true });
    },
    unwatch(fd) {
      const w = watches.get(fd);
      if (!w?.active) return;
      w.handle.stop();
      w.active = false;
    },
    stop() {
      stopping = true;
      // Outside a callback, nothing else would end it.
      setImmediate(() => finish());
    },
  };
  try {
    handler = await loadIoHandler(handlerUrl, ctx);
  } catch (e) {
    for (const w of watches.values()) w.handle.close();
    throw threadFailed("I/O thread", e);
  }
  const tid = s.gettid();
  Atomics.store(ctrl, TID, tid);
  setState(ctrl, STATE_RUNNING);
  // Messages and the stop arrive from the owner's call stack: served on a later turn of the event
  // loop, as a worker would serve them.
  const deliver = (m: IoCommand): void => {
    setImmediate(() => {
      if (ended) return;
      if (m.type === "stop") {
        finish();
        return;
      }
      try {
        handler.onMessage?.(m.data);
      } catch (e) {
        finish({ e });
        return;
      }
      if (stopping) finish();
    });
  };
  return { tid, deliver, done };
}
