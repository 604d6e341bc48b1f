/**
 * passt (https://passt.top, Debian package `passt`) as the host side of a user-mode network: an
 * unprivileged process that gives the guest DHCP, DNS forwarding and TCP/UDP to the host and
 * beyond, and forwards host ports into the guest. The machine starts one per `user` net device,
 * hands it one end of a connected stream socket (`--fd`, so that no socket file exists at any
 * time), and stops it on every way out.
 *
 * Facts used here, measured with Debian 12's passt (0.0~git20230309):
 * - `-f` stays in the foreground, `-e` logs to stderr, `-1` exits after its one client, `-F FD`
 *   takes a connected socket; the wire format is QEMU's length-prefixed frame stream.
 * - A port it cannot bind (`-t 127.0.0.1/22:22` with 22 taken) makes it exit with status 1 and
 *   "Failed to bind any port"; once its ports are bound it prints its configuration (MAC, then the
 *   DHCP block with `assign:` and `router:`), which is how readiness is seen.
 * - Started as root it drops to user `nobody`; with `--fd` that needs no file access.
 *
 * @internal
 */
import type { ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { MicrovmError } from "../errors.js";
import type { HostForward } from "../host-forward.js";
import { spawnBound, which } from "./child.js";

/** How long passt may take to bind its ports and report its configuration. */
const READY_TIMEOUT_MS = 10_000;
/** How long a stopped passt gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 2_000;

/**
 * Why passt cannot be started, or undefined when it is on PATH.
 *
 * @param binary - the program; default `passt`
 * @returns the reason, or undefined
 * @example
 * ```ts
 * passtUnavailableReason(); // undefined where Debian's passt is installed
 * ```
 */
export function passtUnavailableReason(binary = "passt"): string | undefined {
  return which(binary) ? undefined : `${binary}: not found on PATH (user-mode networking needs it: Debian package passt)`;
}

/**
 * passt's command line for a guest on the connected socket `fd` (as the child sees it).
 *
 * @param forwards - host ports forwarded into the guest
 * @param fd - the socket's fd number in passt
 * @returns the arguments
 * @example
 * ```ts
 * passtArguments([{ protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 }], 3);
 * // ["-f", "-e", "-1", "-F", "3", "-t", "127.0.0.1/2222:22"]
 * ```
 */
export function passtArguments(forwards: readonly HostForward[], fd: number): string[] {
  const args = ["-f", "-e", "-1", "-F", String(fd)];
  for (const f of forwards) args.push(f.protocol === "tcp" ? "-t" : "-u", `${f.hostAddress !== undefined ? `${f.hostAddress}/` : ""}${f.hostPort}:${f.guestPort}`);
  return args;
}

/**
 * What passt says it gives the guest (from its start-up report).
 *
 * @example
 * ```ts
 * const r: PasstReport = { guestAddress: "192.0.2.2", gateway: "192.0.2.1" };
 * ```
 */
export interface PasstReport {
  /** The IPv4 address its DHCP server assigns. */
  readonly guestAddress?: string;
  /** The gateway (connections to it reach the host's loopback). */
  readonly gateway?: string;
}

/**
 * Reads passt's start-up report (its stderr) for the DHCP block.
 *
 * @param text - what passt printed
 * @returns the addresses found
 * @example
 * ```ts
 * parsePasstReport("DHCP:\n    assign: 192.0.2.2\n    mask: 255.255.255.0\n    router: 192.0.2.1\n");
 * // { guestAddress: "192.0.2.2", gateway: "192.0.2.1" }
 * ```
 */
export function parsePasstReport(text: string): PasstReport {
  // Where no syslog is reachable, passt's "Failed to send N bytes to syslog" lines interleave the
  // report (one before every line of it): drop them first, or they would end the DHCP block.
  const dhcp = cleanLog(text).split("DHCP:")[1]?.split(/\n\S/)[0] ?? "";
  const assign = /assign:\s*(\S+)/.exec(dhcp)?.[1];
  const router = /router:\s*(\S+)/.exec(dhcp)?.[1];
  return { ...(assign ? { guestAddress: assign } : {}), ...(router ? { gateway: router } : {}) };
}

/** passt's messages without its complaints about a missing syslog. */
function cleanLog(text: string): string {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^Failed to send \d+ bytes to syslog$/.test(l.trim()))
    .join("\n")
    .trim();
}

/**
 * A running passt.
 *
 * @example
 * ```ts
 * const passt = await startPasst({ peer: fd, forwards: [] });
 * passt.exited.then((why) => console.log(why));
 * await passt.stop();
 * ```
 */
export class Passt {
  /** Its process id. */
  readonly pid: number;
  /** What it reported it gives the guest. */
  readonly report: PasstReport;
  /** Resolves when it has exited, with how (status or signal, and its last messages). */
  readonly exited: Promise<string>;
  private readonly child: ChildProcess;

  /** @internal */
  constructor(child: ChildProcess, report: PasstReport, exited: Promise<string>) {
    this.child = child;
    this.pid = child.pid as number;
    this.report = report;
    this.exited = exited;
  }

  /**
   * Stops it (SIGTERM, then SIGKILL after 2 s) and waits until it has exited.
   *
   * @returns when it is gone
   * @example
   * ```ts
   * await passt.stop();
   * ```
   */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.child.kill("SIGKILL"), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(t);
    }
    await this.exited;
  }
}

/**
 * Starts passt on one end of a connected stream socket and waits until it has bound its forwarded
 * ports and reported its configuration.
 *
 * @param options - `peer`: passt's end of the socket (an fd or a Node socket; it is passed as fd 3
 *   and may be closed by the caller afterwards); `forwards`: host ports forwarded into the guest;
 *   `binary`: the program (default `passt` on PATH); `name`: what errors call it (e.g. the device id)
 * @returns the running passt
 * @throws MicrovmError `backend` when passt is missing, refuses its arguments, cannot bind a
 *   forwarded port, or does not report ready within 10 s (it is then killed)
 * @example
 * ```ts
 * const passt = await startPasst({ peer: fds[1], forwards: [{ protocol: "tcp", hostPort: 2222, guestPort: 22 }] });
 * ```
 */
export async function startPasst(options: { peer: number | Socket; forwards: readonly HostForward[]; binary?: string; name?: string }): Promise<Passt> {
  const name = options.name ?? "passt";
  const binary = which(options.binary ?? "passt");
  if (!binary) throw new MicrovmError("backend", `${name}: ${passtUnavailableReason(options.binary ?? "passt") as string}`);
  const child = spawnBound(binary, passtArguments(options.forwards, 3), ["ignore", "ignore", "pipe", options.peer]);
  let log = "";
  child.stderr?.setEncoding("utf8");
  const exited = new Promise<string>((resolve) => {
    child.once("close", (code, signal) => resolve(`${signal ? `killed by ${signal}` : `exit status ${String(code)}`}${cleanLog(log) ? `: ${cleanLog(log).slice(-400)}` : ""}`));
    child.once("error", (e) => resolve(`could not run: ${e.message}`));
  });
  const ready = new Promise<PasstReport>((resolve) => {
    let macAt: NodeJS.Timeout | undefined;
    child.stderr?.on("data", (t: string) => {
      log = (log + t).slice(-8192);
      const r = parsePasstReport(log);
      if (r.gateway) {
        clearTimeout(macAt);
        resolve(r);
      } else if (macAt === undefined && /^MAC:/m.test(log)) {
        // Ports are bound before the report starts; a host without IPv4 prints no DHCP block.
        macAt = setTimeout(() => resolve(parsePasstReport(log)), 300);
      }
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then((r) => ({ r })),
    exited.then((why) => ({ why })),
    new Promise<{ timeout: true }>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), READY_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if ("r" in outcome) return new Passt(child, outcome.r, exited);
  child.kill("SIGKILL");
  const why = "why" in outcome ? outcome.why : `it did not report ready within ${READY_TIMEOUT_MS / 1000} s${cleanLog(log) ? `: ${cleanLog(log).slice(-400)}` : ""}`;
  await exited;
  throw new MicrovmError("backend", `${name}: passt (${[binary, ...passtArguments(options.forwards, 3)].join(" ")}) did not start: ${why}`);
}
