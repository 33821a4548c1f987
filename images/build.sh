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
# recipe hash = sha256 over this script, images/kernel.config, the
# images/rootfs/ overlay, and the installed versions of linux-source-6.1 and
# busybox-static. Logs go to stderr. See images/README.md.
set -euo pipefail
umask 022

# stdout is reserved for --print-dir; everything else goes to stderr.
exec 3>&1 1>&2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${HEARTH_IMAGE_CACHE:-/var/cache/hearth/guest-images}
KEEP_ENTRIES=3
ROOTFS_SIZE=48M
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
recipe_hash() {
  {
    echo "hearth-guest-images v1"
    echo "file build.sh $(sha256sum < "$HERE/build.sh" | cut -d' ' -f1)"
    echo "file kernel.config $(sha256sum < "$HERE/kernel.config" | cut -d' ' -f1)"
    (cd "$HERE" && find rootfs -mindepth 1 \( -type f -o -type l -o -type d \) -print | LC_ALL=C sort) |
      while IFS= read -r f; do
        if [[ -L $HERE/$f ]]; then echo "link $f -> $(readlink "$HERE/$f")"
        elif [[ -d $HERE/$f ]]; then echo "dir $f"
        else echo "file $f $(sha256sum < "$HERE/$f" | cut -d' ' -f1)"; fi
      done
    echo "pkg $KERNEL_PKG $KERNEL_PKG_VERSION"
    echo "pkg $BUSYBOX_PKG $BUSYBOX_PKG_VERSION"
  } | sha256sum | cut -d' ' -f1
}
HASH=$(recipe_hash)
FINAL=$CACHE/$HASH
log "recipe hash $HASH ($KERNEL_PKG $KERNEL_PKG_VERSION, $BUSYBOX_PKG $BUSYBOX_PKG_VERSION)"

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
rm -rf "$CACHE"/.tmp.* "$CACHE"/.old.*

STAGE=$(mktemp -d "$CACHE/.tmp.$HASH.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hearth-images.XXXXXX")
cleanup() { rm -rf "$WORK" "$STAGE"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
JOBS=$(nproc)
BUILD_T0=$(date +%s)

# ------------------------------------------------------------- kernel
build_kernel() {
  local S=$WORK/linux-source-6.1 mk frag=$HERE/kernel.config bad=() line sym
  log "unpacking $KERNEL_TARBALL"
  tar -xJf "$KERNEL_TARBALL" -C "$WORK"
  [[ -f $S/Makefile ]] || die "unexpected layout of $KERNEL_TARBALL"
  # no build host name in the kernel banner
  mk=(make -C "$S" ARCH=x86_64 KBUILD_BUILD_USER=hearth KBUILD_BUILD_HOST=hearth)
  log "configuring: tinyconfig + images/kernel.config"
  "${mk[@]}" -s tinyconfig
  (cd "$S" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null)
  "${mk[@]}" -s olddefconfig
  # every fragment line must be in the final config
  while IFS= read -r line; do
    if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)= ]]; then
      grep -qxF "$line" "$S/.config" || bad+=("$line (final: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$S/.config" || echo absent))")
    elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
      sym=${BASH_REMATCH[1]}
      ! grep -qE "^$sym=" "$S/.config" || bad+=("$line (final: $(grep -E "^$sym=" "$S/.config"))")
    fi
  done < "$frag"
  if ((${#bad[@]})); then
    printf '  %s\n' "${bad[@]}"
    die "${#bad[@]} option(s) of images/kernel.config did not survive olddefconfig (missing dependency?)"
  fi
  KERNEL_RELEASE=$("${mk[@]}" -s kernelrelease)
  log "compiling Linux $KERNEL_RELEASE: make -j$JOBS vmlinux"
  "${mk[@]}" -j"$JOBS" vmlinux >"$WORK/kernel-build.log" 2>&1 || {
    tail -n 60 "$WORK/kernel-build.log"; die "kernel build failed (last 60 lines above)"; }
  strip --strip-all -o "$STAGE/vmlinux" "$S/vmlinux"
  cp "$S/.config" "$STAGE/kernel.config"
  # Firecracker and QEMU boot an ELF vmlinux through its PVH entry note (Xen, type 18)
  file -b "$STAGE/vmlinux" | grep -q '^ELF 64-bit LSB executable, x86-64' || die "vmlinux is not an x86-64 ELF executable"
  readelf -n "$STAGE/vmlinux" | grep -Eq 'Xen[[:space:]].*(0x0*12\)|PHYS32)' || die "vmlinux has no PVH (XEN_ELFNOTE_PHYS32_ENTRY) note"
  log "kernel done: $(stat -c %s "$STAGE/vmlinux") bytes"
}

# ------------------------------------------------------------- rootfs
build_rootfs() {
  local R=$WORK/rootfs a d
  log "building rootfs from $BUSYBOX ($BUSYBOX_PKG $BUSYBOX_PKG_VERSION)"
  file -L -b "$BUSYBOX" | grep -q 'statically linked' || die "$BUSYBOX is not statically linked"
  mkdir -p "$R"
  for d in bin sbin usr/bin usr/sbin etc/init.d proc sys dev tmp run root data var/www/cgi-bin; do
    mkdir -p "$R/$d"
  done
  cp "$BUSYBOX" "$R/bin/busybox"
  # applet links where busybox expects them (bin/ls, sbin/reboot, usr/bin/wget, ...)
  for a in $("$BUSYBOX" --list-full); do
    [[ $a == bin/busybox || -e $R/$a ]] && continue
    mkdir -p "$R/$(dirname "$a")"
    ln -s "$(realpath -m --relative-to="$R/$(dirname "$a")" "$R/bin/busybox")" "$R/$a"
  done
  cp -a "$HERE/rootfs/." "$R/"
  # modes do not depend on the checkout's umask / git's file modes
  find "$R" -path "$R/bin/busybox" -prune -o -type d -exec chmod 755 {} + -o -type f -exec chmod 644 {} +
  chmod 755 "$R/bin/busybox" "$R/etc/init.d/rcS" "$R/sbin/hearth-reboot" "$R"/var/www/cgi-bin/*
  chmod 1777 "$R/tmp"
  chmod 700 "$R/root"
  for a in sbin/init sbin/reboot bin/sh bin/mount sbin/httpd; do
    [[ -e $R/$a ]] || [[ -e $R/usr/$a ]] || die "busybox lacks applet $a"
  done
  # -d fills the fs from a directory: no loop mount, no root needed
  mkfs.ext4 -q -F -b 4096 -m 0 -L hearth-root -E root_owner=0:0 -d "$R" "$STAGE/rootfs.ext4" "$ROOTFS_SIZE"
  if [[ $EUID -ne 0 ]]; then
    # files were copied with our uid; make them root-owned inside the image
    (cd "$R" && find . -mindepth 1 | sed 's|^\.||') |
      awk '{print "sif \"" $0 "\" uid 0"; print "sif \"" $0 "\" gid 0"}' > "$WORK/chown.debugfs"
    debugfs -w -f "$WORK/chown.debugfs" "$STAGE/rootfs.ext4" >/dev/null 2>&1
  fi
  e2fsck -fn "$STAGE/rootfs.ext4" >/dev/null || die "e2fsck failed on rootfs.ext4"
  log "rootfs done: $(stat -c %s "$STAGE/rootfs.ext4") bytes (apparent)"
}

build_rootfs
build_kernel

# ----------------------------------------------------------- manifest
BUILD_SECONDS=$(( $(date +%s) - BUILD_T0 ))
sha() { sha256sum "$1" | cut -d' ' -f1; }
cat > "$STAGE/manifest.json" <<EOF
{
  "recipeHash": "$HASH",
  "kernel": {
    "path": "vmlinux",
    "sha256": "$(sha "$STAGE/vmlinux")",
    "sizeBytes": $(stat -c %s "$STAGE/vmlinux"),
    "linuxVersion": "$KERNEL_RELEASE",
    "sourcePackage": "$KERNEL_PKG $KERNEL_PKG_VERSION",
    "config": "kernel.config"
  },
  "rootfs": {
    "path": "rootfs.ext4",
    "sha256": "$(sha "$STAGE/rootfs.ext4")",
    "sizeBytes": $(stat -c %s "$STAGE/rootfs.ext4"),
    "fsType": "ext4",
    "busyboxPackage": "$BUSYBOX_PKG $BUSYBOX_PKG_VERSION"
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
flock -u 9
finish
