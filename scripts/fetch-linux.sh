#!/usr/bin/env bash
# Fetches Debian's stock x86-64 kernel (the linux-image-amd64 dependency) and extracts its
# uncompressed ELF vmlinux (the bzImage payload is xz-compressed) into .cache/linux/, once per
# package version. Prints the vmlinux path. Needs apt-get (Debian's registry) and python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/linux"
mkdir -p "$cache"
if [ -z "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null | head -1)" ]; then apt-get update -qq >/dev/null; fi
# The versioned package linux-image-amd64 depends on, e.g. linux-image-6.1.0-47-amd64.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || { echo "fetch-linux: cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 1; }
out="$cache/$pkg.vmlinux"
if [ ! -s "$out" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq "$pkg" 2>/dev/null)
  dpkg-deb --fsys-tarfile "$work"/"$pkg"_*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
  python3 - "$work"/boot/vmlinuz-* "$out.tmp" <<'PY'
import lzma, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")  # the xz stream inside the bzImage (scripts/extract-vmlinux does the same)
if at < 0:
    sys.exit("no xz payload in " + sys.argv[1])
elf = lzma.LZMADecompressor().decompress(data[at:])
if elf[:4] != b"\x7fELF":
    sys.exit("the payload is not an ELF image")
open(sys.argv[2], "wb").write(elf)
PY
  mv "$out.tmp" "$out"
fi
echo "$out"
