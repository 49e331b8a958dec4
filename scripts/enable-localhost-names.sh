#!/bin/sh
# enable-localhost-names.sh - make every *.localhost name resolve to loopback (RFC 6761),
# which S3 Control clients need: they send to <account>.<endpoint host>, so the endpoint
# http://localhost:9000 becomes 123456789012.localhost:9000.
#
# libnss-myhostname answers *.localhost; Debian's package adds `myhostname` to the hosts
# line of /etc/nsswitch.conf when it is installed, but not when the line was edited by
# hand or the package came in before the file. Idempotent; changes nothing when the name
# already resolves.
set -eu
probe=123456789012.localhost
if getent hosts "$probe" >/dev/null 2>&1; then
    exit 0
fi
conf=/etc/nsswitch.conf
if [ -w "$conf" ] && grep -q '^hosts:' "$conf" && ! grep -q '^hosts:.*myhostname' "$conf"; then
    # before dns, so the lookup never leaves the machine
    if grep -q '^hosts:.*[[:space:]]dns' "$conf"; then
        sed -i '/^hosts:/s/[[:space:]]dns/ myhostname dns/' "$conf"
    else
        sed -i '/^hosts:/s/$/ myhostname/' "$conf"
    fi
    echo "enabled myhostname in $conf (*.localhost -> loopback)"
fi
if ! getent hosts "$probe" >/dev/null 2>&1; then
    echo "warning: $probe still does not resolve; add '127.0.0.1 $probe' to /etc/hosts" >&2
fi
