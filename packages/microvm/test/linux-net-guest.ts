/**
 * The guest side of the networking tests and benchmark: the recipe's kernel (scripts/linux/
 * build-kernel.sh, cached outside the checkout) with a second initramfs archive appended, holding
 * /init-net (run with `rdinit=/init-net`) and a DHCP event script, using the busybox of the
 * recipe's own archive. /init-net reads its parameters from the kernel command line:
 * - `mvnet.token=T`: the payloads carry T;
 * - `mvnet.port=P`: sends `guest-hello-T` to the gateway's port P, prints what came back;
 * - `mvnet.listen=P`: serves `guest-served-T` on port P once, prints what the client sent;
 * - `mvnet.send=N`: sends N MiB of zeros to the gateway's port `mvnet.port` (a throughput run).
 * Every line it prints on the console starts with `mvnet: `; it ends with `reboot -f`.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BUILD = join(ROOT, "scripts", "linux", "build-kernel.sh");

/** The recipe's artifacts, or undefined when it is not built here. */
export function recipe(): { vmlinux: string; initramfs: string } | undefined {
  const r = spawnSync("bash", [BUILD, "--print"], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  const kv = Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
  return kv["vmlinux"] && kv["initramfs"] ? { vmlinux: kv["vmlinux"], initramfs: kv["initramfs"] } : undefined;
}

/** A newc cpio archive (the kernel's initramfs format, Documentation/driver-api/early-userspace/buffer-format.rst). */
export function newcArchive(entries: readonly { name: string; mode: number; data?: string }[]): Uint8Array {
  const parts: Buffer[] = [];
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 0x4000;
  for (const e of [...entries, { name: "TRAILER!!!", mode: 0 }]) {
    const data = Buffer.from((e as { data?: string }).data ?? "", "utf8");
    const name = Buffer.from(`${e.name}\0`, "utf8");
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, "0")).join("")}`, "ascii");
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  }
  return new Uint8Array(Buffer.concat(parts));
}

export const INIT_NET = `#!/bin/sh
# /init-net: DHCP, one TCP exchange out through the gateway, one served through a forwarded port.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "\${w#*=}";; esac; done; }
port=$(arg mvnet.port); listen=$(arg mvnet.listen); token=$(arg mvnet.token)
ip link set lo up
ip link set eth0 up
if busybox udhcpc -i eth0 -n -q -t 5 -T 2 -s /etc/mvnet-dhcp >/dev/null 2>&1; then
  gw=$(cat /tmp/gw)
  echo "mvnet: dhcp ok ip=$(cat /tmp/ip) gw=$gw"
else
  echo "mvnet: dhcp fail"
  sync; reboot -f
fi
send=$(arg mvnet.send)
if [ -n "$send" ]; then
  # Throughput: the host counts the bytes and closes first (see docs/networking.md on half-close).
  (busybox dd if=/dev/zero bs=65536 count=$((send * 16)) 2>/dev/null; busybox sleep 60) | busybox nc "$gw" "$port" >/dev/null 2>&1
  echo "mvnet: sent"
  port=""
fi
if [ -n "$port" ]; then
  # stdin stays open until the host has answered and closed: the host closes first.
  (echo "guest-hello-$token"; busybox sleep 4) | busybox nc "$gw" "$port" > /tmp/out 2>/dev/null
  echo "mvnet: out got=$(cat /tmp/out)"
fi
if [ -n "$listen" ]; then
  (echo "guest-served-$token"; busybox sleep 4) | busybox nc -l -p "$listen" > /tmp/in 2>/dev/null &
  nc=$!
  (busybox sleep 15; kill $nc 2>/dev/null) &
  busybox sleep 1
  echo "mvnet: listening port=$listen"
  wait $nc
  echo "mvnet: in got=$(cat /tmp/in)"
fi
echo "mvnet: done"
sync
reboot -f
`;

export const DHCP_SCRIPT = `#!/bin/sh
# udhcpc's event script (busybox networking/udhcp/dhcpc.c: ip, mask, router, interface in the environment).
case "$1" in
  bound|renew)
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; echo "$r" > /tmp/gw; break; done
    echo "$ip" > /tmp/ip
    ;;
esac
exit 0
`;


/**
 * The recipe's initramfs with the networking archive appended (the kernel unpacks concatenated
 * archives in order; the second adds files to the first's tree).
 *
 * @param recipeInitramfs - the recipe's initramfs.cpio
 * @returns the combined initrd
 */
export function netInitramfs(recipeInitramfs: string): Uint8Array {
  const base = readFileSync(recipeInitramfs);
  const extra = newcArchive([
    { name: "etc", mode: 0o40755 },
    { name: "tmp", mode: 0o41777 },
    { name: "init-net", mode: 0o100755, data: INIT_NET },
    { name: "etc/mvnet-dhcp", mode: 0o100755, data: DHCP_SCRIPT },
  ]);
  return new Uint8Array(Buffer.concat([base, Buffer.alloc((4 - (base.length % 4)) % 4), extra]));
}
