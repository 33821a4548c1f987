#!/bin/sh
# images/guest-agent/build.sh OUT [GCC-FLAG...]: builds the guest agent (hearth-guest-agent.c, no
# dependency but the C library) into OUT as a static program. Used by images/rootfs.sh for the guest
# image (no flags) and by the guest agent's tests for the host (which may set -DPOLL_MS=...).
set -eu
out=$1
shift
exec gcc -static -Os -s -Wall -Wextra "$@" -o "$out" "$(dirname "$0")/hearth-guest-agent.c"
