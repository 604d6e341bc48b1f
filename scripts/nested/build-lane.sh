#!/usr/bin/env bash
# Builds the nested-KVM lane's guest (docs/testing.md, "The nested-KVM lane"): Debian's cloud
# kernel (linux-image-cloud-amd64: PVH, ACPI, KVM as modules) and an initramfs of busybox-static,
# the modules the lane needs (virtio-mmio, virtiofs, kvm, kvm-amd/kvm-intel, tun) and
# scripts/nested/init. Cached under ~/.cache/microvm/nested/<hash>/, where the hash covers this
# script, the init, scripts/debian-kernel.sh (which fetches the kernel) and the package versions.
# Prints `kernel=…` and `initramfs=…` on stdout.
#
#   scripts/nested/build-lane.sh            build (or reuse) and print the paths
#   scripts/nested/build-lane.sh --print    print the paths if built, exit 3 if not
#   MICROVM_NESTED_CACHE=<dir>              where builds are cached
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${MICROVM_NESTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microvm/nested}"
mode=${1:-build}
log() { printf 'build-lane: %s\n' "$*" >&2; }
die() { printf 'build-lane: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../debian-kernel.sh
. "$here/../debian-kernel.sh"

if [ -z "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null | head -1)" ]; then
  [ "$mode" = --print ] && exit 3
  apt-get update -qq >&2
fi
need=()
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v modinfo >/dev/null || need+=(kmod)
[ -x /usr/lib/qemu/virtiofsd ] || need+=(qemu-system-common)
if [ ${#need[@]} -gt 0 ]; then
  [ "$mode" = --print ] && exit 3
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
debian_kernel_resolve linux-image-cloud-amd64
pkg=$dk_pkg
kver=$dk_ver
bbver=$(dpkg-query -W -f '${Version}' busybox-static)
hash=$( { printf '%s %s\nbusybox %s\n' "$pkg" "$kver" "$bbver"; sha256sum "$here/build-lane.sh" "$here/init" "$here/../debian-kernel.sh" | awk '{print $1}'; } | sha256sum | cut -c1-16)
out="$cache/$hash"
print_paths() { printf 'kernel=%s\ninitramfs=%s\n' "$out/vmlinuz" "$out/initramfs.cpio"; }
if [ -f "$out/.done" ]; then print_paths; exit 0; fi
[ "$mode" = --print ] && exit 3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debian_kernel_fetch "$work"
mods=$dk_mods

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules}
# The kernel opens /dev/console for init before devtmpfs is mounted.
mknod -m 600 "$root/dev/console" c 5 1 || die "mknod /dev/console (needs root)"
cp /bin/busybox "$root/bin/busybox"
for a in sh mount insmod mkdir sed cat grep ls cut head chroot poweroff sync echo; do ln -s busybox "$root/bin/$a"; done
order=()
for m in virtio_ring virtio virtio_mmio fuse virtiofs irqbypass kvm tun; do
  f=$(find "$mods" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
  [ -n "$f" ] || die "module $m not found in $pkg"
  case "$f" in *.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;; *) cp "$f" "$root/lib/modules/$m.ko" ;; esac
  order+=("$m")
done
for m in kvm-amd kvm-intel; do cp "$(find "$mods" -name "$m.ko" | head -1)" "$root/lib/modules/$m.ko"; done
printf '%s\n' "${order[@]}" > "$root/lib/modules/order"
cp "$here/init" "$root/init"
chmod +x "$root/init"
mkdir -p "$out"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$out/initramfs.cpio"
cp "$dk_vmlinuz" "$out/vmlinuz"
touch "$out/.done"
log "built: $out"
print_paths
