#!/usr/bin/env bash
# Regenerates mpspec-layout.json from Linux's own header. Needs Debian's linux-source package
# (apt-get install linux-source) and gcc. Run from anywhere:
#   packages/mptable/test/vectors/gen-mpspec-layout.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tarball=$(ls /usr/src/linux-source-*.tar.xz | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
member=$(basename "$tarball" .tar.xz)/arch/x86/include/asm/mpspec_def.h
tar -xJf "$tarball" -C "$work" "$member"
cp "$work/$member" "$work/mpspec_def.h"
gcc -m64 -O0 -I "$work" -o "$work/layout" "$here/mpspec-layout.c"
"$work/layout" | sed "s/linux-source-6.1/$(basename "$tarball" .tar.xz)/" > "$here/mpspec-layout.json"
echo "wrote $here/mpspec-layout.json from $tarball"
