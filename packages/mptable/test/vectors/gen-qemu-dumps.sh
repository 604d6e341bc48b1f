#!/usr/bin/env bash
# Dumps the MPTable that QEMU's microvm machine (its qboot firmware, acpi=off) builds, for
# -smp 1, 2, 4 and 8, by booting idle-guest.S and saving guest memory through the QEMU monitor.
# Needs Debian's qemu-system-x86 (7.2), gcc/binutils and /dev/kvm. Writes:
#   qemu-microvm-smp<N>-9fc00.bin     the 1 KiB at 0x9fc00 (floating pointer + table)
#   qemu-microvm-smp2-lowmem.bin.gz   the first 1 MiB of guest memory, for findMpTable
#   qemu-version.txt                  which QEMU produced them
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -m32 -c -o "$work/idle.o" "$here/idle-guest.S"
ld -m elf_i386 -Ttext=0x100000 --section-start=.note.Xen=0x100100 -z noseparate-code -o "$work/idle.elf" "$work/idle.o"
for n in 1 2 4 8; do
  {
    sleep 4
    echo "pmemsave 0x9fc00 0x400 \"$work/smp$n.bin\""
    echo "pmemsave 0 0x100000 \"$work/low$n.bin\""
    sleep 1
    echo quit
  } | timeout 60 qemu-system-x86_64 \
    -M microvm,acpi=off,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=off \
    -enable-kvm -cpu host,arch-capabilities=off -m 128m -smp "$n" -nodefaults -no-user-config \
    -no-reboot -display none -monitor stdio -serial none -kernel "$work/idle.elf" >/dev/null
  cp "$work/smp$n.bin" "$here/qemu-microvm-smp$n-9fc00.bin"
done
gzip -9 -n -c "$work/low2.bin" > "$here/qemu-microvm-smp2-lowmem.bin.gz"
qemu-system-x86_64 --version | head -1 > "$here/qemu-version.txt"
echo "dumps written to $here"
