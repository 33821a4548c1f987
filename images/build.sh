#!/usr/bin/env bash
# images/build.sh - build the guest images Hearth's end-to-end tests boot
# (QEMU -M microvm standing in for Firecracker), from Debian packages only.
#
# Usage: images/build.sh [--print-dir] [--force]
#   --print-dir  print the output directory on stdout (the only stdout output)
#   --force      rebuild even if the cache entry is complete
#
# Output, cached by a hash of the recipe:
#   ${HEARTH_IMAGE_CACHE:-/var/cache/hearth/guest-images}/<recipe-hash>/
#     vmlinux        uncompressed, stripped ELF kernel (PVH entry note)
#     rootfs.ext4    busybox-static root filesystem (ext4, no partition table)
#     kernel.config  the final kernel .config
#     manifest.json  hashes, sizes, versions, build time
#     .complete      marker: the entry is usable
# The kernel is cached on its own, in kernels/<kernel-hash>/:
#   kernel hash = sha256 over images/kernel.sh, images/kernel.config and the
#                 installed version of linux-source-6.1
#   rootfs hash = sha256 over images/rootfs.sh, the images/rootfs/ overlay, the
#                 guest agent's source (images/guest-agent/) and the installed
#                 versions of busybox-static, gcc and libc6-dev (it is linked statically)
#   recipe hash = sha256 over this script, the kernel hash and the rootfs hash
# so a change to the rootfs or to this script rebuilds the rootfs (seconds) and
# reuses the kernel (minutes). Logs go to stderr. See images/README.md.
set -euo pipefail
umask 022

# stdout is reserved for --print-dir; everything else goes to stderr.
exec 3>&1 1>&2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${HEARTH_IMAGE_CACHE:-/var/cache/hearth/guest-images}
KEEP_ENTRIES=3
KEEP_KERNELS=2
KERNEL_PKG=linux-source-6.1
BUSYBOX_PKG=busybox-static
PKGS=("$KERNEL_PKG" "$BUSYBOX_PKG" build-essential flex bison bc libelf-dev
      xz-utils e2fsprogs binutils coreutils util-linux file)

PRINT_DIR=0 FORCE=0
for arg in "$@"; do
  case $arg in
    --print-dir) PRINT_DIR=1 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (usage: build.sh [--print-dir] [--force])"; exit 2 ;;
  esac
done

T0=$(date +%s)
log() { echo "[images/build.sh +$(( $(date +%s) - T0 ))s] $*"; }
die() { echo "images/build.sh: ERROR: $*"; exit 1; }

# ------------------------------------------------------------ packages
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    die "missing Debian packages: ${missing[*]}
  install them as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}
  (or run images/build.sh as root, which installs them itself)"
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # the lock timeout lets concurrent apt users (other builds) finish first
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
KERNEL_PKG_VERSION=$(dpkg-query -W -f='${Version}' "$KERNEL_PKG")
BUSYBOX_PKG_VERSION=$(dpkg-query -W -f='${Version}' "$BUSYBOX_PKG")
KERNEL_TARBALL=/usr/src/linux-source-6.1.tar.xz
BUSYBOX=/bin/busybox
[[ -f $KERNEL_TARBALL ]] || die "$KERNEL_TARBALL not found (package $KERNEL_PKG)"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (package $BUSYBOX_PKG)"

# --------------------------------------------------------- recipe hash
[[ -f $HERE/kernel.config && -d $HERE/rootfs ]] || die "recipe incomplete: need $HERE/kernel.config and $HERE/rootfs/"
# shellcheck source=kernel.sh
source "$HERE/kernel.sh"
# shellcheck source=rootfs.sh
source "$HERE/rootfs.sh"
file_sha() { sha256sum < "$1" | cut -d' ' -f1; }
kernel_hash() {
  {
    echo "hearth-guest-kernel v1"
    echo "file kernel.sh $(file_sha "$HERE/kernel.sh")"
    echo "file kernel.config $(file_sha "$HERE/kernel.config")"
    echo "pkg $KERNEL_PKG $KERNEL_PKG_VERSION"
  } | sha256sum | cut -d' ' -f1
}
rootfs_hash() {
  {
    echo "hearth-guest-rootfs v1"
    echo "file rootfs.sh $(file_sha "$HERE/rootfs.sh")"
    (cd "$HERE" && find rootfs guest-agent -mindepth 1 \( -type f -o -type l -o -type d \) -print | LC_ALL=C sort) |
      while IFS= read -r f; do
        if [[ -L $HERE/$f ]]; then echo "link $f -> $(readlink "$HERE/$f")"
        elif [[ -d $HERE/$f ]]; then echo "dir $f"
        else echo "file $f $(file_sha "$HERE/$f")"; fi
      done
    echo "pkg $BUSYBOX_PKG $BUSYBOX_PKG_VERSION"
    echo "pkg gcc $(dpkg-query -W -f='${Version}' gcc)"
    echo "pkg libc6-dev $(dpkg-query -W -f='${Version}' libc6-dev)"
  } | sha256sum | cut -d' ' -f1
}
KERNEL_HASH=$(kernel_hash)
ROOTFS_HASH=$(rootfs_hash)
recipe_hash() {
  printf 'hearth-guest-images v2\nfile build.sh %s\nkernel %s\nrootfs %s\n' \
    "$(file_sha "$HERE/build.sh")" "$KERNEL_HASH" "$ROOTFS_HASH" | sha256sum | cut -d' ' -f1
}
HASH=$(recipe_hash)
FINAL=$CACHE/$HASH
KERNELS=$CACHE/kernels
KERNEL_DIR=$KERNELS/$KERNEL_HASH
log "recipe hash $HASH (kernel $KERNEL_HASH: $KERNEL_PKG $KERNEL_PKG_VERSION; rootfs $ROOTFS_HASH: $BUSYBOX_PKG $BUSYBOX_PKG_VERSION)"

finish() {
  touch "$FINAL/.complete" 2>/dev/null || true   # LRU: a hit counts as new
  log "images ready in $FINAL"
  ((PRINT_DIR)) && echo "$FINAL" >&3
  exit 0
}
if [[ -f $FINAL/.complete && $FORCE -eq 0 ]]; then finish; fi

# --------------------------------------------------------------- lock
mkdir -p "$CACHE" 2>/dev/null && [[ -w $CACHE ]] ||
  die "cache directory $CACHE is not writable (set HEARTH_IMAGE_CACHE or run as root)"
exec 9>>"$CACHE/.lock"
if ! flock -n 9; then
  log "another build holds $CACHE/.lock; waiting"
  flock 9
fi
# someone else may have built it while we waited
if [[ -f $FINAL/.complete && $FORCE -eq 0 ]]; then finish; fi
# we hold the lock: leftovers of interrupted builds are garbage
rm -rf "$CACHE"/.tmp.* "$CACHE"/.old.* "$KERNELS"/.tmp.*

STAGE=$(mktemp -d "$CACHE/.tmp.$HASH.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hearth-images.XXXXXX")
KERNEL_STAGE=
cleanup() { rm -rf "$WORK" "$STAGE" ${KERNEL_STAGE:+"$KERNEL_STAGE"}; }
trap cleanup EXIT
trap 'exit 130' INT TERM
JOBS=$(nproc)
BUILD_T0=$(date +%s)

# ----------------------------------------------------- kernel, rootfs
# The kernel: reused from kernels/<kernel-hash>/ when an earlier build made it, else built there
# (published by rename, like the entries) and linked into this entry.
if [[ -f $KERNEL_DIR/.complete && $FORCE -eq 0 ]]; then
  log "reusing the kernel of $KERNEL_DIR"
  KERNEL_BUILT=false
else
  mkdir -p "$KERNELS"
  KERNEL_STAGE=$(mktemp -d "$KERNELS/.tmp.$KERNEL_HASH.XXXXXX")
  build_kernel "$KERNEL_STAGE"
  touch "$KERNEL_STAGE/.complete"
  chmod 755 "$KERNEL_STAGE"
  rm -rf "$KERNEL_DIR"
  mv -T "$KERNEL_STAGE" "$KERNEL_DIR"
  KERNEL_STAGE=
  KERNEL_BUILT=true
fi
touch "$KERNEL_DIR/.complete" # LRU: a use counts as new
for f in vmlinux kernel.config; do
  ln "$KERNEL_DIR/$f" "$STAGE/$f" 2>/dev/null || cp "$KERNEL_DIR/$f" "$STAGE/$f"
done
KERNEL_RELEASE=$(cat "$KERNEL_DIR/release")
build_rootfs "$STAGE"

# ----------------------------------------------------------- manifest
BUILD_SECONDS=$(( $(date +%s) - BUILD_T0 ))
cat > "$STAGE/manifest.json" <<EOF
{
  "recipeHash": "$HASH",
  "kernel": {
    "path": "vmlinux",
    "sha256": "$(file_sha "$STAGE/vmlinux")",
    "sizeBytes": $(stat -c %s "$STAGE/vmlinux"),
    "linuxVersion": "$KERNEL_RELEASE",
    "sourcePackage": "$KERNEL_PKG $KERNEL_PKG_VERSION",
    "config": "kernel.config",
    "recipeHash": "$KERNEL_HASH",
    "builtNow": $KERNEL_BUILT
  },
  "rootfs": {
    "path": "rootfs.ext4",
    "sha256": "$(file_sha "$STAGE/rootfs.ext4")",
    "sizeBytes": $(stat -c %s "$STAGE/rootfs.ext4"),
    "fsType": "ext4",
    "busyboxPackage": "$BUSYBOX_PKG $BUSYBOX_PKG_VERSION",
    "recipeHash": "$ROOTFS_HASH"
  },
  "bootArgs": "console=ttyS0 reboot=k panic=1 root=/dev/vda rw i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd",
  "readyMarker": "HEARTH-GUEST-READY",
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "buildSeconds": $BUILD_SECONDS
}
EOF
touch "$STAGE/.complete"
chmod 755 "$STAGE"

# ------------------------------------------------------ publish, prune
if [[ -e $FINAL ]]; then
  OLD=$(mktemp -d "$CACHE/.old.XXXXXX")
  mv "$FINAL" "$OLD/"
fi
mv -T "$STAGE" "$FINAL"          # rename(2): same filesystem, atomic
[[ -n ${OLD:-} ]] && rm -rf "$OLD"
log "built in ${BUILD_SECONDS}s"

# keep the $KEEP_ENTRIES newest complete entries (by .complete mtime)
ls -1t "$CACHE"/*/.complete 2>/dev/null | tail -n +$((KEEP_ENTRIES + 1)) | while IFS= read -r m; do
  d=$(dirname "$m")
  [[ $d == "$FINAL" ]] && continue
  log "pruning old cache entry $d"
  rm -rf "$d"
done
ls -1t "$KERNELS"/*/.complete 2>/dev/null | tail -n +$((KEEP_KERNELS + 1)) | while IFS= read -r m; do
  d=$(dirname "$m")
  [[ $d == "$KERNEL_DIR" ]] && continue
  log "pruning old kernel $d"
  rm -rf "$d"
done
flock -u 9
finish
