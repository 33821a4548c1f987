# images/rootfs.sh - the guest root filesystem's recipe, sourced by images/build.sh.
#
# Cheap to build (seconds): build.sh rebuilds it whenever the images' recipe changes.
#
# build_rootfs OUT: writes OUT/rootfs.ext4, busybox-static plus the images/rootfs/ overlay and the
# guest agent (images/guest-agent/, a static program built with the host's gcc).
# Uses from build.sh: HERE, WORK, BUSYBOX, BUSYBOX_PKG, BUSYBOX_PKG_VERSION, log, die.

ROOTFS_SIZE=48M

build_rootfs() {
  local out=$1 R=$WORK/rootfs a d
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
  "$HERE/guest-agent/build.sh" "$R/sbin/hearth-guest-agent"
  file -b "$R/sbin/hearth-guest-agent" | grep -q 'statically linked' || die "the guest agent is not statically linked"
  # modes do not depend on the checkout's umask / git's file modes
  find "$R" \( -path "$R/bin/busybox" -o -path "$R/sbin/hearth-guest-agent" \) -prune -o -type d -exec chmod 755 {} + -o -type f -exec chmod 644 {} +
  chmod 755 "$R/bin/busybox" "$R/etc/init.d/rcS" "$R/sbin/hearth-reboot" "$R/sbin/hearth-guest-agent" "$R"/var/www/cgi-bin/*
  chmod 1777 "$R/tmp"
  chmod 700 "$R/root"
  for a in sbin/init sbin/reboot bin/sh bin/mount sbin/httpd; do
    [[ -e $R/$a ]] || [[ -e $R/usr/$a ]] || die "busybox lacks applet $a"
  done
  # -d fills the fs from a directory: no loop mount, no root needed
  mkfs.ext4 -q -F -b 4096 -m 0 -L hearth-root -E root_owner=0:0 -d "$R" "$out/rootfs.ext4" "$ROOTFS_SIZE"
  if [[ $EUID -ne 0 ]]; then
    # files were copied with our uid; make them root-owned inside the image
    (cd "$R" && find . -mindepth 1 | sed 's|^\.||') |
      awk '{print "sif \"" $0 "\" uid 0"; print "sif \"" $0 "\" gid 0"}' > "$WORK/chown.debugfs"
    debugfs -w -f "$WORK/chown.debugfs" "$out/rootfs.ext4" >/dev/null 2>&1
  fi
  e2fsck -fn "$out/rootfs.ext4" >/dev/null || die "e2fsck failed on rootfs.ext4"
  log "rootfs done: $(stat -c %s "$out/rootfs.ext4") bytes (apparent)"
}

