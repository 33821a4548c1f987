# images/kernel.sh - the guest kernel's recipe, sourced by images/build.sh.
#
# build.sh caches the kernel on its own, by a hash of this file, images/kernel.config and the
# linux-source package's version: a change to the rootfs or to build.sh never rebuilds it (a cold
# kernel build takes minutes on 2 cores).
#
# build_kernel OUT: writes OUT/vmlinux, OUT/kernel.config and OUT/release.
# Uses from build.sh: HERE, WORK, JOBS, KERNEL_TARBALL, log, die.

# Firecracker and QEMU boot an ELF vmlinux through its PVH entry note (Xen, type 18).
build_kernel() {
  local out=$1 S=$WORK/linux-source-6.1 mk frag=$HERE/kernel.config bad=() line sym release
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
  release=$("${mk[@]}" -s kernelrelease)
  log "compiling Linux $release: make -j$JOBS vmlinux"
  "${mk[@]}" -j"$JOBS" vmlinux >"$WORK/kernel-build.log" 2>&1 || {
    tail -n 60 "$WORK/kernel-build.log"; die "kernel build failed (last 60 lines above)"; }
  strip --strip-all -o "$out/vmlinux" "$S/vmlinux"
  cp "$S/.config" "$out/kernel.config"
  echo "$release" > "$out/release"
  file -b "$out/vmlinux" | grep -q '^ELF 64-bit LSB executable, x86-64' || die "vmlinux is not an x86-64 ELF executable"
  readelf -n "$out/vmlinux" | grep -Eq 'Xen[[:space:]].*(0x0*12\)|PHYS32)' || die "vmlinux has no PVH (XEN_ELFNOTE_PHYS32_ENTRY) note"
  log "kernel done: $(stat -c %s "$out/vmlinux") bytes"
}
