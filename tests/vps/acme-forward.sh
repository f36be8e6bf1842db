#!/bin/bash
# QEMU runs this once per guest connection to the ACME address (guestfwd cmd:), joining
# the connection (stdin/stdout) to Pebble on the host's loopback port $1. A guestfwd to a
# tcp: chardev would carry one connection only.
exec 3<>"/dev/tcp/127.0.0.1/$1"
cat <&3 &
exec cat >&3
