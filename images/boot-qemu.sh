#!/usr/bin/env bash
# images/boot-qemu.sh - self-check of the images from images/build.sh.
#
# Usage: sudo images/boot-qemu.sh [OUTDIR]
#   OUTDIR defaults to "$(images/build.sh --print-dir)".
# Env: BOOT_TIMEOUT (s, default 60), KEEP=1 keeps the scratch dir,
#      RTC=on gives the board a CMOS RTC (see README: saves ~1 s of boot).
#
# Boots the kernel + rootfs with QEMU "-M microvm" configured like a
# Firecracker VM (no ACPI, no option ROMs, no RTC, i8042 for Ctrl-Alt-Del,
# virtio-mmio block + net, TCG) inside a network namespace it creates
# (bridge br0 172.30.0.1/24 + one TAP per VM; nothing is configured outside
# the namespace), and checks:
#   1. VM a boots: HEARTH-GUEST-READY on ttyS0 (prints launch->ready time),
#      ping, GET / (hostname + marker), /cgi-bin/write + read, bad names -> 400
#   2. Ctrl-Alt-Del (monitor "sendkey ctrl-alt-delete") -> guest reboots ->
#      qemu exits (reboot=k + -no-reboot, as Firecracker exits)
#   3. VM a (same disk, rebooted) and VM b (fresh copy) run side by side:
#      a still has its file, b does not (disks are not shared)
#   4. GET /cgi-bin/reboot on a -> qemu exits
# Exits non-zero if a check fails. Cleans up (qemu, namespace, temp files)
# on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $EUID -eq 0 ]] || { echo "boot-qemu.sh: must run as root (network namespace, TAP devices)" >&2; exit 1; }
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}

IMG=${1:-}
[[ -n $IMG ]] || IMG=$("$HERE/build.sh" --print-dir)
IMG=$(cd "$IMG" && pwd)
for f in vmlinux rootfs.ext4 manifest.json .complete; do
  [[ -e $IMG/$f ]] || { echo "boot-qemu.sh: $IMG/$f missing (run images/build.sh)" >&2; exit 1; }
done

if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "boot-qemu.sh: installing qemu-system-x86" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends qemu-system-x86 >&2
fi
BB=/bin/busybox   # host-side ping/wget (busybox-static, installed by build.sh)
[[ -x $BB ]] || { echo "boot-qemu.sh: $BB missing (apt-get install busybox-static)" >&2; exit 1; }

NS=hearth-img-$$
HOST_IP=172.30.0.1
WORK=$(mktemp -d /tmp/hearth-boot.XXXXXX)
declare -A QPID=()
FAILS=0

cleanup() {
  local t p
  for t in "${!QPID[@]}"; do
    p=${QPID[$t]}
    if kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  # anything else still running in the namespace was started by us
  for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "scratch kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN{printf "%.2f", a-b}'; }
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
nsx() { ip netns exec "$NS" "$@"; }

# ---------------------------------------------------------------- network
ip netns add "$NS"
nsx ip link set lo up
nsx ip link add br0 type bridge
nsx ip addr add "$HOST_IP/24" dev br0
nsx ip link set br0 up
for tap in tap0 tap1; do
  nsx ip tuntap add dev "$tap" mode tap
  nsx ip link set "$tap" master br0
  nsx ip link set "$tap" up
done

# ------------------------------------------------------------------- qemu
# TCG: hand the guest the TSC rate, or its PIT calibration can fail under load
TSC_KHZ=$(awk -F: '/^cpu MHz/{printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
BOOT_ARGS="console=ttyS0 reboot=k panic=1 root=/dev/vda rw i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"

# launch TAG DISK GUEST_IP TAP : starts qemu inside the namespace (QPID[TAG])
launch() {
  local tag=$1 disk=$2 ip=$3 tap=$4 mac
  mac=$(printf '06:00:%02X:%02X:%02X:%02X' ${ip//./ })   # Firecracker convention
  : > "$WORK/$tag.serial"
  rm -f "$WORK/$tag.mon.in" "$WORK/$tag.mon.out"
  mkfifo "$WORK/$tag.mon.in" "$WORK/$tag.mon.out"
  # "ip netns exec" execs qemu, so $! is qemu's pid
  ip netns exec "$NS" qemu-system-x86_64 \
    -M "microvm,x-option-roms=off,rtc=${RTC:-on},acpi=off" -accel tcg -cpu max -m 256 -smp 1 \
    -nodefaults -no-user-config -display none -no-reboot -device i8042 \
    -chardev file,id=ser0,path="$WORK/$tag.serial" -serial chardev:ser0 \
    -chardev pipe,id=mon0,path="$WORK/$tag.mon" -mon chardev=mon0,mode=readline \
    -kernel "$IMG/vmlinux" \
    -append "$BOOT_ARGS ip=$ip::$HOST_IP:255.255.255.0:vm-$tag:eth0:off tsc_early_khz=$TSC_KHZ" \
    -drive id=root,file="$disk",format=raw,if=none \
    -device virtio-blk-device,drive=root \
    -netdev tap,id=net0,ifname="$tap",script=no,downscript=no \
    -device virtio-net-device,netdev=net0,mac="$mac" \
    </dev/null >"$WORK/$tag.qemu.log" 2>&1 &
  QPID[$tag]=$!
  # drain the monitor's output so it never blocks
  cat "$WORK/$tag.mon.out" > "$WORK/$tag.mon.log" 2>/dev/null &
}
# monitor TAG CMD : one HMP command (only while that qemu runs: a FIFO
# without a reader would block the writer)
monitor() {
  kill -0 "${QPID[$1]}" 2>/dev/null || return 0
  timeout 5 bash -c 'echo "$1" > "$2"' _ "$2" "$WORK/$1.mon.in" || true
}
# wait_ready TAG T0 : waits for the marker; prints seconds since T0
wait_ready() {
  local tag=$1 t0=$2 deadline=$(( $(date +%s) + BOOT_TIMEOUT ))
  while (( $(date +%s) < deadline )); do
    if grep -q HEARTH-GUEST-READY "$WORK/$tag.serial"; then since "$t0"; return 0; fi
    if ! kill -0 "${QPID[$tag]}" 2>/dev/null; then
      echo "qemu $tag exited early:" >&2; cat "$WORK/$tag.qemu.log" >&2; tail -n 30 "$WORK/$tag.serial" >&2; return 1
    fi
    sleep 0.02
  done
  echo "no HEARTH-GUEST-READY from $tag within ${BOOT_TIMEOUT}s; serial tail:" >&2
  tail -n 30 "$WORK/$tag.serial" >&2
  return 1
}
# wait_exit TAG SECONDS : 0 if qemu exited in time
wait_exit() {
  local p=${QPID[$1]} i
  for ((i = 0; i < $2 * 20; i++)); do
    kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null || true; return 0; }
    sleep 0.05
  done
  return 1
}
ping_guest() { nsx "$BB" ping -c 1 -W 2 "$1" >/dev/null 2>&1; }
# http IP PATH -> "CODE BODY..." (busybox 1.35 "wget -T" segfaults: use
# timeout; busybox wget does not save the body of a non-2xx answer)
http() {
  local out code
  out=$(nsx timeout 10 "$BB" wget -S -O "$WORK/body" "http://$1$2" 2>&1) || true
  # the status line: "  HTTP/1.1 200 OK" (-S) or "wget: server returned error: HTTP/1.1 404 ..."
  code=$(printf '%s\n' "$out" | grep -o 'HTTP/1\.[01] [0-9][0-9][0-9]' | tail -n 1 | cut -d' ' -f2)
  echo "${code:-0} $( [[ -f $WORK/body ]] && tr '\n' ' ' < "$WORK/body")"
  rm -f "$WORK/body"
}
expect_http() { # DESC IP PATH CODE REGEX
  local r; r=$(http "$2" "$3")
  if [[ ${r%% *} == "$4" && $r =~ $5 ]]; then ok "$1 -> ${r:0:90}"; else fail "$1: got '${r:0:160}', want $4 /$5/"; fi
}

echo "qemu: $(qemu-system-x86_64 --version | head -1)"
echo "images: $IMG"
echo "        vmlinux $(stat -c %s "$IMG/vmlinux") bytes, rootfs.ext4 $(stat -c %s "$IMG/rootfs.ext4") bytes ($(du -k "$IMG/rootfs.ext4" | cut -f1) KiB allocated)"
cp --sparse=always "$IMG/rootfs.ext4" "$WORK/a.ext4"
cp --sparse=always "$IMG/rootfs.ext4" "$WORK/b.ext4"

# 1. cold boot
T0=$(now)
launch a "$WORK/a.ext4" 172.30.0.2 tap0
if READY=$(wait_ready a "$T0"); then
  ok "vm a: launch -> HEARTH-GUEST-READY in ${READY}s ($(grep -m1 -a -o 'HEARTH-GUEST-READY.*' "$WORK/a.serial" | tr -d '\r'))"
  T1=$(now); until ping_guest 172.30.0.2; do (( $(date +%s) - ${T1%.*} < 10 )) || break; done
  if ping_guest 172.30.0.2; then ok "vm a: ping 172.30.0.2 (first reply $(since "$T0")s after launch)"; else fail "vm a: no ping reply"; fi
  expect_http "vm a: GET /" 172.30.0.2 / 200 'HEARTH-GUEST-OK host=vm-a '
  expect_http "vm a: write?name=probe1" 172.30.0.2 '/cgi-bin/write?name=probe1' 200 'probe1 written-by=vm-a'
  expect_http "vm a: read?name=probe1" 172.30.0.2 '/cgi-bin/read?name=probe1' 200 'probe1 written-by=vm-a'
  expect_http "vm a: read?name=nothere" 172.30.0.2 '/cgi-bin/read?name=nothere' 404 ''
  expect_http "vm a: write?name=../etc/x" 172.30.0.2 '/cgi-bin/write?name=../etc/x' 400 ''
  expect_http "vm a: write?name=Probe" 172.30.0.2 '/cgi-bin/write?name=Probe' 400 ''
  echo "     qemu rss $(awk '/VmRSS/{printf "%d MiB", $2/1024}' "/proc/${QPID[a]}/status")"
  # 2. Ctrl-Alt-Del
  T1=$(now)
  monitor a "sendkey ctrl-alt-delete"
  if wait_exit a 20; then ok "vm a: Ctrl-Alt-Del -> guest reboot -> qemu exited after $(since "$T1")s"
  else fail "vm a: qemu still running 20s after Ctrl-Alt-Del"; monitor a quit; wait_exit a 5 || true; fi
else
  fail "vm a: did not boot"
fi

# 3. two VMs side by side: a on its old disk, b on a fresh copy
T0=$(now)
launch a2 "$WORK/a.ext4" 172.30.0.2 tap0
launch b "$WORK/b.ext4" 172.30.0.3 tap1
for t in a2 b; do
  if r=$(wait_ready "$t" "$T0"); then ok "vm $t: ready ${r}s after the concurrent launch"; else fail "vm $t: did not boot"; fi
done
expect_http "vm a (rebooted, same disk): read?name=probe1" 172.30.0.2 '/cgi-bin/read?name=probe1' 200 'probe1 written-by=vm-a'
expect_http "vm b (own disk): read?name=probe1" 172.30.0.3 '/cgi-bin/read?name=probe1' 404 ''
expect_http "vm b: GET /" 172.30.0.3 / 200 'host=vm-b '
# 4. guest-initiated reboot
T1=$(now)
expect_http "vm a: GET /cgi-bin/reboot" 172.30.0.2 /cgi-bin/reboot 200 rebooting
if wait_exit a2 20; then ok "vm a: /cgi-bin/reboot -> qemu exited after $(since "$T1")s"
else fail "vm a: qemu still running 20s after /cgi-bin/reboot"; fi
monitor b quit; wait_exit b 10 || true

if ((FAILS)); then echo "boot-qemu.sh: $FAILS check(s) FAILED"; exit 1; fi
echo "boot-qemu.sh: all checks passed"
