#!/bin/sh
# images/guest-agent/build.sh OUT: builds the guest agent (hearth-guest-agent.c, no dependency but
# the C library) into OUT as a static program. Used by images/rootfs.sh for the guest image and by
# the guest agent's tests for the host.
set -eu
exec gcc -static -Os -s -Wall -Wextra -o "$1" "$(dirname "$0")/hearth-guest-agent.c"
