/**
 * A Linux tap device for virtio-net: opened by name on the main thread (so that a missing or busy
 * tap is a clear error before the guest starts), then handed to the I/O thread as an fd.
 */
import { closeSync, constants, existsSync, openSync } from "node:fs";
import { MicrovmError } from "../errors.js";
import { describeErrno, ERRNO, libc } from "./libc.js";

// include/uapi/linux/if_tun.h (ioctl numbers are _IOW('T', n, int) / _IOR('T', n, unsigned int)).
const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
const TUNGETIFF = 0x800454d2;
const TUNSETVNETHDRSZ = 0x400454d8;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
// include/uapi/linux/if.h: IFNAMSIZ 16; struct ifreq is 40 bytes on x86_64, flags at offset 16.
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;

/** The virtio_net_hdr size the tap is told to use: 12, virtio 1.x's header with num_buffers. */
export const TAP_VNET_HDR_SIZE = 12;

/** An open tap device. */
export interface Tap {
  /** Its fd (non-blocking, close-on-exec). */
  readonly fd: number;
  /** The interface name (the kernel's choice when none was asked for). */
  readonly name: string;
  /** Closes it (a tap created for this process then disappears). */
  close(): void;
}

/**
 * Opens a tap device by name with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, sets the vnet header to
 * 12 bytes (`TUNSETVNETHDRSZ`) and turns every offload off (`TUNSETOFFLOAD` 0), so that the
 * device offers the guest no offloads and the kernel hands over only complete, checksummed frames.
 *
 * With a name, the device must exist already (`ip tuntap add dev NAME mode tap`): it is attached,
 * never created, so nothing is left behind. Without one, a temporary tap is created (this needs
 * CAP_NET_ADMIN) and vanishes when it is closed, as QEMU's `-netdev tap` without `ifname` does.
 *
 * @param name - the interface name, or undefined for a new temporary tap
 * @param label - the netdev id, for messages
 * @returns the open tap
 * @throws MicrovmError `not-found` when the tap does not exist or /dev/net/tun cannot be opened,
 *   `state` when it is busy (attached to another process), `invalid-argument` for a bad name or
 *   an interface that is not a tap
 * @example
 * ```ts
 * const tap = openTap("mvtap0", "tap0");
 * // … hand tap.fd to the I/O thread …
 * tap.close();
 * ```
 */
export function openTap(name: string | undefined, label: string): Tap {
  const what = `netdev ${label}`;
  if (name !== undefined) {
    if (name.length === 0 || name.length >= IFNAMSIZ || /[/\s:]/.test(name)) {
      throw new MicrovmError("invalid-argument", `${what}: ifname: expected 1..15 characters without '/', ':' or spaces, got ${JSON.stringify(name)}`);
    }
    // Documentation/ABI/testing/sysfs-class-net: every interface has /sys/class/net/<name>;
    // tun/tap interfaces also have tun_flags (drivers/net/tun.c).
    if (!existsSync(`/sys/class/net/${name}`)) {
      throw new MicrovmError("not-found", `${what}: tap device ${name} does not exist (create it with: ip tuntap add dev ${name} mode tap)`);
    }
    if (!existsSync(`/sys/class/net/${name}/tun_flags`)) {
      throw new MicrovmError("invalid-argument", `${what}: ${name} is not a tun/tap device`);
    }
  }
  let fd: number;
  try {
    fd = openSync("/dev/net/tun", constants.O_RDWR | constants.O_NONBLOCK);
  } catch (e) {
    throw new MicrovmError("not-found", `${what}: cannot open /dev/net/tun: ${(e as Error).message}`, { cause: e });
  }
  try {
    const c = libc();
    const ifr = new Uint8Array(IFREQ_SIZE);
    if (name !== undefined) ifr.set(new TextEncoder().encode(name), 0);
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true);
    const r = c.ioctlPtr(fd, TUNSETIFF, ifr);
    if (r < 0) {
      const err = -r;
      const who = name ?? "a new tap";
      if (err === ERRNO.EBUSY) throw new MicrovmError("state", `${what}: tap device ${who} is busy (another process has it open): ${describeErrno(err)}`);
      if (err === ERRNO.EPERM) throw new MicrovmError("not-found", `${what}: not allowed to ${name === undefined ? "create a tap device" : `attach to tap device ${name}`} (needs CAP_NET_ADMIN or the tap's owner): ${describeErrno(err)}`);
      if (err === ERRNO.EINVAL) throw new MicrovmError("invalid-argument", `${what}: ${who} cannot be attached as a tap (is it a tun device, or multi-queue?): ${describeErrno(err)}`);
      throw new MicrovmError("not-found", `${what}: TUNSETIFF ${who}: ${describeErrno(err)}`);
    }
    const sz = new Uint8Array(4);
    new DataView(sz.buffer).setInt32(0, TAP_VNET_HDR_SIZE, true);
    const h = c.ioctlPtr(fd, TUNSETVNETHDRSZ, sz);
    if (h < 0) throw new MicrovmError("invalid-argument", `${what}: TUNSETVNETHDRSZ ${TAP_VNET_HDR_SIZE}: ${describeErrno(-h)}`);
    const o = c.ioctlVal(fd, TUNSETOFFLOAD, 0);
    if (o < 0) throw new MicrovmError("invalid-argument", `${what}: TUNSETOFFLOAD 0: ${describeErrno(-o)}`);
    const got = new Uint8Array(IFREQ_SIZE);
    const g = c.ioctlPtr(fd, TUNGETIFF, got);
    const end = got.indexOf(0);
    const actual = g >= 0 ? new TextDecoder().decode(got.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end)) : (name ?? "");
    let open = true;
    return {
      fd,
      name: actual,
      close() {
        if (open) closeSync(fd);
        open = false;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
