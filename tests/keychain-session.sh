#!/bin/sh
# Runs a command with a Secret Service of its own, inside a private D-Bus session:
#   dbus-run-session -- sh keychain-session.sh DIR COMMAND [ARGUMENTS...]
# DIR (emptied first) holds the unlocked gnome-keyring's files; the daemon is stopped after.
set -eu
home=$1
shift
rm -rf "$home"
mkdir -m 700 -p "$home"
export HOME="$home" XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home"
printf pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null
# Also proves the Secret Service is on the bus before the command starts.
pid=$(dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus / \
    org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets |
    awk '{ print $2 }')
status=0
"$@" || status=$?
kill "$pid" 2>/dev/null || true
exit "$status"
