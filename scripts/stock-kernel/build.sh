#!/usr/bin/env bash
# Builds what an end-to-end test needs to boot Debian's stock cloud kernel
# (linux-image-cloud-amd64, 6.1: PVH and ACPI built in, virtio-mmio and the virtio drivers as
# modules, no VIRTIO_MMIO_CMDLINE_DEVICES, so it finds virtio-mmio transports only through ACPI)
# on a micro-VM whose devices are described by ACPI tables:
#   vmlinux         the ELF inside the package's bzImage (its LZ4 payload, decompressed), which
#                   carries the Xen PVH entry note our loader boots through;
#   bzimage         the package's bzImage as is (for QEMU's -kernel);
#   initramfs.cpio  busybox-static, the virtio modules (and ACPI's button and evdev, for the
#                   power-button wait) and scripts/stock-kernel/init, which prints one
#                   `STOCK-REPORT …` line (its format is in the init) and powers off.
# Cached under ~/.cache/microvm/stock-kernel/<hash>/, where the hash covers this script, the
# init, scripts/debian-kernel.sh and the package versions. Prints `vmlinux=…`, `bzimage=…` and
# `initramfs=…` on stdout (progress on stderr).
#
#   scripts/stock-kernel/build.sh            build (or reuse) and print the paths
#   scripts/stock-kernel/build.sh --print    print the paths if built, exit 3 if not (no build)
#   MICROVM_STOCK_CACHE=<dir>                where builds are cached
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${MICROVM_STOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microvm/stock-kernel}"
mode=${1:-build}
log() { printf 'stock-kernel: %s\n' "$*" >&2; }
die() { printf 'stock-kernel: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../debian-kernel.sh
. "$here/../debian-kernel.sh"

# The modules /init loads, each after its dependencies (modprobe --show-depends orders them).
# rng-core is built into this kernel; button (ACPI's power button, PNP0C0C) and evdev
# (/dev/input/eventN) are modules here and serve stock.wait=powerbutton.
MODULES="virtio_ring virtio virtio_mmio virtio_blk failover net_failover virtio_net virtio_console rng-core virtio-rng button evdev"

# ---- tools (Debian packages) --------------------------------------------------------------------
# apt's lists may be stored compressed (…_Packages.lz4), hence the trailing *.
if [ -z "$(ls /var/lib/apt/lists/*_Packages* 2>/dev/null | head -1)" ]; then
  [ "$mode" = --print ] && exit 3
  apt-get update -qq >&2
fi
need=()
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
dpkg-query -W -f '${Status}' libc6-dev 2>/dev/null | grep -q 'ok installed' || need+=(libc6-dev) # randread.c, static
for t in cpio:cpio modprobe:kmod depmod:kmod lz4:lz4 xz:xz-utils readelf:binutils gcc:gcc; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$mode" = --print ] && exit 3
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${need[*]}) and not root to install them"
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

# ---- the cache key ------------------------------------------------------------------------------
debian_kernel_resolve linux-image-cloud-amd64
bbver=$(dpkg-query -W -f '${Version}' busybox-static)
hash=$( {
  printf '%s %s\nbusybox-static %s\n' "$dk_pkg" "$dk_ver" "$bbver"
  sha256sum "$here/build.sh" "$here/init" "$here/randread.c" "$here/../debian-kernel.sh" | awk '{print $1}'
} | sha256sum | cut -c1-16)
out="$cache/$hash"
print_paths() { printf 'vmlinux=%s\nbzimage=%s\ninitramfs=%s\n' "$out/vmlinux" "$out/bzImage" "$out/initramfs.cpio"; }
if [ -f "$out/.done" ]; then print_paths; exit 0; fi
[ "$mode" = --print ] && exit 3

# busybox-static installs /bin/busybox as a static binary; the dynamic `busybox` package does not.
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked: install busybox-static"
# The applets the init uses (busybox-static 1.35 has them all; checked, so a smaller build fails
# here rather than in the guest).
for a in sh mount insmod sleep cat grep sed tr head ls od poweroff basename readlink mdev timeout ip arping; do
  /bin/busybox --list | grep -qx "$a" || die "busybox-static has no '$a' applet"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debian_kernel_fetch "$work"

# ---- vmlinux: the bzImage's payload ---------------------------------------------------------------
# The setup header (Documentation/x86/boot.rst) gives the payload's place: it starts
# payload_offset (at 0x248) bytes into the protected-mode code, which follows the
# (setup_sects (at 0x1f1) + 1) 512-byte setup sectors. Debian compresses it with LZ4, whose
# "legacy" frame (the kernel's lz4 -l) starts with the magic 02 21 4c 18 (lz4's
# doc/lz4_Frame_format.md, "Legacy frame"); the header's offset must point at it, else the first
# occurrence of the magic is taken.
u8() { od -An -tu1 -j "$1" -N1 "$dk_vmlinuz" | tr -d ' '; }
u32() { od -An -tu4 -j "$1" -N4 "$dk_vmlinuz" | tr -d ' '; }
at=$(( ($(u8 $((0x1f1))) + 1) * 512 + $(u32 $((0x248))) ))
if [ "$(od -An -tx1 -j "$at" -N4 "$dk_vmlinuz" | tr -d ' ')" != 02214c18 ]; then
  at=$(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$dk_vmlinuz" | head -1 | cut -d: -f1)
  [ -n "$at" ] || die "no LZ4 legacy payload (magic 02 21 4c 18) in $dk_vmlinuz: not an LZ4 bzImage?"
fi
# A legacy frame has no end mark: lz4 reads the 4-byte size the kernel appends after it (and
# what follows) as another block and fails after writing the whole ELF, so its status is ignored
# and the output checked instead.
tail -c +$((at + 1)) "$dk_vmlinuz" | lz4 -dc > "$work/vmlinux" 2>/dev/null || true
[ "$(head -c4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] || die "the LZ4 payload at offset $at did not decompress to an ELF"
readelf -lW "$work/vmlinux" | grep -q '^ *NOTE ' || die "the vmlinux has no PT_NOTE segment"
# XEN_ELFNOTE_PHYS32_ENTRY = 18 (Xen's public/elfnote.h): the PVH entry point our loader uses.
# binutils prints it as an unknown note type of owner Xen.
readelf -nW "$work/vmlinux" | grep -E '^ *Xen ' | grep -qE '\(0x00000012\)|PHYS32' ||
  die "the vmlinux has no Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY, 18)"

# ---- initramfs ------------------------------------------------------------------------------------
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
# The kernel opens /dev/console for init before devtmpfs is mounted.
mknod -m 600 "$root/dev/console" c 5 1 || die "mknod /dev/console (needs root)"
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
# Debian's package has no modules.dep (its postinst runs depmod): make one in the extracted tree.
depmod -b "$dk_root" "$dk_release"
: > "$root/lib/modules/order"
for m in $MODULES; do
  deps=$(modprobe -d "$dk_root" -S "$dk_release" --show-depends "$m") || die "module $m not found in $dk_pkg"
  while read -r verb path _; do
    [ "$verb" = insmod ] || continue # "builtin NAME": in the kernel already
    name=$(basename "$path"); name=${name%.xz}; name=${name%.ko}
    grep -qx "$name" "$root/lib/modules/order" && continue
    case "$path" in *.xz) xz -dc "$path" > "$root/lib/modules/$name.ko" ;; *) cp "$path" "$root/lib/modules/$name.ko" ;; esac
    echo "$name" >> "$root/lib/modules/order"
  done <<< "$deps"
done
# The random-read benchmark tool (stock.rand=): static, so the initramfs needs no libc.
gcc -static -O2 -o "$root/bin/randread" "$here/randread.c" || die "cannot build randread.c statically (needs gcc and libc6-dev)"
cp "$here/init" "$root/init"
chmod +x "$root/init"

mkdir -p "$out"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$out/initramfs.cpio"
cp "$work/vmlinux" "$out/vmlinux"
cp "$dk_vmlinuz" "$out/bzImage"
printf '%s %s\n' "$dk_pkg" "$dk_ver" > "$out/package"
touch "$out/.done"
log "built: $out ($dk_pkg $dk_ver; modules: $(tr '\n' ' ' < "$root/lib/modules/order"))"
print_paths
