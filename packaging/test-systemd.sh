#!/usr/bin/env bash
# Runs the Debian package's service under a real systemd, without changing this machine:
#
#   packaging/test-systemd.sh                 # build the package, then check it
#   packaging/test-systemd.sh --deb FILE.deb  # check a package built before
#
# systemd boots as PID 1 of fresh mount, PID, network and UTS namespaces, on a throwaway
# overlay of this machine's root: every write (dpkg, the journal, the daemon's state) goes
# to a tmpfs that disappears at the end, and only basic.target starts, so none of this
# machine's own services run. (Booting systemd in namespaces *without* such an overlay
# would run systemd-tmpfiles against this machine's real /tmp and empty it.) Then, as an
# administrator would:
#
#   1. dpkg -i: the postinst creates the user and state directory, enables and starts the
#      unit (Type=notify: "active" means the daemon said READY=1 to systemd);
#   2. a SIPp call: the daemon answers and sends the menu's audio (A-law, not silence);
#   3. the watchdog: with WatchdogSec=3 in a drop-in, the service stays up, unrestarted,
#      for 10 s while systemd's watchdog timestamp keeps moving;
#   4. the sandbox: the daemon wrote its state under /var/lib/ugyelet as user ugyelet, and
#      the journal has no seccomp kill, no denied write, no watchdog timeout;
#   5. systemctl reload: the same process reloads its dial plan;
#   6. systemctl stop: it drains and exits 0 (Result=success);
#   7. dpkg --purge removes the state.
#
# Needs root, unshare and nsenter (util-linux), systemd installed (it need not be this
# machine's init), sipp, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "test-systemd: FAIL: $*" >&2
    if [ -n "${ns_pid:-}" ]; then
        echo "--- journal of ugyelet.service" >&2
        in_ns journalctl -u ugyelet --no-pager -n 60 >&2 || true
    fi
    exit 1
}
say() { echo "test-systemd: $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (namespaces, dpkg inside the overlay)"
for tool in unshare nsenter sipp curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing"
done
[ -x /usr/lib/systemd/systemd ] || fail "systemd is not installed (/usr/lib/systemd/systemd)"

deb=
if [ "${1:-}" = "--deb" ]; then
    deb=$2
else
    deb=$(packaging/build-deb.sh | tail -n 1)
fi
[ -f "$deb" ] || fail "no package at $deb"
say "package $deb"

work=$(mktemp -d /tmp/ugyelet-systemd.XXXXXX)
ns_pid=
unshare_pid=
cleanup() {
    # Killing the namespace's PID 1 ends every process in it; the mounts go with it.
    [ -n "$ns_pid" ] && kill -KILL "$ns_pid" 2>/dev/null || true
    [ -n "$unshare_pid" ] && wait "$unshare_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cp "$deb" "$work/ugyelet.deb"
mkdir -p "$work/layers" "$work/root"
# PID 1 of the new namespaces: the overlay root, then systemd.
cat >"$work/boot.sh" <<'EOF'
set -e
W=$1
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$W/layers"
mkdir -p "$W/layers/upper" "$W/layers/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/layers/upper,workdir=$W/layers/work" "$W/root"
R=$W/root
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
cp "$W/ugyelet.deb" "$R/root/ugyelet.deb"
hostname ugyelet-systemd-test
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
cd /
exec env -i container=ugyelet-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /usr/lib/systemd/systemd --unit=basic.target
EOF
unshare --pid --fork --mount --net --uts bash "$work/boot.sh" "$work" >"$work/boot.log" 2>&1 &
unshare_pid=$!

# Commands in the booted system (its root, namespaces and network); net_ns: only its
# network, with this machine's files (sipp, its scenarios, python3).
in_ns() { nsenter -t "$ns_pid" -m -p -n -u -r -w "$@"; }
net_ns() { nsenter -t "$ns_pid" -n "$@"; }

for _ in $(seq 100); do
    ns_pid=$(pgrep -P "$unshare_pid" || true)
    [ -n "$ns_pid" ] && in_ns systemctl is-active basic.target >/dev/null 2>&1 && break
    sleep 0.2
done
in_ns systemctl is-active basic.target >/dev/null 2>&1 ||
    fail "systemd did not reach basic.target: $(cat "$work/boot.log")"
say "systemd $(in_ns systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1 of the test system"

# ---------------------------------------------------------------- 1. install and start
# This machine may forbid starting services from maintainer scripts (policy-rc.d, as in
# container images); the test system is a server that allows it.
in_ns rm -f /usr/sbin/policy-rc.d
in_ns mkdir -p /etc/systemd/system/ugyelet.service.d
printf '[Service]\nWatchdogSec=3\n' | in_ns tee /etc/systemd/system/ugyelet.service.d/watchdog.conf >/dev/null
in_ns dpkg -i /root/ugyelet.deb >"$work/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$work/dpkg.log")"
for _ in $(seq 100); do
    state=$(in_ns systemctl is-active ugyelet || true)
    [ "$state" = active ] || [ "$state" = failed ] && break
    sleep 0.2
done
[ "$state" = active ] || fail "ugyelet.service is $state after install"
main_pid=$(in_ns systemctl show -p MainPID --value ugyelet)
user=$(in_ns ps -o user= -p "$main_pid")
[ "$user" = ugyelet ] || fail "the daemon runs as $user"
say "installed and started by dpkg: active (READY=1), MainPID $main_pid, user $user"

# ---------------------------------------------------------------- 2. a call
sink_port=20000
net_ns python3 - "$sink_port" >"$work/sink.txt" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.5)
packets, pcma, loud = 0, 0, 0
end = time.time() + 12
while time.time() < end:
    try:
        data = s.recv(2048)
    except socket.timeout:
        continue
    if len(data) < 12 or data[0] >> 6 != 2:
        continue
    packets += 1
    if data[1] & 0x7F == 8:
        pcma += 1
        # A-law silence is 0xD5/0x55; speech moves far from it.
        if sum(1 for b in data[12:] if b not in (0xD5, 0x55, 0xD4, 0x54)) > 40:
            loud += 1
print(packets, pcma, loud)
EOF
sink=$!
sleep 0.5
net_ns sipp -sf tests/sipp/caller_listens_to_menu_then_hangs_up.xml -m 1 -d 8000 \
    -key rtp_sink_port "$sink_port" -i 127.0.0.1 -p 15062 -timeout 30s -timeout_error \
    -trace_err -error_file "$work/sipp_errors.log" 127.0.0.1:5060 >"$work/sipp.out" 2>&1 ||
    fail "the SIPp call failed: $(tail -n 20 "$work/sipp.out") $(cat "$work/sipp_errors.log" 2>/dev/null)"
wait "$sink"
read -r packets pcma loud <"$work/sink.txt"
[ "$pcma" -ge 300 ] || fail "the caller got $packets RTP packets, $pcma PCMA, over 8 s"
[ "$loud" -ge 100 ] || fail "the caller's audio is silence: $loud of $pcma packets carry sound"
say "a call: answered, $pcma A-law packets to the caller, $loud of them speech"

# ---------------------------------------------------------------- 3. the watchdog
wd1=$(in_ns systemctl show -p WatchdogTimestampMonotonic --value ugyelet)
sleep 10
wd2=$(in_ns systemctl show -p WatchdogTimestampMonotonic --value ugyelet)
[ "$(in_ns systemctl is-active ugyelet)" = active ] || fail "not active after 10 s"
[ "$(in_ns systemctl show -p NRestarts --value ugyelet)" = 0 ] || fail "systemd restarted it"
[ "$(in_ns systemctl show -p MainPID --value ugyelet)" = "$main_pid" ] || fail "MainPID changed"
[ "$wd2" -gt "$wd1" ] || fail "no watchdog ping reached systemd in 10 s ($wd1, $wd2)"
say "watchdog: pinged within WatchdogSec=3 for 10 s, no restart"

# ---------------------------------------------------------------- 4. the sandbox
in_ns test -d /var/lib/ugyelet || fail "no state directory"
owner=$(in_ns stat -c %U /var/lib/ugyelet/outbox.db 2>/dev/null || echo none)
[ "$owner" = ugyelet ] || fail "/var/lib/ugyelet/outbox.db owned by $owner"
metrics=$(net_ns curl -sf http://127.0.0.1:8080/metrics) || fail "no /metrics on 127.0.0.1:8080"
# The caller hangs up in the menu: abandoned_menu while the line is staffed, closed
# outside the staffed hours (the shipped plan and calendar, at the time the test runs).
grep -Eq '^ugyelet_calls_total\{outcome="(abandoned_menu|closed)"\} 1$' <<<"$metrics" ||
    fail "the call is not counted: $(grep '^ugyelet_calls_total' <<<"$metrics")"
in_ns journalctl -u ugyelet --no-pager >"$work/journal.txt"
if grep -Ei 'SIGSYS|bad system call|permission denied|read-only file system|watchdog timeout|core-dump' "$work/journal.txt" >"$work/bad.txt"; then
    fail "the journal shows the sandbox in the way: $(cat "$work/bad.txt")"
fi
say "sandbox: state written as ugyelet, call counted in /metrics, nothing denied in the journal"

# ---------------------------------------------------------------- 5. reload
in_ns systemctl reload ugyelet || fail "systemctl reload"
for _ in $(seq 50); do
    in_ns journalctl -u ugyelet --no-pager | grep -q 'dial plan reloaded' && break
    sleep 0.2
done
in_ns journalctl -u ugyelet --no-pager | grep -q 'dial plan reloaded' || fail "no reload in the journal"
[ "$(in_ns systemctl show -p MainPID --value ugyelet)" = "$main_pid" ] || fail "reload restarted the process"
say "reload: the dial plan reloaded in the same process"

# ---------------------------------------------------------------- 6. stop
in_ns systemctl stop ugyelet || fail "systemctl stop"
result=$(in_ns systemctl show -p Result --value ugyelet)
status=$(in_ns systemctl show -p ExecMainStatus --value ugyelet)
[ "$result" = success ] && [ "$status" = 0 ] || fail "stop: Result=$result, exit status $status"
say "stop: drained and exited 0"

# ---------------------------------------------------------------- 7. purge
in_ns dpkg --purge ugyelet >"$work/purge.log" 2>&1 || fail "dpkg --purge: $(cat "$work/purge.log")"
in_ns test ! -e /var/lib/ugyelet || fail "purge left /var/lib/ugyelet"
say "purge: state removed"
say "ok"
