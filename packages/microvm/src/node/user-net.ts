/**
 * The `user` net backend on either engine: one passt per device on one end of a connected stream
 * socket; the engine gets the other end (the KVM engine's I/O thread, or QEMU's `-netdev stream`).
 * Checks come first (before any process or socket exists); every passt is stopped on every way
 * out.
 *
 * @internal
 */
import { closeSync } from "node:fs";
import type { Socket } from "node:net";
import { MicrovmError } from "../errors.js";
import type { DeviceConfig } from "../devices/index.js";
import type { NetBackendSpec } from "../devices/net.js";
import { describeErrno, libc } from "./libc.js";
import { checkHostForwards } from "../host-forward.js";
import { passtUnavailableReason, startPasst, type Passt } from "./passt.js";

type UserSpec = Extract<NetBackendSpec, { type: "user" }>;

/** A net device with a `user` backend (either provider), by its index in the board's device list. */
export interface UserNetDevice {
  /** Its index in `devices`. */
  readonly index: number;
  /** Its backend. */
  readonly backend: UserSpec;
}

/**
 * The board's `user` net devices, their forwards checked, and whether passt can be started.
 *
 * @param devices - the board's devices
 * @returns the devices, and why passt cannot run (undefined when it can)
 * @throws MicrovmError `invalid-argument` / `out-of-range` for a bad forward
 */
export function userNetDevices(devices: readonly DeviceConfig[]): { readonly devices: UserNetDevice[]; readonly passtMissing: string | undefined } {
  const out: UserNetDevice[] = [];
  devices.forEach((d, index) => {
    if (d.kind !== "net" || d.backend?.type !== "user") return;
    checkHostForwards(d.backend.hostfwd ?? [], `devices[${index}].backend.hostfwd`);
    const provider = d.backend.provider ?? "passt";
    if (provider !== "passt" && provider !== "slirp") throw new MicrovmError("invalid-argument", `devices[${index}].backend.provider: expected passt or slirp, got ${String(provider)}`);
    out.push({ index, backend: d.backend });
  });
  const binaries = [...new Set(out.filter((d) => d.backend.provider !== "slirp").map((d) => d.backend.passt ?? "passt"))];
  const passtMissing = binaries.map((b) => passtUnavailableReason(b)).find((r) => r !== undefined);
  return { devices: out, passtMissing };
}

/** The passts of a machine. */
export class PasstGroup {
  /** The running passts, with the device id each serves. */
  readonly members: { readonly id: string; readonly passt: Passt }[] = [];

  /**
   * Starts one passt for a device.
   *
   * @param id - the device id (for messages)
   * @param backend - the device's backend
   * @param peer - passt's end of the socket
   * @returns the passt
   */
  async start(id: string, backend: UserSpec, peer: number | Socket): Promise<Passt> {
    const passt = await startPasst({ peer, forwards: backend.hostfwd ?? [], name: `device ${id}`, ...(backend.passt ? { binary: backend.passt } : {}) });
    this.members.push({ id, passt });
    return passt;
  }

  /**
   * Resolves when the first passt exits, with a sentence saying which and how.
   *
   * @returns the sentence (never resolves without members)
   */
  firstExit(): Promise<string> {
    return Promise.race(this.members.map((m) => m.passt.exited.then((why) => `device ${m.id}: passt exited (${why})`)));
  }

  /**
   * Stops every passt and waits for them.
   *
   * @returns when all are gone
   */
  async stop(): Promise<void> {
    await Promise.allSettled(this.members.map((m) => m.passt.stop()));
  }
}

/**
 * The error for a `user` device on the KVM engine without passt.
 *
 * @param why - passtUnavailableReason's words
 * @returns the error
 */
export function passtNeeded(why: string): MicrovmError {
  return new MicrovmError("backend", `a net device with backend user: ${why}`);
}

/**
 * A connected pair of unix stream sockets as raw fds (close-on-exec), the first non-blocking (the
 * I/O thread's end), the second blocking (passt's end, passed to it as fd 3).
 *
 * @returns [ours, theirs]
 * @throws MicrovmError `backend` when the kernel refuses
 */
export function socketPair(): [number, number] {
  // include/linux/socket.h AF_UNIX 1; include/linux/net.h SOCK_STREAM 1, SOCK_NONBLOCK = O_NONBLOCK
  // 0o4000, SOCK_CLOEXEC = O_CLOEXEC 0o2000000 (x86_64, include/uapi/asm-generic/fcntl.h).
  const sv = new Int32Array(2);
  const r = libc().socketpair(1, 1 | 0o2000000, 0, sv);
  if (r < 0) throw new MicrovmError("backend", `socketpair(AF_UNIX, SOCK_STREAM): ${describeErrno(-r)}`);
  const ours = sv[0] as number;
  // fcntl F_GETFL 3 / F_SETFL 4 (include/uapi/asm-generic/fcntl.h).
  const fl = libc().fcntlVal(ours, 3, 0);
  if (fl < 0 || libc().fcntlVal(ours, 4, fl | 0o4000) < 0) {
    closeSync(ours);
    closeSync(sv[1] as number);
    throw new MicrovmError("backend", `fcntl(O_NONBLOCK) on a socket: ${describeErrno(fl < 0 ? -fl : 22)}`);
  }
  return [ours, sv[1] as number];
}
