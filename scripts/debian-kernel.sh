# Sourced (not run) by the scripts that boot one of Debian's stock kernels
# (scripts/nested/build-lane.sh, scripts/stock-kernel/build.sh): resolves the versioned kernel
# package a meta-package (e.g. linux-image-cloud-amd64) depends on, downloads it with
# `apt-get download` (Debian's registry, through apt) and extracts it.
#
# The caller defines log() and die() (its own message prefix) and runs under `set -euo pipefail`.
#
#   debian_kernel_resolve META     sets dk_pkg (e.g. linux-image-6.1.0-57-cloud-amd64) and
#                                  dk_ver (the package's candidate version, e.g. 6.1.192-3)
#   debian_kernel_fetch DIR        downloads dk_pkg into DIR and extracts it into DIR/pkg; sets
#                                  dk_root (DIR/pkg), dk_mods (its lib/modules/<release>),
#                                  dk_release (e.g. 6.1.0-57-cloud-amd64) and dk_vmlinuz (the bzImage)

debian_kernel_resolve() {
  local meta=$1
  # The versioned kernel package the meta-package points at, e.g. linux-image-6.1.0-57-cloud-amd64.
  dk_pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$dk_pkg" ] || die "cannot resolve $meta (run apt-get update)"
  dk_ver=$(apt-cache policy "$dk_pkg" | awk '/Candidate:/ {print $2}')
}

debian_kernel_fetch() {
  local dir=$1
  log "fetching $dk_pkg ($dk_ver)"
  (cd "$dir" && apt-get download -qq "$dk_pkg" 2>/dev/null) || die "apt-get download $dk_pkg failed"
  dpkg-deb -x "$dir"/"$dk_pkg"_*.deb "$dir/pkg"
  dk_root="$dir/pkg"
  dk_release=${dk_pkg#linux-image-}
  dk_mods="$dk_root/lib/modules/$dk_release"
  [ -d "$dk_mods" ] || die "no modules in $dk_pkg"
  dk_vmlinuz=$(ls "$dk_root"/boot/vmlinuz-* 2>/dev/null | head -1)
  [ -n "$dk_vmlinuz" ] || die "no /boot/vmlinuz-* in $dk_pkg"
}
