/**
 * The control block shared by a thread's owner and its worker (an Int32Array over a
 * SharedArrayBuffer), and the messages they exchange.
 *
 * @internal
 */
import type { MessagePort } from "node:worker_threads";
import type { RamDescriptor } from "./memory.js";
import type { VcpuDescriptor } from "./vcpu.js";
import type { VcpuExit } from "./exits.js";
import type { Regs, Sregs } from "./registers.js";

/** Slot indices. */
export const CMD = 0;
export const STATE = 1;
export const TID = 2;
export const EXITS = 3;
/** Set to 1 once the worker's run loop has started (a run may end before the owner sees RUNNING). */
export const STARTED = 4;
export const CONTROL_SLOTS = 8;

/** CMD values. */
export const CMD_RUN = 0;
export const CMD_PAUSE = 1;
export const CMD_STOP = 2;

/** STATE values. */
export const STATE_STARTING = 0;
export const STATE_RUNNING = 1;
export const STATE_PAUSED = 2;
export const STATE_ENDED = 3;

/** Publishes a thread's state in its control block and wakes whoever waits on it (start, pause, stop). */
export function setState(ctrl: Int32Array, state: number): void {
  Atomics.store(ctrl, STATE, state);
  Atomics.notify(ctrl, STATE);
}

/**
 * Why a vCPU thread's run loop ended.
 *
 * @example
 * ```ts
 * const { reason }: { reason: VcpuEndReason } = await thread.done;
 * ```
 */
export type VcpuEndReason =
  | "hlt"
  | "shutdown"
  | "fail-entry"
  | "internal-error"
  | "system-event"
  | "unhandled"
  | "handler"
  | "host";

export interface VcpuWorkerData {
  readonly vcpu: VcpuDescriptor;
  readonly ram: readonly RamDescriptor[];
  readonly control: SharedArrayBuffer;
  readonly handler: string;
  readonly data: unknown;
}

export interface IoWorkerData {
  readonly ram: readonly RamDescriptor[];
  readonly control: SharedArrayBuffer;
  readonly wakeFd: number;
  readonly handler: string;
  readonly data: unknown;
  readonly port: MessagePort;
}

/** What an I/O thread's owner sends it: a message for the module's `onMessage`, or the stop. */
export type IoCommand = { readonly type: "stop" } | { readonly type: "message"; readonly data: unknown };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

export type WorkerMessage =
  | { readonly type: "error"; readonly error: SerializedError }
  | {
      readonly type: "done";
      readonly reason: VcpuEndReason;
      readonly exits: number;
      readonly runTimeNs: number;
      readonly exit?: VcpuExit;
      readonly message?: string;
      readonly regs?: Regs;
      readonly sregs?: Sregs;
    };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, ...(typeof code === "string" ? { code } : {}), ...(e.stack ? { stack: e.stack } : {}) };
  }
  return { name: "Error", message: String(e) };
}
