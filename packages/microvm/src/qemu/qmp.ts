/**
 * A QMP client: QEMU's JSON machine protocol on a stream socket (QEMU's docs/interop/qmp-spec.rst).
 * The server greets with `{"QMP": …}`; the client sends `{"execute": "qmp_capabilities"}` to enter
 * command mode; each command gets one `{"return": …}` or `{"error": {"class", "desc"}}`, in order;
 * `{"event": …}` messages arrive at any time in between. Messages are JSON objects separated by
 * CRLF or LF.
 */
import type { Socket } from "node:net";
import { MicrovmError } from "../errors.js";

/**
 * A QMP event, as QEMU sends it.
 *
 * @example
 * ```ts
 * const e: QmpEvent = { event: "SHUTDOWN", data: { guest: true, reason: "guest-reset" } };
 * ```
 */
export interface QmpEvent {
  /** Its name: `SHUTDOWN`, `STOP`, `RESUME`, … */
  readonly event: string;
  /** Its data. */
  readonly data?: Record<string, unknown>;
  /** When QEMU sent it. */
  readonly timestamp?: {
    /** Seconds since the epoch. */
    readonly seconds: number;
    /** Microseconds within the second. */
    readonly microseconds: number;
  };
}

/**
 * Splits a QMP byte stream into messages: complete lines are parsed as JSON, the incomplete rest
 * is returned to be prefixed to the next chunk. Pure, for the client and its tests.
 *
 * @param buffered - text not yet parsed (the previous call's `rest`) followed by the new chunk
 * @returns the messages and the unparsed rest
 * @throws MicrovmError `engine` for a line that is not a JSON object (the peer is not QMP)
 * @example
 * ```ts
 * splitQmp('{"return": {}}\r\n{"event": "ST'); // { messages: [{ return: {} }], rest: '{"event": "ST' }
 * ```
 */
export function splitQmp(buffered: string): {
  /** The complete messages, in order. */
  messages: Record<string, unknown>[];
  /** The incomplete last line, to prefix to the next chunk. */
  rest: string;
} {
  const messages: Record<string, unknown>[] = [];
  let start = 0;
  for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n", start)) {
    const line = buffered.slice(start, nl).trim();
    start = nl + 1;
    if (line.length === 0) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new MicrovmError("engine", `QMP: expected a JSON object per line, got ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new MicrovmError("engine", `QMP: expected a JSON object, got ${JSON.stringify(line.slice(0, 80))}`);
    messages.push(v as Record<string, unknown>);
  }
  return { messages, rest: buffered.slice(start) };
}

/**
 * One QMP connection in command mode. Commands are answered in order; events go to the listener.
 *
 * @example
 * ```ts
 * const qmp = await QmpClient.open(socket, (e) => console.log(e.event));
 * const status = await qmp.execute("query-status"); // { running: false, status: "prelaunch" }
 * ```
 */
export class QmpClient {
  private readonly socket: Socket;
  private rest = "";
  private readonly pending: { resolve: (v: unknown) => void; reject: (e: Error) => void; command: string }[] = [];
  private greeted: ((v: Record<string, unknown>) => void) | undefined;
  private closedError: Error | undefined;
  private readonly onEvent: (e: QmpEvent) => void;

  private constructor(socket: Socket, onEvent: (e: QmpEvent) => void) {
    this.socket = socket;
    this.onEvent = onEvent;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.receive(chunk));
    socket.on("error", (e) => this.fail(new MicrovmError("engine", `QMP: ${e.message}`, { cause: e })));
    socket.on("close", () => this.fail(new MicrovmError("engine", "QMP: QEMU closed the connection")));
  }

  /**
   * Takes a connected socket, waits for QEMU's greeting and enters command mode.
   *
   * @param socket - the connection QEMU made (or the one made to QEMU)
   * @param onEvent - called for each event, in order
   * @returns the client
   * @throws MicrovmError `engine` when the peer does not greet as QMP or refuses capabilities
   * @example
   * ```ts
   * const qmp = await QmpClient.open(socket, () => {});
   * ```
   */
  static async open(socket: Socket, onEvent: (e: QmpEvent) => void): Promise<QmpClient> {
    const c = new QmpClient(socket, onEvent);
    try {
      const greeting = await new Promise<Record<string, unknown>>((resolve, reject) => {
        c.greeted = resolve;
        c.pending.push({ resolve: () => undefined, reject, command: "(greeting)" });
      });
      c.pending.shift();
      if (!("QMP" in greeting)) throw new MicrovmError("engine", `QMP: expected a greeting, got ${JSON.stringify(greeting).slice(0, 80)}`);
      await c.execute("qmp_capabilities");
      return c;
    } catch (e) {
      socket.destroy(); // a peer that is not QMP, or refuses command mode, is let go
      throw e;
    }
  }

  private receive(chunk: string): void {
    let parsed: ReturnType<typeof splitQmp>;
    try {
      parsed = splitQmp(this.rest + chunk);
    } catch (e) {
      this.fail(e as Error);
      this.socket.destroy();
      return;
    }
    this.rest = parsed.rest;
    for (const m of parsed.messages) {
      if (this.greeted) {
        const g = this.greeted;
        this.greeted = undefined;
        g(m);
      } else if (typeof m["event"] === "string") {
        this.onEvent(m as unknown as QmpEvent);
      } else if ("return" in m || "error" in m) {
        const p = this.pending.shift();
        if (!p) continue; // an answer nobody waits for: ignore
        if ("error" in m) {
          const err = m["error"] as { class?: string; desc?: string };
          p.reject(new MicrovmError("engine", `QMP ${p.command}: ${err.class ?? "Error"}: ${err.desc ?? "no description"}`));
        } else p.resolve(m["return"]);
      }
    }
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const p of this.pending.splice(0)) p.reject(e);
  }

  /**
   * Runs a command.
   *
   * @param command - its name
   * @param args - its arguments
   * @returns its `return` value
   * @throws MicrovmError `engine` for a QMP error answer or a closed connection
   * @example
   * ```ts
   * const mtree = await qmp.execute("human-monitor-command", { "command-line": "info mtree" });
   * ```
   */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject, command });
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  /**
   * Closes the connection.
   *
   * @example
   * ```ts
   * qmp.close();
   * ```
   */
  close(): void {
    this.socket.destroy();
  }
}
