#!/bin/sh
# The Debian packages the test suite uses beyond Node.js: openssh-server (the SFTP tests start a
# private sshd on 127.0.0.1, never the system one), openssh-client (ssh-keygen), and for the
# mount tests libfuse3-dev (the mount's binding, native/fuse3, builds against it), fuse3
# (fusermount3) and sqlite3; dconf-cli,
# dconf-service and dbus-daemon (dbus-run-session) for the dconf test; libglib2.0-bin (gdbus) for
# the service's desktop notifications. Installs only what is missing; as root directly, else
# through sudo.
set -eu
missing=""
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
[ -f /usr/include/fuse3/fuse_lowlevel.h ] || missing="$missing libfuse3-dev"
command -v fusermount3 >/dev/null 2>&1 || missing="$missing fuse3"
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
command -v dconf >/dev/null 2>&1 || missing="$missing dconf-cli"
[ -x /usr/libexec/dconf-service ] || missing="$missing dconf-service"
command -v dbus-run-session >/dev/null 2>&1 || missing="$missing dbus-daemon"
command -v gdbus >/dev/null 2>&1 || missing="$missing libglib2.0-bin"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
