/**
 * Host ports forwarded into the guest (`user` networking): the type, its checks, and QEMU's
 * `hostfwd=` spelling. Pure: the CLI parses flags with it before anything is loaded.
 */
import { MicrovmError } from "./errors.js";

/**
 * A host port forwarded into the guest (QEMU's `hostfwd=tcp:[hostaddr]:hostport-:guestport`).
 *
 * @example
 * ```ts
 * const ssh: HostForward = { protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 };
 * ```
 */
export interface HostForward {
  /** tcp or udp. */
  readonly protocol: "tcp" | "udp";
  /** The host address to listen on (an IPv4 or IPv6 literal); default every address. */
  readonly hostAddress?: string;
  /** The host port, 1..65535. */
  readonly hostPort: number;
  /** The guest port, 1..65535 (on the guest's one address). */
  readonly guestPort: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Checks port forwards: protocol tcp or udp, ports 1..65535, a host address that is an IPv4 or
 * IPv6 literal, no two forwards of one protocol on one host port.
 *
 * @param forwards - the forwards
 * @param field - the field named in errors, e.g. `devices[0].backend.hostfwd`
 * @throws MicrovmError `invalid-argument` or `out-of-range` naming the entry and the field
 * @example
 * ```ts
 * checkHostForwards([{ protocol: "tcp", hostPort: 2222, guestPort: 22 }], "hostfwd");
 * ```
 */
export function checkHostForwards(forwards: readonly HostForward[], field: string): void {
  if (!Array.isArray(forwards)) throw new MicrovmError("invalid-argument", `${field}: expected an array of forwards`);
  const seen = new Set<string>();
  forwards.forEach((f, i) => {
    const at = `${field}[${i}]`;
    if (typeof f !== "object" || f === null) throw new MicrovmError("invalid-argument", `${at}: expected an object`);
    if (f.protocol !== "tcp" && f.protocol !== "udp") throw new MicrovmError("invalid-argument", `${at}.protocol: expected tcp or udp, got ${String(f.protocol)}`);
    for (const k of ["hostPort", "guestPort"] as const) {
      const v = f[k];
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw new MicrovmError("out-of-range", `${at}.${k}: expected a port in 1..65535, got ${String(v)}`);
    }
    if (f.hostAddress !== undefined && !(typeof f.hostAddress === "string" && (IPV4.test(f.hostAddress) || /^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$/.test(f.hostAddress)))) {
      throw new MicrovmError("invalid-argument", `${at}.hostAddress: expected an IPv4 or IPv6 address, got ${JSON.stringify(f.hostAddress)}`);
    }
    const key = `${f.protocol}:${f.hostPort}`;
    if (seen.has(key)) throw new MicrovmError("invalid-argument", `${at}: host ${f.protocol} port ${f.hostPort} is forwarded twice`);
    seen.add(key);
  });
}

/**
 * Reads one `hostfwd=` value, QEMU's `[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport`
 * (net/slirp.c; the protocol defaults to tcp). The guest address must be empty: passt forwards
 * to the guest's one address.
 *
 * @param value - the value
 * @param flag - the flag for messages
 * @returns the forward
 * @throws MicrovmError `invalid-argument` naming the part that is wrong
 * @example
 * ```ts
 * parseHostfwd("tcp:127.0.0.1:2222-:22", "-netdev"); // { protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 }
 * ```
 */
export function parseHostfwd(value: string, flag: string): HostForward {
  const what = `${flag}: hostfwd=${value}`;
  // QEMU's form has three fields before the '-' (protocol, host address, host port): name a
  // protocol other than tcp or udp rather than misread it as the host address.
  const first = /^([^:]*):[^:]*:[^-]*-/.exec(value)?.[1];
  if (first !== undefined && first !== "" && first !== "tcp" && first !== "udp") {
    throw new MicrovmError("invalid-argument", `${what}: protocol ${JSON.stringify(first)}: expected tcp or udp`);
  }
  // Three fields before the '-', as QEMU requires (the protocol may be empty: tcp).
  const m = /^(tcp|udp)?:([^:]*):([^-]*)-([^:]*):(.*)$/.exec(value);
  if (!m) throw new MicrovmError("invalid-argument", `${what}: expected [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport, e.g. tcp::2222-:22`);
  const [, proto, hostAddress, hostPort, guestAddress, guestPort] = m as unknown as [string, string | undefined, string, string, string, string];
  if (guestAddress !== "") throw new MicrovmError("invalid-argument", `${what}: a guest address is not supported (passt forwards to the guest's one address); write -:${guestPort}`);
  const port = (p: string, which: string): number => {
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new MicrovmError("invalid-argument", `${what}: ${which}: expected a port in 1..65535, got ${JSON.stringify(p)}`);
    return Number(p);
  };
  const fwd: HostForward = { protocol: proto === "udp" ? "udp" : "tcp", ...(hostAddress !== "" ? { hostAddress } : {}), hostPort: port(hostPort, "host port"), guestPort: port(guestPort, "guest port") };
  try {
    checkHostForwards([fwd], "hostfwd");
  } catch (e) {
    throw new MicrovmError("invalid-argument", `${what}: ${(e as Error).message.replace(/^hostfwd\[0\]\.\w+: /, "")}`);
  }
  return fwd;
}
