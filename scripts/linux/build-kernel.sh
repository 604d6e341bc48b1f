#!/usr/bin/env bash
# Builds a microvm-ready Linux kernel (an uncompressed ELF vmlinux with the PVH entry note) from
# Debian's linux-source package, a busybox-static initramfs that checks the virtio devices, and a
# small ext4 disk image for the blk check. Cached under ~/.cache/microvm/linux-build/<hash>/, where the hash
# covers this script, microvm.config, init, and the linux-source, busybox-static and gcc versions.
# Prints the three artifact paths as `vmlinux=…`, `initramfs=…`, `disk=…` on stdout (progress on
# stderr). See docs/linux.md.
#
#   scripts/linux/build-kernel.sh            build (or reuse) and print the paths
#   scripts/linux/build-kernel.sh --print    print the paths if built, exit 3 if not (no build)
#   JOBS=2 (default: nproc)                  make -j
#   MICROVM_LINUX_APT=0                      never run apt-get (fail if a tool is missing)
#   MICROVM_LINUX_CACHE=<dir>                where builds are cached (default ~/.cache/microvm/linux-build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The cache lives outside the checkout, so that a fresh clone on the same machine (CI's) reuses a
# build; MICROVM_LINUX_CACHE moves it.
cache="${MICROVM_LINUX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microvm/linux-build}"
jobs=${JOBS:-$(nproc)}
mode=${1:-build}
log() { printf 'build-kernel: %s\n' "$*" >&2; }
die() { printf 'build-kernel: error: %s\n' "$*" >&2; exit 1; }

# ---- tools (Debian packages) ------------------------------------------------------------------
need_pkgs=()
[ -f /usr/src/linux-source-6.1.tar.xz ] || need_pkgs+=(linux-source-6.1)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need_pkgs+=(busybox-static)
for t in gcc:build-essential make:build-essential bc:bc bison:bison flex:flex cpio:cpio mkfs.ext4:e2fsprogs; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need_pkgs+=("${t#*:}")
done
[ -f /usr/include/libelf.h ] || need_pkgs+=(libelf-dev)
[ -f /usr/include/openssl/ssl.h ] || need_pkgs+=(libssl-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  [ "$mode" = --print ] && exit 3
  [ "${MICROVM_LINUX_APT:-1}" = 1 ] || die "missing Debian packages: ${need_pkgs[*]}"
  log "installing ${need_pkgs[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi
# busybox-static installs /bin/busybox as a static binary; the dynamic `busybox` package does not.
file_type=$(od -An -c -N4 /bin/busybox | tr -d ' ')
[ "$file_type" = '177ELF' ] || die "/bin/busybox is not an ELF"
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked: install busybox-static"

ver() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown; }
linux_ver=$(ver linux-source-6.1)
busybox_ver=$(ver busybox-static)
gcc_ver=$(gcc -dumpfullversion)

# ---- the cache key ------------------------------------------------------------------------------
hash=$( {
  printf 'linux-source-6.1 %s\nbusybox-static %s\ngcc %s\n' "$linux_ver" "$busybox_ver" "$gcc_ver"
  sha256sum "$here/build-kernel.sh" "$here/microvm.config" "$here/init" | awk '{print $1}'
} | sha256sum | cut -c1-16)
out="$cache/$hash"
print_paths() { printf 'vmlinux=%s\ninitramfs=%s\ndisk=%s\n' "$out/vmlinux" "$out/initramfs.cpio" "$out/disk.img"; }
if [ -f "$out/.done" ]; then
  log "cached: $out"
  print_paths
  exit 0
fi
[ "$mode" = --print ] && exit 3

start=$(date +%s)
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # one build at a time per checkout

# ---- the source tree (shared by every hash with the same linux-source version) ------------------
src="$cache/src/linux-source-6.1_$linux_ver"
if [ ! -f "$src/.extracted" ]; then
  log "extracting /usr/src/linux-source-6.1.tar.xz"
  rm -rf "$src" "$src.tmp"
  mkdir -p "$src.tmp"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$src.tmp" --strip-components=1
  touch "$src.tmp/.extracted"
  mv "$src.tmp" "$src"
fi

# ---- the kernel -------------------------------------------------------------------------------
build="$cache/obj-$hash"
rm -rf "$build" "$out.tmp"
mkdir -p "$build" "$out.tmp"
kmake() { make -C "$src" O="$build" ARCH=x86_64 "$@"; }
log "make tinyconfig"
kmake -s tinyconfig >&2
# merge_config.sh -n: re-run allnoconfig with KCONFIG_ALLCONFIG = tinyconfig's result + our
# fragment, so symbols our options newly expose take "n" instead of their defaults
# (scripts/kconfig/merge_config.sh, usage).
log "merge microvm.config (allnoconfig semantics)"
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -n -O "$build" "$build/.config" "$here/microvm.config" >&2)

# Every `CONFIG_X=y` and `# CONFIG_X is not set` line of the fragment must be in the final .config:
# kconfig silently drops an option whose dependencies are not met.
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$build/.config" || { log "kconfig dropped: $line"; missing=1; } ;;
    "# CONFIG_"*" is not set")
      sym=${line#\# }; sym=${sym%% *}
      grep -q "^$sym=" "$build/.config" && { log "kconfig enabled what the fragment turns off: $sym"; missing=1; } ;;
  esac
done < "$here/microvm.config"
[ $missing = 0 ] || die "the final .config lacks options microvm.config asks for (see above; $build/.config)"
log "config checked: every option of microvm.config is in .config"

log "make -j$jobs vmlinux"
kmake -s -j"$jobs" vmlinux >&2
# The PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY = 18, include/xen/interface/elfnote.h), emitted by
# arch/x86/platform/pvh/head.S when CONFIG_PVH=y, is what a microvm loader starts.
readelf -n "$build/vmlinux" | grep -A1 -E '^\s+Xen\s' | grep -q '0x00000012' || die "vmlinux has no Xen PHYS32_ENTRY note"
cp "$build/vmlinux" "$out.tmp/vmlinux"
cp "$build/.config" "$out.tmp/config"

# ---- the initramfs: a newc cpio made by the kernel's own usr/gen_init_cpio --------------------
# gen_init_cpio takes a file list (usr/gen_init_cpio.c, usage) and needs no root for /dev/console,
# which the kernel opens for init's stdio before /init runs (init/main.c, console_on_rootfs).
gcc -O2 -o "$build/gen_init_cpio" "$src/usr/gen_init_cpio.c"
{
  echo "dir /bin 0755 0 0"
  echo "dir /dev 0755 0 0"
  echo "dir /proc 0755 0 0"
  echo "dir /sys 0755 0 0"
  echo "dir /mnt 0755 0 0"
  echo "nod /dev/console 0600 0 0 c 5 1"
  echo "file /bin/busybox /bin/busybox 0755 0 0"
  for a in sh mount umount ip cat usleep head wc sync reboot ls dmesg; do echo "slink /bin/$a busybox 0777 0 0"; done
  echo "file /init $here/init 0755 0 0"
} > "$build/initramfs.list"
"$build/gen_init_cpio" "$build/initramfs.list" > "$out.tmp/initramfs.cpio"

# ---- the disk: 8 MiB ext4 holding the line the init checks --------------------------------------
mkdir -p "$build/disk"
echo microvm-linux-disk > "$build/disk/microvm-check"
mkfs.ext4 -q -F -L microvm -E root_owner=0:0 -d "$build/disk" "$out.tmp/disk.img" 8M >&2

printf 'linux-source-6.1 %s\nbusybox-static %s\ngcc %s\nbuild seconds %s\n' \
  "$linux_ver" "$busybox_ver" "$gcc_ver" "$(( $(date +%s) - start ))" > "$out.tmp/versions"
touch "$out.tmp/.done"
rm -rf "$out"
mv "$out.tmp" "$out"
rm -rf "$build"
log "built in $(( $(date +%s) - start )) s: $out"
print_paths
