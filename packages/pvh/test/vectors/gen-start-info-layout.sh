#!/bin/sh
# Regenerates start-info-layout.json from the real Xen header in Debian's linux-source-6.1.
# Needs: linux-source-6.1 (apt-get install linux-source-6.1), gcc, tar, xz.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Extract only the one header.
tar -xJf "$src" -C "$tmp" --wildcards '*/include/xen/interface/hvm/start_info.h'
hdr=$(find "$tmp" -name start_info.h | head -n 1)
cp "$hdr" "$tmp/start_info.h"
sha=$(sha256sum "$tmp/start_info.h" | cut -d' ' -f1)
gcc -std=c11 -O0 -Wall -Wextra -Werror -I"$tmp" -o "$tmp/gen" "$here/start-info-layout.c"
"$tmp/gen" > "$tmp/out.json"
# Record which header produced the file.
sed "s|^{\$|{\n  \"headerSha256\": \"$sha\",\n  \"generator\": \"test/vectors/start-info-layout.c (gcc $(gcc -dumpfullversion), $(uname -m))\",|" "$tmp/out.json" > "$here/start-info-layout.json"
echo "wrote $here/start-info-layout.json"
