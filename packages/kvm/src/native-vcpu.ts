/**
 * A vCPU on a native thread: `KVM_RUN` runs on a thread created with `pthread_create` whose code
 * is a few dozen bytes of x86-64 machine code written here (no Node worker, no isolate), and each
 * exit is served on the starting thread's event loop by the same exit-serving code a worker uses
 * (vcpu-loop.ts). A worker costs ~9 MiB of resident memory before any code of ours runs in it;
 * this thread costs its stack's touched pages. The price is two thread wake-ups per exit (the
 * native thread tells the event loop through an eventfd, and waits on another one to re-enter).
 *
 * @internal
 */
import { availableParallelism } from "node:os";
import { KvmError, threadFailed } from "./errors.js";
import type { RamDescriptor } from "./memory.js";
import { CMD_STOP, type VcpuEndReason } from "./protocol.js";
import { EFD_CLOEXEC, EFD_NONBLOCK, MAP_ANONYMOUS, MAP_PRIVATE, PROT_RW, sys } from "./sys.js";
import { Vcpu } from "./vcpu.js";
import { VcpuLoop } from "./vcpu-loop.js";
import type { VcpuRunResult } from "./vcpu-thread.js";

/**
 * The native thread's code (x86-64, System V: the control block's address arrives in rdi; Linux
 * system call numbers from arch/x86/entry/syscalls/syscall_64.tbl: read 0, write 1, ioctl 16,
 * gettid 186; `KVM_RUN` is `_IO(0xAE, 0x80)`). Assembled with GNU as from:
 *
 * ```
 *   push rbx                 ; 53
 *   mov  rbx, rdi            ; 48 89 fb          rbx = control block
 *   mov  eax, 186            ; b8 ba 00 00 00    gettid()
 *   syscall                  ; 0f 05
 *   mov  [rbx+40], eax       ; 89 43 28          block.tid
 * run:
 *   mov  eax, 16             ; b8 10 00 00 00    ioctl(block.vcpuFd, KVM_RUN, 0)
 *   mov  edi, [rbx]          ; 8b 3b
 *   mov  esi, 0xae80         ; be 80 ae 00 00
 *   xor  edx, edx            ; 31 d2
 *   syscall                  ; 0f 05
 *   mov  [rbx+16], rax       ; 48 89 43 10       block.result = 0 or -errno
 *   lock add dword [rbx+48], 1 ; f0 83 43 30 01  block.exits += 1 (what a spinning owner watches)
 *   call notify              ; e8 2d 00 00 00
 * wait:
 *   xor  eax, eax            ; 31 c0             read(block.resumeFd, &block.scratch, 8)
 *   mov  edi, [rbx+8]        ; 8b 7b 08
 *   lea  rsi, [rbx+32]       ; 48 8d 73 20
 *   mov  edx, 8              ; ba 08 00 00 00
 *   syscall                  ; 0f 05
 *   cmp  rax, -4             ; 48 83 f8 fc       EINTR (a kick while waiting): wait again
 *   je   wait                ; 74 ea
 *   mov  eax, [rbx+12]       ; 8b 43 0c          block.stop?
 *   test eax, eax            ; 85 c0
 *   jz   run                 ; 74 c5
 *   mov  dword [rbx+44], 1   ; c7 43 2c 01 00 00 00   block.finished = 1
 *   call notify              ; e8 04 00 00 00
 *   xor  eax, eax            ; 31 c0
 *   pop  rbx                 ; 5b
 *   ret                      ; c3                the thread ends
 * notify:
 *   mov  eax, 1              ; b8 01 00 00 00    write(block.exitFd, &block.one, 8)
 *   mov  edi, [rbx+4]        ; 8b 7b 04
 *   lea  rsi, [rbx+24]       ; 48 8d 73 18
 *   mov  edx, 8              ; ba 08 00 00 00
 *   syscall                  ; 0f 05
 *   ret                      ; c3
 * ```
 */
const THREAD_CODE =
  "534889fbb8ba0000000f05894328b8100000008b3bbe80ae000031d20f0548894310f083433001e82d00000031c08b7b" +
  "08488d7320ba080000000f054883f8fc74ea8b430c85c074c5c7432c01000000e80400000031c05bc3b8010000008b7b" +
  "04488d7318ba080000000f05c3";

/** The control block's layout (one page, shared with the native thread). */
const B_VCPU_FD = 0;
const B_EXIT_FD = 4;
const B_RESUME_FD = 8;
const B_STOP = 12;
const B_RESULT = 16;
const B_ONE = 24;
const B_TID = 40;
const B_FINISHED = 44;
const B_EXITS = 48;
const PAGE = 4096;
/** The longest the starting thread waits in a spin for a vCPU's next exit (see `spinForNext`). */
const SPIN_MAX_US = 50;
const PROT_READ_EXEC = 0x1 | 0x4;

let code: bigint | undefined;
/** Native vCPU threads running in this process: the spin is for a lone one (see `spinForNext`). */
let running = 0;

/** The thread code, in one executable page per process. */
function threadCode(): bigint {
  if (code !== undefined) return code;
  const s = sys();
  const page = s.mmap(PAGE, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const bytes = new Uint8Array(s.view(page, PAGE));
  for (let i = 0; i < THREAD_CODE.length / 2; i++) bytes[i] = parseInt(THREAD_CODE.slice(2 * i, 2 * i + 2), 16);
  try {
    s.mprotect(page, PAGE, PROT_READ_EXEC);
  } catch (e) {
    s.munmap(page, PAGE);
    throw new KvmError("unsupported", `native vCPU threads need one executable page, which this system refused (${e instanceof Error ? e.message : String(e)}); run vCPUs on worker threads instead`, { cause: e });
  }
  code = page;
  return page;
}

/** What {@link startNativeVcpu} hands to `VcpuThread`. */
export interface NativeStart {
  readonly tid: number;
  readonly done: Promise<VcpuRunResult>;
}

/**
 * Starts `vcpu` on a native thread, its exits served here with the handler module at
 * `handlerUrl`; the states and commands go through `ctrl` as with a worker (protocol.ts), so
 * `VcpuThread`'s pause, resume and stop work unchanged.
 * @throws {@link KvmError} `thread-failed` when the handler module fails to load, `unsupported`
 * when no executable page can be had, `syscall-failed`
 */
export async function startNativeVcpu(vcpu: Vcpu, ram: readonly RamDescriptor[], handlerUrl: string, data: unknown, ctrl: Int32Array): Promise<NativeStart> {
  const s = sys();
  // The handler gets a vCPU object of its own: the caller's is guarded while the vCPU runs.
  const loop = new VcpuLoop(Vcpu.attach(vcpu.descriptor), ctrl);
  try {
    await loop.load(handlerUrl, ram, data);
  } catch (e) {
    throw threadFailed(`vCPU ${vcpu.id} thread`, e);
  }
  const start = threadCode();
  const blockAddr = s.mmap(PAGE, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const block = new DataView(s.view(blockAddr, PAGE));
  const exitFd = s.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const resumeFd = s.eventfd(0, EFD_CLOEXEC);
  const one = new Uint8Array(8);
  one[0] = 1;
  const scratch = new Uint8Array(8);
  const spinMaxUs = availableParallelism() > 1 ? SPIN_MAX_US : 0;
  block.setInt32(B_VCPU_FD, vcpu.fd, true);
  block.setInt32(B_EXIT_FD, exitFd, true);
  block.setInt32(B_RESUME_FD, resumeFd, true);
  block.setBigUint64(B_ONE, 1n, true);
  let thread: bigint;
  try {
    thread = s.pthreadCreate(start, blockAddr);
  } catch (e) {
    s.close(exitFd);
    s.close(resumeFd);
    s.munmap(blockAddr, PAGE);
    throw e;
  }
  // The thread writes its id first thing; the kick needs it.
  const tidCell = new Int32Array(block.buffer, B_TID, 1);
  const until = Date.now() + 5000;
  while (Atomics.load(tidCell, 0) === 0 && Date.now() < until);
  const tid = Atomics.load(tidCell, 0);
  if (tid === 0) throw new KvmError("thread-failed", `vCPU ${vcpu.id} thread: the native thread did not start within 5 s`);
  running++;
  loop.started(tid);
  const t0 = process.hrtime.bigint();

  let finish: (r: VcpuRunResult) => void = () => {};
  let fail: (e: unknown) => void = () => {};
  const done = new Promise<VcpuRunResult>((res, rej) => {
    finish = res;
    fail = rej;
  });
  done.catch(() => {}); // handled by the caller through `done`
  let ending: { reason: VcpuEndReason } | { error: unknown } | undefined;
  let completing = false;

  const resume = (): void => {
    s.write(resumeFd, one, 8);
  };
  const end = (how: { reason: VcpuEndReason } | { error: unknown }): void => {
    ending = how;
    block.setInt32(B_STOP, 1, true);
    resume();
  };
  const settle = (): void => {
    running--;
    watch.close();
    s.pthreadJoin(thread);
    s.close(exitFd);
    s.close(resumeFd);
    s.munmap(blockAddr, PAGE);
    loop.ended();
    const how = ending ?? { error: new Error("the native vCPU thread ended without a reason") };
    if ("error" in how) fail(threadFailed(`vCPU ${vcpu.id} thread`, how.error));
    else finish({ ...loop.result(how.reason), runTimeNs: Number(process.hrtime.bigint() - t0) });
  };
  /** After EINTR: park while paused (without blocking the event loop), then stop or run on. */
  const interrupted = async (): Promise<void> => {
    const cmd = await loop.command((c, i, v) => {
      const w = Atomics.waitAsync(c, i, v);
      return w.async ? w.value : undefined;
    });
    if (cmd === CMD_STOP) end({ reason: "host" });
    else resume();
  };
  /** Serves the exit the native thread reported; true when it re-entered the guest at once. */
  const serveOne = (): boolean => {
    if (completing) {
      // The KVM_RUN that completed a pending exit (immediate_exit): now end as decided.
      completing = false;
      loop.pendingCompleted();
      end(ending ?? { reason: "handler" });
      return false;
    }
    const r = Number(block.getBigInt64(B_RESULT, true));
    let step;
    try {
      step = loop.serve(r);
    } catch (e) {
      finishPending({ error: e });
      return false;
    }
    if (step === "run") {
      resume();
      return true;
    }
    if (step === "interrupted") void interrupted();
    else if (loop.reason === "handler") finishPending({ reason: "handler" });
    else end({ reason: loop.reason as VcpuEndReason });
    return false;
  };
  // Waiting for the next exit in a short spin, right after re-entering the guest, saves this
  // thread's wake-up from the event loop when exits come fast (a guest driving a device): on the
  // nested KVM of the development machine, a port exit took ~68 µs without it and ~42 µs with it
  // (`pnpm bench "kvm exit"`; a worker ~9.5 µs). The spin adapts: halved each time it waits in
  // vain (down to none), back at full length once an exit comes within it; none at all on one
  // CPU, where it would hold up the vCPU it waits for, nor while other native vCPUs run (their
  // exits are served here too).
  const reported = new Int32Array(block.buffer, B_EXITS, 1);
  let served = 0;
  let spinUs = spinMaxUs;
  let resumedAt = 0;
  const spinForNext = (): boolean => {
    // With other vCPUs served on this thread too, waiting for this one's exit would hold up theirs.
    if (spinUs === 0 || running > 1) return false;
    const until = performance.now() + spinUs / 1000;
    while (Atomics.load(reported, 0) === served) {
      if (performance.now() >= until) {
        spinUs = spinUs >= 2 ? spinUs >> 1 : 0;
        return false;
      }
    }
    spinUs = spinMaxUs;
    return true;
  };
  const exited = (): void => {
    if (s.read(exitFd, scratch, 8) !== 8) return; // spurious wake-up
    if (block.getInt32(B_FINISHED, true) === 1) {
      settle();
      return;
    }
    if (Atomics.load(reported, 0) === served) return; // served while spinning
    if (spinUs === 0 && performance.now() - resumedAt < spinMaxUs / 1000) spinUs = spinMaxUs;
    // Exits served in one turn of the event loop: at most ~1 ms of them, so that timers, other
    // fds and the host's commands get their turns however fast the guest exits.
    const turnEnd = performance.now() + 1;
    for (;;) {
      served = Atomics.load(reported, 0);
      if (!serveOne()) return;
      resumedAt = performance.now();
      if (resumedAt >= turnEnd || !spinForNext()) return;
    }
  };
  /** Ends after completing a pending I/O exit with one more KVM_RUN (see VcpuLoop). */
  const finishPending = (how: { reason: VcpuEndReason } | { error: unknown }): void => {
    let pending = false;
    try {
      pending = loop.preparePendingCompletion();
    } catch {
      // the error being reported is the handler's
    }
    if (!pending) {
      end(how);
      return;
    }
    ending = how;
    completing = true;
    resume();
  };
  const watch = s.poll(exitFd, true, false, exited);
  return { tid, done };
}
