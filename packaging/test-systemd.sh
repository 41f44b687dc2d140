#!/usr/bin/env bash
# Runs the Debian package's service under a real systemd, without changing this machine:
#
#   packaging/test-systemd.sh                 # build the package, then check it
#   packaging/test-systemd.sh --deb FILE.deb  # check a package built before
#
# systemd boots as PID 1 of fresh mount, PID, network, UTS, IPC and cgroup namespaces, on a
# throwaway overlay of this machine's root: every write (dpkg, the journal, the daemon's
# state) goes to a tmpfs that disappears at the end, and only basic.target starts, so none
# of this machine's own services run. (Booting systemd in namespaces *without* such an
# overlay would run systemd-tmpfiles against this machine's real /tmp and empty it.)
#
# What the kernel shares between namespaces is kept out of its reach, as systemd-nspawn
# does for containers: /proc/sys (sysctls such as fs.protected_regular, binfmt_misc) and
# /sys are read-only, so systemd-sysctl, systemd-binfmt, udev and the kernel-filesystem
# mounts skip themselves; /dev is a tmpfs of its own holding null, zero, full, random,
# urandom, tty and a private devpts, so journald's /dev/log stays inside; the cgroup
# namespace is rooted in a cgroup made for the run (removed afterwards), where systemd
# mounts its own cgroup2; and PID 1 runs without the capabilities that reach the machine
# itself (loading modules, raw I/O, the clock, the kernel log, audit, BPF, ...). The script
# compares the machine's kernel settings, binfmt_misc, /dev and cgroups before and after
# the run and fails if anything changed.
#
# Then, as an administrator would:
#
#   1. dpkg -i: the postinst creates the user and state directory, enables and starts the
#      unit (Type=notify: "active" means the daemon said READY=1 to systemd);
#   2. a SIPp call: the daemon answers and sends the menu's audio (A-law, not silence);
#   3. the watchdog: with WatchdogSec=3 in a drop-in, the service stays up, unrestarted,
#      for 10 s while systemd's watchdog timestamp keeps moving;
#   4. the sandbox: the daemon wrote its state under /var/lib/ugyelet as user ugyelet, and
#      the journal has no seccomp kill, no denied write, no watchdog timeout;
#   5. systemctl reload: the same process reloads its dial plan;
#   6. the office's own CA: added to /usr/local/share/ca-certificates, update-ca-certificates,
#      an HTTPS SMS gateway and an SMTPS (implicit TLS) server with certificates it issued
#      configured in a drop-in, systemctl restart; during a call a form goes out by SMS and
#      by email, both over TLS that the sandboxed daemon verified against /etc/ssl/certs;
#   7. systemctl stop: it drains and exits 0 (Result=success);
#   8. dpkg --purge removes the state.
#
# Needs root, unshare, nsenter and setpriv (util-linux), systemd installed (it need not be
# this machine's init), a cgroup2 hierarchy (alone or beside v1), sipp, curl, openssl,
# python3 with aiosmtpd (Debian's python3-aiosmtpd) and ca-certificates.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "test-systemd: FAIL: $*" >&2
    keep=1
    if [ -n "${ns_pid:-}" ]; then
        echo "--- journal of ugyelet.service" >&2
        in_ns journalctl -u ugyelet --no-pager -n 60 >&2 || true
    fi
    exit 1
}
say() { echo "test-systemd: $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (namespaces, dpkg inside the overlay)"
for tool in unshare nsenter setpriv sipp curl openssl findmnt; do
    command -v "$tool" >/dev/null || fail "$tool is missing"
done
[ -x /usr/lib/systemd/systemd ] || fail "systemd is not installed (/usr/lib/systemd/systemd)"
# Debian's Python, which has aiosmtpd (another python3 may come first on PATH).
py=/usr/bin/python3
"$py" -c 'import aiosmtpd' 2>/dev/null || fail "aiosmtpd is missing (apt-get install python3-aiosmtpd)"
[ -f /etc/ca-certificates.conf ] || fail "ca-certificates is not installed"
cg2=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
[ -n "$cg2" ] || fail "no cgroup2 hierarchy is mounted"

deb=
if [ "${1:-}" = "--deb" ]; then
    deb=$2
else
    deb=$(packaging/build-deb.sh | tail -n 1)
fi
[ -f "$deb" ] || fail "no package at $deb"
say "package $deb"

# What the booted system must not change on this machine: every kernel setting that the
# sysctl.d files (systemd's, the distribution's) would set, the settings PID 1 writes
# itself, binfmt_misc, device nodes pointing into a /run (journald's /dev/log,
# /dev/initctl), the top two levels of every cgroup hierarchy, and the loaded modules.
host_state() {
    local keys k
    keys=$(cat /usr/lib/sysctl.d/*.conf /etc/sysctl.d/*.conf /etc/sysctl.conf 2>/dev/null |
        sed -n 's/^[[:space:]]*-\{0,1\}\([a-z][a-z0-9_.]*\)[[:space:]]*=.*/\1/p' | sort -u)
    for k in $keys kernel.core_pattern kernel.pid_max fs.file-max fs.nr_open; do
        echo "sysctl $k = $(sysctl -n "$k" 2>/dev/null || echo '(none)')"
    done
    echo "binfmt_misc mounted: $(findmnt -rn /proc/sys/fs/binfmt_misc >/dev/null && echo yes || echo no)"
    echo "binfmt_misc entries: $(ls -A /proc/sys/fs/binfmt_misc 2>/dev/null | tr '\n' ' ')"
    echo "/dev links into /run: $(find /dev -maxdepth 1 -lname '/run/*' 2>/dev/null | sort | tr '\n' ' ')"
    echo "cgroups: $(find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d 2>/dev/null | sort | tr '\n' ' ')"
    echo "modules: $(cut -d' ' -f1 /proc/modules 2>/dev/null | sort | tr '\n' ' ')"
}

work=$(mktemp -d /tmp/ugyelet-systemd.XXXXXX)
[ -d "$work" ] || fail "mktemp made no directory"
host_state >"$work/host-before.txt"
ns_pid=
unshare_pid=
cg="$cg2/ugyelet-systemd-test.$$"
teardown() {
    # Killing the namespace's PID 1 ends every process in it; the mounts go with it. The
    # peers this script started in the test system's network with this machine's files
    # (SIPp, the gateway and mail servers) are not in its PID namespace: they go by
    # their network namespace.
    if [ -n "$ns_pid" ]; then
        local netns p
        netns=$(readlink "/proc/$ns_pid/ns/net" 2>/dev/null || true)
        kill -KILL "$ns_pid" 2>/dev/null || true
        if [ -n "$netns" ]; then
            for p in /proc/[0-9]*; do
                [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$netns" ] && kill -KILL "${p#/proc/}" 2>/dev/null
            done
        fi
    fi
    [ -n "$unshare_pid" ] && wait "$unshare_pid" 2>/dev/null || true
    ns_pid=
    unshare_pid=
    # The cgroups systemd made under the run's own, deepest first, once their processes
    # are gone.
    if [ -d "$cg" ]; then
        for _ in $(seq 50); do
            find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [ -d "$cg" ] || break
            sleep 0.1
        done
    fi
}
keep=
cleanup() {
    teardown
    if [ -n "$keep" ]; then
        echo "test-systemd: files of the run kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

cp "$deb" "$work/ugyelet.deb"
mkdir -p "$work/layers" "$work/root"
# PID 1 of the new namespaces: the overlay root, read-only kernel interfaces, a private
# /dev, then systemd without the capabilities in $2.
cat >"$work/boot.sh" <<'BOOT'
set -e
W=$1
DROP=$2
[ -d "$W/root" ] || exit 1
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$W/layers"
mkdir -p "$W/layers/upper" "$W/layers/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/layers/upper,workdir=$W/layers/work" "$W/root"
R=$W/root
# /proc of the new PID namespace; its sys/ (kernel settings, most of them global) and the
# sysrq trigger read-only.
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
for p in sys sysrq-trigger; do
    [ -e "$R/proc/$p" ] || continue
    mount --bind "$R/proc/$p" "$R/proc/$p"
    mount -o remount,bind,ro,nosuid,nodev,noexec "$R/proc/$p"
done
# A sysfs of the new network namespace, read-only, and on it the cgroup namespace's own
# cgroup2, which systemd manages.
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
# /dev: only the devices every system has, and a pty instance of its own.
mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs "$R/dev"
mknod -m 0666 "$R/dev/null" c 1 3
mknod -m 0666 "$R/dev/zero" c 1 5
mknod -m 0666 "$R/dev/full" c 1 7
mknod -m 0666 "$R/dev/random" c 1 8
mknod -m 0666 "$R/dev/urandom" c 1 9
mknod -m 0666 "$R/dev/tty" c 5 0
mkdir -m 0755 "$R/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mkdir -m 1777 "$R/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
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
    setpriv --bounding-set "$DROP" /usr/lib/systemd/systemd --unit=basic.target
BOOT
# Capabilities no process of the test system gets: those that act on the machine rather
# than on namespaces (what systemd-nspawn leaves out too), and the immutable flag.
drop=-sys_module,-sys_rawio,-sys_time,-syslog,-mac_admin,-mac_override,-wake_alarm
drop=$drop,-block_suspend,-audit_control,-audit_read,-bpf,-perfmon,-checkpoint_restore
drop=$drop,-sys_pacct,-linux_immutable
mkdir "$cg"
# The shell that becomes the namespaces' parent moves into the run's cgroup first, so
# that cgroup is the root of the new cgroup namespace.
(
    echo "$BASHPID" >"$cg/cgroup.procs"
    exec unshare --pid --fork --mount --net --uts --ipc --cgroup \
        bash "$work/boot.sh" "$work" "$drop"
) >"$work/boot.log" 2>&1 &
unshare_pid=$!

# Commands in the booted system (its root and namespaces, without the dropped
# capabilities); net_ns: only its network, with this machine's files (sipp, its scenarios,
# python3).
in_ns() { nsenter -t "$ns_pid" -m -p -n -u -i -C -r -w setpriv --bounding-set "$drop" "$@"; }
net_ns() { nsenter -t "$ns_pid" -n "$@"; }

for _ in $(seq 100); do
    ns_pid=$(pgrep -P "$unshare_pid" || true)
    [ -n "$ns_pid" ] && in_ns systemctl is-active basic.target >/dev/null 2>&1 && break
    sleep 0.2
done
[ -n "$ns_pid" ] && in_ns systemctl is-active basic.target >/dev/null 2>&1 ||
    fail "systemd did not reach basic.target: $(cat "$work/boot.log")"
say "systemd $(in_ns systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1 of the test system"
test_netns=$(readlink "/proc/$ns_pid/ns/net")
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$ns_pid/status")
# Bit 16 is CAP_SYS_MODULE.
[ $((0x$bnd >> 16 & 1)) -eq 0 ] || fail "PID 1 may still load kernel modules (CapBnd $bnd)"
in_ns sh -c ': >/proc/sys/kernel/core_pattern' 2>/dev/null && fail "/proc/sys is writable in the test system"
in_ns sh -c ': >/sys/kernel/uevent_helper' 2>/dev/null && fail "/sys is writable in the test system"
in_ns test ! -e /dev/sda -a ! -e /dev/vda -a ! -e /dev/kmsg || fail "the test system sees this machine's devices"
say "confined: /proc/sys and /sys read-only, own /dev, cgroup namespace at $cg, capability bounding set $bnd"

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

# ---------------------------------------------------------------- 6. the office's own CA
# The SMS gateway and the mail server have certificates from the office's CA. The
# administrator adds the CA to the system store and configures both (here in a drop-in),
# then restarts; the sandboxed daemon must trust them through /etc/ssl/certs.
pki=$work/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Budaorsi Hivatal teszt CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" >/dev/null 2>&1 || fail "openssl: test CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=sms.hivatal.test" \
    -keyout "$pki/server.key" -out "$pki/server.csr" >/dev/null 2>&1 || fail "openssl: server key"
printf 'subjectAltName=DNS:sms.hivatal.test,DNS:mail.hivatal.test\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$pki/server.ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$pki/server.ext" -out "$pki/server.crt" >/dev/null 2>&1 || fail "openssl: server certificate"
# The servers' names, as the office's DNS would give them.
echo "127.0.0.1 sms.hivatal.test mail.hivatal.test" | in_ns sh -c 'cat >>/etc/hosts'
in_ns sh -c 'cat >/usr/local/share/ca-certificates/hivatal-ca.crt' <"$pki/ca.crt"
in_ns update-ca-certificates >"$work/update-ca.log" 2>&1 || fail "update-ca-certificates: $(cat "$work/update-ca.log")"
in_ns cat /etc/ssl/certs/ca-certificates.crt | grep -qF "$(sed -n 2p "$pki/ca.crt")" ||
    fail "the CA is not in /etc/ssl/certs/ca-certificates.crt: $(cat "$work/update-ca.log")"

# An HTTPS SMS gateway (Python's http.server in TLS) and an SMTPS server (aiosmtpd,
# implicit TLS on 465), in the test system's network.
: >"$work/gateway.jsonl"
# nsenter itself (not the net_ns function, whose subshell would be what $! names) becomes
# each server, so `kill` below reaches it; teardown catches any left behind.
nsenter -t "$ns_pid" -n "$py" tests/support/https_gateway.py 127.0.0.1 8443 \
    "$pki/server.crt" "$pki/server.key" "$work/gateway.jsonl" >"$work/gateway.out" 2>&1 &
gateway=$!
mkdir -p "$work/mail"
PYTHONPATH=tests/support nsenter -t "$ns_pid" -n "$py" -m aiosmtpd -n -l 127.0.0.1:465 \
    --smtpscert "$pki/server.crt" --smtpskey "$pki/server.key" -c smtp_sink.Saver "$work/mail" \
    >"$work/smtp.out" 2>&1 &
smtp=$!
in_ns sh -c 'cat >/etc/systemd/system/ugyelet.service.d/notify.conf' <<'CONF'
[Service]
Environment=UGYELET_NOTIFY__SMS__KIND=generic
Environment=UGYELET_NOTIFY__SMS__URL=https://sms.hivatal.test:8443/send
Environment='UGYELET_NOTIFY__SMS__BODY_TEMPLATE={"to":"{to}","text":"{text}","ref":"{id}"}'
Environment=UGYELET_NOTIFY__SMTP__HOST=mail.hivatal.test
Environment=UGYELET_NOTIFY__SMTP__PORT=465
Environment=UGYELET_NOTIFY__SMTP__SECURITY=tls
Environment=UGYELET_NOTIFY__SMTP__FROM=ugyelet@hivatal.test
Environment=UGYELET_NOTIFY__SMTP__OFFICE=ugyfelszolgalat@hivatal.test
CONF
in_ns systemctl daemon-reload
in_ns systemctl restart ugyelet || fail "systemctl restart with the TLS peers configured"
[ "$(in_ns systemctl is-active ugyelet)" = active ] || fail "not active after the restart"

# During a call an operator sends the form by SMS to the caller and by email.
net_ns sipp -sf tests/sipp/caller_listens_to_menu_then_hangs_up.xml -m 1 -d 6000 \
    -key rtp_sink_port 20002 -i 127.0.0.1 -p 15064 -timeout 30s -timeout_error \
    127.0.0.1:5060 >"$work/sipp-tls.out" 2>&1 &
caller=$!
call=
for _ in $(seq 50); do
    call=$(net_ns curl -sf http://127.0.0.1:8080/api/calls | "$py" -c \
        'import json,sys; c=json.load(sys.stdin)["calls"]; print(c[0]["id"] if c else "")' || true)
    [ -n "$call" ] && break
    sleep 0.1
done
[ -n "$call" ] || fail "no call in progress for the forms"
for body in '{"form":"lakcim","channel":"sms","to":"06301234567"}' \
    '{"form":"lakcim","channel":"email","to":"lakos@hivatal.test"}'; do
    net_ns curl -sf -X POST -H 'Content-Type: application/json' -d "$body" \
        "http://127.0.0.1:8080/api/calls/$call/forms" >/dev/null || fail "POST $body"
done
sent=
for _ in $(seq 100); do
    outbox=$(net_ns curl -sf http://127.0.0.1:8080/api/outbox) || true
    sent=$("$py" -c 'import json,sys; print(sorted(m["channel"] for m in json.load(sys.stdin)["messages"] if m["state"] == "sent"))' <<<"$outbox" 2>/dev/null || true)
    [ "$sent" = "['email', 'sms']" ] && break
    sleep 0.2
done
[ "$sent" = "['email', 'sms']" ] || fail "SMS and email not both sent over TLS: $outbox"
wait "$caller" || fail "the SIPp call for the forms failed: $(tail -n 20 "$work/sipp-tls.out")"
"$py" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(not (len(r) == 1 and json.loads(r[0]["body"])["to"] == "+36301234567"))' \
    "$work/gateway.jsonl" || fail "the HTTPS gateway got: $(cat "$work/gateway.jsonl")"
grep -q '"tls": true' "$work"/mail/*.json 2>/dev/null || fail "no mail arrived over TLS: $(ls "$work/mail")"
kill "$gateway" "$smtp" 2>/dev/null || true
wait "$gateway" "$smtp" 2>/dev/null || true
say "the office's CA: added with update-ca-certificates; SMS over HTTPS and email over SMTPS sent by the sandboxed daemon"

# ---------------------------------------------------------------- 7. stop
in_ns systemctl stop ugyelet || fail "systemctl stop"
result=$(in_ns systemctl show -p Result --value ugyelet)
status=$(in_ns systemctl show -p ExecMainStatus --value ugyelet)
[ "$result" = success ] && [ "$status" = 0 ] || fail "stop: Result=$result, exit status $status"
say "stop: drained and exited 0"

# ---------------------------------------------------------------- 8. purge
in_ns dpkg --purge ugyelet >"$work/purge.log" 2>&1 || fail "dpkg --purge: $(cat "$work/purge.log")"
in_ns test ! -e /var/lib/ugyelet || fail "purge left /var/lib/ugyelet"
say "purge: state removed"

# ---------------------------------------------------------------- this machine
teardown
[ ! -e "$cg" ] || fail "the run's cgroup $cg is still there"
for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$test_netns" ] &&
        fail "a process of the run outlived it: $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
done
host_state >"$work/host-after.txt"
diff -u "$work/host-before.txt" "$work/host-after.txt" >"$work/host.diff" ||
    fail "the run changed this machine:
$(cat "$work/host.diff")"
say "this machine: kernel settings, binfmt_misc, /dev, cgroups and modules as before, no process left"
say "ok"
