#!/usr/bin/env bash
# Whole-daemon load benchmark: SIPp callers against the release daemon on loopback.
#
#   benches/load.sh                                  # the full run recorded in BENCHMARKS.md
#   benches/load.sh --calls 1000 --hold 30           # one concurrency step
#   benches/load.sh --calls 50 --hold 10 --setup-rates 100 --setup-seconds 3   # smoke test
#
# Needs: cargo, gcc, sipp (Debian sip-tester, built with RTPSTREAM), tcpdump, sox, curl,
# python3, root (tcpdump). Everything stays on 127.0.0.1.
#
# What it does, for every concurrency step N in --calls (default 500,1000,1250):
#   1. starts a fresh daemon (target/release/ugyelet) with a config for load: high per-source
#      rate limits (all calls come from one SIPp), RTP ports 61000-65534, answer delay 0,
#      state in a temp dir, admin API on 127.0.0.1:18080 for /metrics, and the dial plan
#      benches/load/dialplan.toml (greeting, then the menu again and again: the daemon sends
#      prompt or silence frames for the whole call and never hangs up itself);
#   2. starts the reference pacer benches/load/ref_pacer.c (--ref-streams streams of 172-byte
#      packets every 20 ms on absolute deadlines) for the whole step;
#   3. runs SIPp with benches/load/ivr_call.xml: N calls ramped at --ramp calls/s, each
#      offering PCMA, streaming A-law audio (rtp_stream, looped) for --hold seconds, then BYE;
#      --key-at ms after the ACK each caller presses 2 (the RFC 4733 pcap dtmf_2833_2.pcap
#      of sip-tester, play_pcap_audio: needs root); the plan says "back to the main menu"
#      and loops on, and the daemon's "key pressed" log lines are counted;
#   4. once N calls are up, captures for --capture seconds on lo (snaplen 64, only packets
#      from the daemon's RTP ports and the pacer's ports) and samples the daemon's RSS and the
#      CPU time of daemon, SIPp and machine; RSS at idle was read before the first call.
#      The capture filter names both ends (daemon RTP range -> SIPp's media port, pacer ports
#      -> pacer receiver), so RTP of other programs on this machine stays out of it;
#   5. after SIPp ends, reads /metrics (RTP received, lost, late) and stops the daemon;
#      benches/load/rtp_gaps.py turns the capture into inter-arrival gap statistics.
#   With --console-clients K (K > 0) the step's daemon also gets an operators file with one
#   account (konzol) and K web-console clients run for the whole step
#   (benches/load/console_clients.py, Python standard library): each logs in with its own
#   session, times the duty page GET /ugyelet, and holds the live stream GET /esemenyek
#   open, counting its events and bytes; one of them pauses and unpauses the account every
#   5 s, so the streams carry updates (an IVR step changes nothing the console shows). The
#   daemon's idle memory is read once every stream is open. When the capture window begins,
#   load.sh sends the clients SIGUSR1 and each reloads the duty page and runs the
#   knowledge-base searches GET /tudasbazis?q=lakcim, adó, parkolási (404 there: reported
#   as not measured). After SIPp ends the clients are stopped (SIGTERM) and write
#   console.json into the step's directory.
# Then for every step B in --bridged (default none) a fresh daemon gets B bridged calls:
#   1. writes B operator accounts op0001..opB (operators.toml with their MD5 HA1s) and starts
#      one operator SIPp per --ops-per-sipp accounts (benches/load/operator_register.xml
#      with -inf: every account REGISTERs with Digest from its SIPp's address;
#      benches/load/operator_answer.xml as
#      SIPp's out-of-call scenario answers each INVITE of the daemon with PCMA, echoes RTP
#      with -rtp_echo, answers the BYE); waits until all B operators are available;
#   2. starts the reference pacer, then the caller SIPp (benches/load/bridged_call.xml, like
#      ivr_call.xml) with the dial plan benches/load/bridged_dialplan.toml: straight to the
#      operator queue, so every call is offered to an operator at once (wrap-up 0, no
#      overflow wait, keep-alive OPTIONS off for the step);
#   3. once B operators are on a call, captures like an IVR step: the daemon's relayed RTP to
#      the callers, the operators' echo arriving at the daemon, and the pacer; rtp_gaps.py
#      gives the gaps at the callers and the daemon's relay delay (echo in -> caller out);
#   4. after the callers' BYEs, reads /metrics and counts bridged calls in the daemon log.
# Then for every rate R in --setup-rates (default 300,1000,1500,2000) a fresh daemon gets
# R × --setup-seconds short calls (benches/load/setup_call.xml: no caller audio, --setup-hold-ms
# hold) at R calls/s.
# Then for every size N in --burst (default none) a fresh daemon gets N callers dialling at
# the same moment (sipp -users N -m N: N INVITEs back to back) from one address that is
# exempt from the rate limits (a trunk), with the scenario
# tests/sipp/caller_refused_with_503_retries_after_until_answered.xml: a caller refused with
# 503 waits its Retry-After and tries again; an answered one holds --burst-hold-ms, then BYE.
# A call "lost unanswered" is one whose INVITE SIPp gave up retransmitting
# (FailedMaxUDPRetrans). The step records the daemon's /metrics (503s, kernel drops, the
# longest wait in the socket), the kernel's drop counts of the daemon's and SIPp's SIP
# sockets (/proc/net/udp), SIPp's per-message counts and each call's time from its first
# INVITE to its 200 (-trace_rtt). --burst-buffer and --burst-shed-ms set the daemon's
# [sip.udp] receive_buffer_bytes and shed_after_ms for these steps (default: the daemon's).
#
# Artefacts go to --out (default target/bench-load/DATE-TIME); benches/load/report.py DIR
# prints the Markdown tables for BENCHMARKS.md (load.sh runs it at the end).
#
# Options:
#   --calls LIST          concurrency steps, comma separated         (500,1000,1250)
#   --hold S              seconds each call lasts after the ACK       (30)
#   --key-at MS           when each IVR caller presses 2 (RFC 4733), ms after the ACK;
#                         half the hold if that is shorter            (9000)
#   --ramp R              IVR call attempts per second                (100)
#   --capture S           capture window at full concurrency         (10)
#   --ref-streams K       streams of the reference pacer (<= 1000)    (200)
#   --console-clients K   web-console clients during each IVR step; 0 = none (0)
#   --bridged LIST        bridged-call steps (callers <-> SIPp operators), comma
#                         separated; "" skips                         ("")
#   --ops-per-sipp K      operators per operator SIPp process (each has one RTP echo
#                         socket; at 200 a few packets overflow it here) (100)
#   --setup-rates LIST    call-setup rates, comma separated; "" skips (300,1000,1500,2000)
#   --setup-seconds S     length of each setup-rate run               (10)
#   --setup-hold-ms MS    hold of a setup-rate call                   (500)
#   --burst LIST          burst sizes (callers dialling at once), comma separated; "" skips ("")
#   --burst-hold-ms MS    hold of an answered burst call              (10000)
#   --burst-buffer BYTES  [sip.udp] receive_buffer_bytes of the burst steps (daemon default)
#   --burst-shed-ms MS    [sip.udp] shed_after_ms of the burst steps; 0 never refuses (default)
#   --out DIR             where the artefacts go
#   --no-build            use the existing target/release/ugyelet
#   --keep-captures       keep the pcap files (about 5 MB per 1000 calls and second)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HERE=$REPO/benches/load

CALLS=500,1000,1250
BRIDGED=
OPS_PER_SIPP=100
KEY_AT=9000
HOLD=30
RAMP=100
CAPTURE=10
REF_STREAMS=200
SETUP_RATES=300,1000,1500,2000
SETUP_SECONDS=10
SETUP_HOLD_MS=500
BURST=
BURST_HOLD_MS=10000
BURST_BUFFER=
BURST_SHED_MS=
OUT=$REPO/target/bench-load/$(date +%Y%m%d-%H%M%S)
BUILD=1
KEEP_CAPTURES=0
CONSOLE_CLIENTS=0

while [ $# -gt 0 ]; do
    case "$1" in
        --calls) CALLS=$2; shift 2 ;;
        --bridged) BRIDGED=$2; shift 2 ;;
        --ops-per-sipp) OPS_PER_SIPP=$2; shift 2 ;;
        --key-at) KEY_AT=$2; shift 2 ;;
        --hold) HOLD=$2; shift 2 ;;
        --ramp) RAMP=$2; shift 2 ;;
        --capture) CAPTURE=$2; shift 2 ;;
        --ref-streams) REF_STREAMS=$2; shift 2 ;;
        --console-clients) CONSOLE_CLIENTS=$2; shift 2 ;;
        --setup-rates) SETUP_RATES=$2; shift 2 ;;
        --setup-seconds) SETUP_SECONDS=$2; shift 2 ;;
        --setup-hold-ms) SETUP_HOLD_MS=$2; shift 2 ;;
        --burst) BURST=$2; shift 2 ;;
        --burst-hold-ms) BURST_HOLD_MS=$2; shift 2 ;;
        --burst-buffer) BURST_BUFFER=$2; shift 2 ;;
        --burst-shed-ms) BURST_SHED_MS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep-captures) KEEP_CAPTURES=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "load.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

# Ports, all on 127.0.0.1. Chosen away from the defaults (5060, 6000, 8080, 8888) so that a
# test suite running SIPp or the daemon at the same time does not collide with the benchmark.
SIP_PORT=15060
SIPP_PORT=15070
SIPP_CTRL_PORT=18888
SIPP_MEDIA_PORT=9000      # SIPp's rtpstream sockets count up from here
ADMIN=127.0.0.1:18080
# The daemon's RTP range sits above Linux's ephemeral ports (32768-60999) and away from the
# default range (16384-32766) that other daemons and tests on this machine may be using.
RTP_MIN=61000
RTP_MAX=65534
REF_SRC_BASE=12000        # pacer streams send from 12000, 12002, ... 13998
REF_DST=11998
# The operators' SIPps (bridged steps), up to 10: SIP ports from 15080, control ports from
# 18890, media ports (RTP echo; SIPp also binds media port + 2) 14000, 14004, ... 14036.
OP_SIP_PORT=15080
OP_CTRL_PORT=18890
OP_MEDIA_PORT=14000
OP_MAX_SIPPS=10
OP_MEDIA_MAX=$((OP_MEDIA_PORT + 4 * OP_MAX_SIPPS - 1))

for tool in sipp tcpdump sox curl python3 gcc; do
    command -v "$tool" >/dev/null || { echo "load.sh: $tool is missing" >&2; exit 1; }
done
if [ "$REF_STREAMS" -gt 1000 ]; then
    echo "load.sh: --ref-streams must be at most 1000" >&2; exit 2
fi
case "$CONSOLE_CLIENTS" in
    ''|*[!0-9]*) echo "load.sh: --console-clients expects a number of clients, found '$CONSOLE_CLIENTS'" >&2; exit 2 ;;
esac

# The fixed ports must be free: a second load.sh (or a test daemon) on them would mix its
# calls, metrics and captures into this run's, and this run's into its.
ports_busy=$( { ss -Hlnu; ss -Hlnt; } | awk '{print $4}' | grep -E ":($SIP_PORT|$SIPP_PORT|$SIPP_CTRL_PORT|$SIPP_MEDIA_PORT|$OP_SIP_PORT|$OP_CTRL_PORT|$OP_MEDIA_PORT|$REF_DST|${ADMIN##*:})\$" || true)
for i in $(seq 1 $((OP_MAX_SIPPS - 1))); do
    ports_busy+=$( { ss -Hlnu; ss -Hlnt; } | awk '{print $4}' | grep -E ":($((OP_SIP_PORT + i))|$((OP_CTRL_PORT + i))|$((OP_MEDIA_PORT + 4 * i))|$((OP_MEDIA_PORT + 4 * i + 2)))\$" || true)
done
if [ -n "$ports_busy" ]; then
    echo "load.sh: ports in use, is another benchmark running? $(echo $ports_busy)" >&2
    exit 1
fi

# One RTP socket per call in the daemon; SIPp's sockets. Raise the soft limit as far as the
# hard limit allows (a container may cap it; 1,250 calls need about 1,300).
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # the steps run SIPp from inside their directory: a relative --out breaks
WORK=$(mktemp -d /tmp/ugyelet-load.XXXXXX)
DAEMON_PID=
SIPP_PID=
OP_SIPP_PIDS=
REF_PID=
TCPDUMP_PID=
SIP_TCPDUMP_PID=
CONSOLE_PID=
cleanup() {
    for pid in $TCPDUMP_PID $SIP_TCPDUMP_PID $SIPP_PID $OP_SIPP_PIDS $REF_PID $CONSOLE_PID $DAEMON_PID; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "[load.sh $(date +%T)] $*" >&2; }

# ---------------------------------------------------------------- build and inputs

if [ "$BUILD" = 1 ]; then
    log "building the release daemon"
    (cd "$REPO" && cargo build --release --bin ugyelet)
fi
DAEMON=$REPO/target/release/ugyelet
[ -x "$DAEMON" ] || { echo "load.sh: $DAEMON not built" >&2; exit 1; }
gcc -O2 -Wall -o "$WORK/ref_pacer" "$HERE/ref_pacer.c" -lpthread

# The caller's audio: a prompt, as raw A-law for SIPp's rtp_stream.
sox "$REPO/prompts/hu/welcome.wav" -r 8000 -c 1 -t al "$WORK/caller.al"

mkdir -p "$WORK/dialplans"
cp "$HERE/dialplan.toml" "$WORK/dialplans/load.toml"
cp "$HERE/bridged_dialplan.toml" "$WORK/dialplans/bridged.toml"
ln -s "$REPO/dialplans/calendar" "$WORK/dialplans/calendar"

# write_config FILE DIALPLAN [OPERATORS_FILE [queue]]: the load config; with an operators
# file its accounts (the bridged steps' SIPp operators, or the console clients' login), and
# with "queue" also the operator queue settings of the bridged steps. $SIP_EXTRA (the burst
# steps') goes at the end of [sip].
SIP_EXTRA=
write_config() {
    local ops_line="" ops_section=""
    if [ -n "${3:-}" ]; then
        ops_line="operators = \"$3\""
    fi
    if [ "${4:-}" = queue ]; then
        ops_section="
[operators]
# Every caller gets an operator at once: no overflow wait, no wrap-up pause, a ring timeout
# far above the SIPp phones' immediate answer, no position announcements.
ring_timeout_s = 20
overflow_after_s = 0
wrap_up_s = 0
max_wait_s = 120
announce_every_s = 3600
# No keep-alive OPTIONS during a step (the SIPp phones do not answer them).
keepalive_udp_s = 86400"
    fi
    cat >"$1" <<EOF
# Config of the load benchmark (written by benches/load.sh).
[sip]
listen = "127.0.0.1:$SIP_PORT"
tcp = false
# Every call comes from one SIPp address and port: lift the per-source and per-address
# flood limits.
rate_limit_per_s = 1000000.0
rate_limit_burst = 1000000.0
rate_limit_per_address_s = 1000000.0
rate_limit_address_burst = 1000000.0
$ops_line
$SIP_EXTRA

[rtp]
port_min = $RTP_MIN
port_max = $RTP_MAX

[call]
# The ringing phase is a timer only; skip it so set-up rates measure the daemon's work.
answer_delay_ms = 0

[prompts]
dir = "$REPO/prompts/hu"

[dialplan]
path = "$2"
watch_interval_ms = 0

[admin]
listen = "$ADMIN"

[state]
dir = "$WORK/state"

[forms]
catalog = "$REPO/config/forms.toml"

[notify]
# No public listener (form downloads): it is not measured, and its port may be taken.
public_listen = ""
$ops_section

[log]
level = "info"
EOF
}
# The console clients' account (IVR steps with --console-clients): one operator, konzol, whose
# HA1s `ugyelet passwd` writes. Its SIP phone never registers; the console only logs in.
CONSOLE_USER=konzol
CONSOLE_PASSWORD=terheles-meres-konzol
if [ "$CONSOLE_CLIENTS" -gt 0 ]; then
    echo "$CONSOLE_PASSWORD" | "$DAEMON" passwd "$CONSOLE_USER" --file "$WORK/console-operators.toml" \
        --password-stdin >/dev/null
    write_config "$WORK/ugyelet.toml" "$WORK/dialplans/load.toml" "$WORK/console-operators.toml"
else
    write_config "$WORK/ugyelet.toml" "$WORK/dialplans/load.toml"
fi
cp "$WORK/ugyelet.toml" "$OUT/ugyelet.toml"
"$DAEMON" check --config "$WORK/ugyelet.toml" >/dev/null

# ---------------------------------------------------------------- machine

{
    echo "date=$(date -Is)"
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -r)"
    echo "mem_kib=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
    echo "sipp=$(sipp -v 2>&1 | grep -m1 -o 'SIPp v[^ ]*')"
    echo "rustc=$(rustc --version 2>/dev/null || true)"
    echo "commit=$(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+dirty')"
    echo "args=--calls $CALLS --bridged $BRIDGED --hold $HOLD --key-at $KEY_AT --ramp $RAMP --capture $CAPTURE --ref-streams $REF_STREAMS --setup-rates $SETUP_RATES --setup-seconds $SETUP_SECONDS --setup-hold-ms $SETUP_HOLD_MS --console-clients $CONSOLE_CLIENTS --burst $BURST --burst-hold-ms $BURST_HOLD_MS --burst-buffer $BURST_BUFFER --burst-shed-ms $BURST_SHED_MS"
    echo "loadavg_start=$(cat /proc/loadavg)"
} >"$OUT/machine.txt"

# ---------------------------------------------------------------- helpers

metrics() { curl -sf "http://$ADMIN/metrics"; }
metric() { # metric NAME_WITH_LABELS -> value (0 if absent)
    metrics | awk -v m="$1" '$1 == m {print $2; found=1} END {if (!found) print 0}'
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8; exit}' /proc/stat; }
now_s() { date +%s.%N; }
# Datagrams the kernel dropped because a socket's receive buffer was full, summed over the
# UDP sockets bound to local ports LO..HI (/proc/net/udp, last column): udp_drops LO HI
udp_drops() {
    awk -v lo="$1" -v hi="$2" 'NR > 1 { split($2, a, ":"); p = 0
        for (i = 1; i <= 4; i++) p = p * 16 + index("0123456789ABCDEF", substr(a[2], i, 1)) - 1
        if (p >= lo && p <= hi) d += $NF } END { print d + 0 }' /proc/net/udp
}

start_daemon() { # start_daemon LOGFILE [CONFIG]
    rm -rf "$WORK/state"
    "$DAEMON" run --config "${2:-$WORK/ugyelet.toml}" >"$1" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 100); do
        if curl -sf "http://$ADMIN/healthz" >/dev/null 2>&1; then
            sleep 1 # let start-up allocations settle before the idle RSS is read
            return 0
        fi
        sleep 0.1
    done
    echo "load.sh: the daemon did not come up; log in $1" >&2
    exit 1
}

stop_daemon() {
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
}

# Every process's CPU ticks (user + system): pid, name, ticks. On this shared machine the
# report names what else was busy in the capture window from two of these.
proc_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk '{ s = $0; p = index(s, " ("); q = 0
        for (i = length(s); i > 0; i--) if (substr(s, i, 1) == ")") { q = i; break }
        comm = substr(s, p + 2, q - p - 2); gsub(/[ \t]/, "_", comm); split(substr(s, q + 2), f, " ")
        print substr(s, 1, p - 1), comm, f[12] + f[13] }'
}

# Record CPU counters of the daemon, SIPp, the pacer and the machine: snapshot PREFIX FILE
snapshot() {
    read -r busy total < <(machine_ticks)
    {
        echo "$1_time=$(now_s)"
        echo "$1_daemon_ticks=$(cpu_ticks "$DAEMON_PID")"
        echo "$1_sipp_ticks=$( [ -n "$SIPP_PID" ] && cpu_ticks "$SIPP_PID" || echo 0)"
        echo "$1_ref_ticks=$( [ -n "$REF_PID" ] && cpu_ticks "$REF_PID" || echo 0)"
        echo "$1_opsipp_ticks=$(t=0; for p in $OP_SIPP_PIDS; do t=$((t + $(cpu_ticks "$p"))); done; echo $t)"
        echo "$1_console_ticks=$( [ -n "$CONSOLE_PID" ] && cpu_ticks "$CONSOLE_PID" || echo 0)"
        echo "$1_machine_busy=$busy"
        echo "$1_machine_total=$total"
        echo "$1_rss_kib=$(rss_kib "$DAEMON_PID")"
        echo "$1_calls_active=$(metric ugyelet_calls_active)"
        echo "$1_on_call=$(metric 'ugyelet_operators{state="on_call",location="on_site"}')"
        echo "$1_loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "$1_drops_daemon=$(udp_drops $RTP_MIN $RTP_MAX)"
        echo "$1_drops_sipp_media=$(udp_drops $SIPP_MEDIA_PORT $SIPP_MEDIA_PORT)"
        echo "$1_drops_op_media=$(udp_drops $OP_MEDIA_PORT $OP_MEDIA_MAX)"
        # The benchmark's own processes (this script, its tcpdump, daemon, SIPps, pacer,
        # console clients), left out of "what else was busy".
        echo "$1_own_pids=$$ $TCPDUMP_PID $SIP_TCPDUMP_PID $DAEMON_PID $SIPP_PID $OP_SIPP_PIDS $REF_PID $CONSOLE_PID"
    } >>"$2"
    case "$1" in full0|full1) proc_ticks >"$(dirname "$2")/procs-$1.txt" ;; esac
}

# capture_then_finish SNAPLEN BUFFER_KIB FILTER: with all calls up, captures --capture
# seconds on lo into $D/capture.pcap between two snapshots; then waits for the caller
# SIPp, stops the pacer and reads /metrics once the calls have ended.
capture_then_finish() {
    snapshot full0 "$INFO"
    tcpdump -i lo -s "$1" -B "$2" -n --time-stamp-precision=nano -w "$D/capture.pcap" "$3" \
        2>"$D/tcpdump.txt" &
    TCPDUMP_PID=$!
    # The console clients' reloads and searches belong in the window at full load.
    [ -z "$CONSOLE_PID" ] || kill -USR1 "$CONSOLE_PID" 2>/dev/null || true
    sleep "$CAPTURE"
    snapshot full1 "$INFO"
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null || true
    TCPDUMP_PID=

    set +e
    wait "$SIPP_PID"; rc=$?
    set -e
    SIPP_PID=
    rm -f "$D/caller.al"
    echo "sipp_rc=$rc" >>"$INFO"
    kill "$REF_PID" 2>/dev/null || true; wait "$REF_PID" 2>/dev/null || true; REF_PID=
    sleep 1 # calls add their RTP counters to /metrics when they end; operators get their BYEs
    metrics >"$D/metrics-after.txt"
}

SIPP_COMMON=(127.0.0.1:$SIP_PORT -s ugyelet -i 127.0.0.1 -mi 127.0.0.1 -p $SIPP_PORT
    -cp $SIPP_CTRL_PORT -mp $SIPP_MEDIA_PORT -nostdin -trace_stat -fd 1 -trace_err
    -trace_screen -max_socket 60000)

# ---------------------------------------------------------------- concurrent IVR calls

IFS=, read -r -a STEPS <<<"$CALLS"
for N in "${STEPS[@]}"; do
    [ -n "$N" ] || continue
    D=$OUT/ivr-$N
    mkdir -p "$D"
    INFO=$D/info.txt
    log "IVR step: $N calls, ramp $RAMP/s, hold ${HOLD}s"
    start_daemon "$D/daemon.log"
    {
        echo "calls=$N"; echo "hold_s=$HOLD"; echo "ramp=$RAMP"; echo "ref_streams=$REF_STREAMS"
        echo "capture_s=$CAPTURE"; echo "rtp_range=$RTP_MIN-$RTP_MAX"
        echo "ref_range=$REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS - 2))"
        echo "console_clients=$CONSOLE_CLIENTS"
    } >"$INFO"
    if [ "$CONSOLE_CLIENTS" -gt 0 ]; then
        python3 "$HERE/console_clients.py" --base "http://$ADMIN" --user "$CONSOLE_USER" \
            --password "$CONSOLE_PASSWORD" --clients "$CONSOLE_CLIENTS" --window "$CAPTURE" \
            --out "$D/console.json" --ready "$D/console_ready.txt" >"$D/console_clients.txt" 2>&1 &
        CONSOLE_PID=$!
        # The idle memory is read with every client logged in and streaming.
        for _ in $(seq 400); do
            [ -s "$D/console_ready.txt" ] && break
            kill -0 "$CONSOLE_PID" 2>/dev/null || break
            sleep 0.1
        done
        echo "console_ready=$(cat "$D/console_ready.txt" 2>/dev/null || echo 'not ready')" >>"$INFO"
        log "console clients: $(cat "$D/console_ready.txt" 2>/dev/null || echo 'not ready after 40 s')"
    fi
    snapshot idle "$INFO"
    metrics >"$D/metrics-before.txt"

    ramp_s=$(( (N + RAMP - 1) / RAMP ))
    "$WORK/ref_pacer" "$REF_STREAMS" $((ramp_s + HOLD + 20)) $REF_SRC_BASE $REF_DST \
        >"$D/ref_pacer.txt" 2>&1 &
    REF_PID=$!

    ln -sf "$WORK/caller.al" "$D/caller.al"
    # Each caller presses 2 at KEY_AT ms after the ACK; the call lasts HOLD s in all.
    key_at=$KEY_AT
    [ $((HOLD * 1000)) -gt "$key_at" ] || key_at=$((HOLD * 500))
    echo "key_at_ms=$key_at" >>"$INFO"
    (cd "$D" && exec sipp "${SIPP_COMMON[@]}" -sf "$HERE/ivr_call.xml" -m "$N" -l "$N" -r "$RAMP" \
        -set keyat "$key_at" -d $((HOLD * 1000 - key_at)) \
        -stf "$D/sipp_stat.csv" -timeout $((ramp_s + HOLD + 120)) -timeout_error \
        >"$D/sipp.out" 2>&1) &
    SIPP_PID=$!
    # The subshell execs sipp, so $SIPP_PID is SIPp itself.

    # Wait until every call is up (or the ramp is clearly over).
    deadline=$(( $(date +%s) + ramp_s + 20 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        active=$(metric ugyelet_calls_active)
        [ "${active:-0}" -ge "$N" ] && break
        kill -0 "$SIPP_PID" 2>/dev/null || break
        sleep 0.5
    done
    sleep 2
    echo "reached_before_capture=$(metric ugyelet_calls_active)" >>"$INFO"

    capture_then_finish 64 131072 \
        "udp and ((src portrange $RTP_MIN-$RTP_MAX and dst port $SIPP_MEDIA_PORT) or (src portrange $REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS)) and dst port $REF_DST))"
    snapshot end "$INFO"
    if [ -n "$CONSOLE_PID" ]; then
        kill -TERM "$CONSOLE_PID" 2>/dev/null || true
        set +e
        wait "$CONSOLE_PID"; echo "console_rc=$?" >>"$INFO"
        set -e
        CONSOLE_PID=
    fi
    stop_daemon
    # Keys the daemon took, by how they came (log lines "key pressed key=2 source=Rfc4733").
    {
        echo "keys_rfc4733=$(grep 'key pressed' "$D/daemon.log" | grep -c 'source=Rfc4733' || true)"
        echo "keys_rfc4733_2=$(grep 'key pressed' "$D/daemon.log" | grep 'source=Rfc4733' | grep -c 'key=2 ' || true)"
        echo "keys_other=$(grep 'key pressed' "$D/daemon.log" | grep -vc 'source=Rfc4733' || true)"
        # The bench plan never ends a call itself, so a caller's hang-up is always
        # abandoned_menu; any other outcome is a call the daemon ended.
        echo "calls_hung_up_by_daemon=$(grep 'call ended' "$D/daemon.log" | grep -vc 'outcome="abandoned_menu"' || true)"
    } >>"$INFO"

    python3 "$HERE/rtp_gaps.py" "$D/capture.pcap" --json "$D/gaps.json" \
        --group daemon=$RTP_MIN-$RTP_MAX:$SIPP_MEDIA_PORT \
        --group ref=$REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS)):$REF_DST | tee "$D/gaps.txt"
    [ "$KEEP_CAPTURES" = 1 ] || rm -f "$D/capture.pcap"
    sleep 3 # let sockets in TIME_WAIT and the machine settle between steps
done

# ---------------------------------------------------------------- concurrent bridged calls

IFS=, read -r -a BSTEPS <<<"$BRIDGED"
for N in "${BSTEPS[@]}"; do
    [ -n "$N" ] || continue
    D=$OUT/bridged-$N
    mkdir -p "$D"
    INFO=$D/info.txt
    op_sipps=$(( (N + OPS_PER_SIPP - 1) / OPS_PER_SIPP ))
    if [ "$op_sipps" -gt "$OP_MAX_SIPPS" ]; then
        echo "load.sh: $N operators need $op_sipps SIPps of --ops-per-sipp $OPS_PER_SIPP, at most $OP_MAX_SIPPS" >&2
        exit 2
    fi
    log "bridged step: $N calls to $N SIPp operators ($op_sipps SIPps), ramp $RAMP/s, hold ${HOLD}s"

    # N operator accounts: op0001 ... with password pw0001 ...; HA1 = MD5(name:realm:password).
    # SIPp 3.6.1 does not expand [fieldN] inside [authentication], so the injection file
    # carries the whole keyword per account (field2). One injection file per operator SIPp.
    rm -f "$WORK"/operators-*.csv
    python3 - "$N" "$OPS_PER_SIPP" "$WORK/operators.toml" "$WORK/operators" <<'PY'
import hashlib, sys
n, per, toml_path, csv_base = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
realm = "ugyelet"
with open(toml_path, "w") as t:
    t.write("# Operator accounts of the bridged load benchmark (written by benches/load.sh).\n\n")
    for i in range(1, n + 1):
        name, pw = f"op{i:04d}", f"pw{i:04d}"
        ha1 = hashlib.md5(f"{name}:{realm}:{pw}".encode()).hexdigest()
        t.write(f'[[operator]]\nname = "{name}"\nlocation = "on_site"\nha1_md5 = "{ha1}"\n\n')
        k = (i - 1) // per
        with open(f"{csv_base}-{k}.csv", "a") as c:
            if (i - 1) % per == 0:
                c.write("SEQUENTIAL\n")
            c.write(f"{name};{pw};[authentication username={name} password={pw}]\n")
PY
    write_config "$WORK/ugyelet-bridged.toml" "$WORK/dialplans/bridged.toml" "$WORK/operators.toml" queue
    cp "$WORK/ugyelet-bridged.toml" "$OUT/ugyelet-bridged.toml"
    "$DAEMON" check --config "$WORK/ugyelet-bridged.toml" >/dev/null

    start_daemon "$D/daemon.log" "$WORK/ugyelet-bridged.toml"
    {
        echo "calls=$N"; echo "operators=$N"; echo "hold_s=$HOLD"; echo "ramp=$RAMP"
        echo "ref_streams=$REF_STREAMS"; echo "capture_s=$CAPTURE"; echo "rtp_range=$RTP_MIN-$RTP_MAX"
        echo "ref_range=$REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS - 2))"
    } >"$INFO"
    snapshot idle "$INFO"

    ramp_s=$(( (N + RAMP - 1) / RAMP ))
    # The operators: register all, then answer the daemon's INVITEs until stopped. Several
    # SIPps of --ops-per-sipp operators each: SIPp echoes RTP on one socket per process, and
    # at 500 operators in one process that socket overflowed (the caller streams arrive in
    # bursts), which showed as RTP missing at the callers.
    echo "operator_sipps=$op_sipps" >>"$INFO"
    for k in $(seq 0 $((op_sipps - 1))); do
        m=$(( $(wc -l <"$WORK/operators-$k.csv") - 1 ))
        (cd "$D" && exec sipp 127.0.0.1:$SIP_PORT -i 127.0.0.1 -mi 127.0.0.1 -p $((OP_SIP_PORT + k)) \
            -cp $((OP_CTRL_PORT + k)) -mp $((OP_MEDIA_PORT + 4 * k)) -rtp_echo \
            -sf "$HERE/operator_register.xml" -oocsf "$HERE/operator_answer.xml" \
            -inf "$WORK/operators-$k.csv" -m "$m" -r 200 -l $((m + 10)) \
            -d $(( (ramp_s + HOLD + 600) * 1000 )) \
            -nostdin -trace_stat -fd 1 -stf "$D/sipp_operators_${k}_stat.csv" -trace_err \
            -max_socket 60000 >"$D/sipp_operators_$k.out" 2>&1) &
        OP_SIPP_PIDS="$OP_SIPP_PIDS $!"
    done
    deadline=$(( $(date +%s) + N / 100 + 30 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        avail=$(metric 'ugyelet_operators{state="available",location="on_site"}')
        [ "${avail:-0}" -ge "$N" ] && break
        sleep 0.5
    done
    sleep 1
    echo "operators_available=$(metric 'ugyelet_operators{state="available",location="on_site"}')" >>"$INFO"
    snapshot registered "$INFO"
    metrics >"$D/metrics-before.txt"

    "$WORK/ref_pacer" "$REF_STREAMS" $((ramp_s + HOLD + 20)) $REF_SRC_BASE $REF_DST \
        >"$D/ref_pacer.txt" 2>&1 &
    REF_PID=$!

    # The daemon's SIP to callers and operators, in full, for the whole step: rtp_gaps.py
    # pairs each call's two legs by the ports in their SDP.
    tcpdump -i lo -s 0 -n -w "$D/sip.pcap" \
        "udp and src port $SIP_PORT and (dst port $SIPP_PORT or dst portrange $OP_SIP_PORT-$((OP_SIP_PORT + OP_MAX_SIPPS - 1)))" \
        2>"$D/tcpdump_sip.txt" &
    SIP_TCPDUMP_PID=$!
    sleep 1

    ln -sf "$WORK/caller.al" "$D/caller.al"
    (cd "$D" && exec sipp "${SIPP_COMMON[@]}" -sf "$HERE/bridged_call.xml" -m "$N" -l "$N" -r "$RAMP" -d $((HOLD * 1000)) \
        -stf "$D/sipp_stat.csv" -timeout $((ramp_s + HOLD + 120)) -timeout_error \
        >"$D/sipp.out" 2>&1) &
    SIPP_PID=$!

    # Wait until every call is bridged (or the ramp is clearly over).
    deadline=$(( $(date +%s) + ramp_s + 20 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        on_call=$(metric 'ugyelet_operators{state="on_call",location="on_site"}')
        [ "${on_call:-0}" -ge "$N" ] && break
        kill -0 "$SIPP_PID" 2>/dev/null || break
        sleep 0.5
    done
    sleep 2
    echo "reached_before_capture=$(metric 'ugyelet_operators{state="on_call",location="on_site"}')" >>"$INFO"

    # Daemon -> callers (the relayed operator audio), operators' echo -> daemon (to time the
    # relay), pacer. Snaplen 96 keeps 42 bytes of payload to pair relayed packets.
    capture_then_finish 96 262144 \
        "udp and ((src portrange $RTP_MIN-$RTP_MAX and dst port $SIPP_MEDIA_PORT) or (src portrange $OP_MEDIA_PORT-$OP_MEDIA_MAX and dst portrange $RTP_MIN-$RTP_MAX) or (src portrange $REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS)) and dst port $REF_DST))"
    snapshot end "$INFO"
    for p in $OP_SIPP_PIDS; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    OP_SIPP_PIDS=
    rm -f "$WORK"/operators-*.csv
    kill -INT "$SIP_TCPDUMP_PID"; wait "$SIP_TCPDUMP_PID" 2>/dev/null || true
    SIP_TCPDUMP_PID=
    stop_daemon
    {
        echo "log_rang=$(grep -c 'ringing the operator' "$D/daemon.log" || true)"
        echo "log_bridged=$(grep -c 'operator answered: bridged' "$D/daemon.log" || true)"
        echo "log_not_taken=$(grep -c 'did not take the call' "$D/daemon.log" || true)"
        # Warnings and errors once the daemon was up (start-up warnings about the calendar,
        # SMS and SMTP are expected with this config); kept in daemon_warnings.txt.
        awk '/SIP listening/ {up = 1; next} up && / (WARN|ERROR) /' "$D/daemon.log" >"$D/daemon_warnings.txt"
        echo "log_warn=$(grep -c ' WARN ' "$D/daemon_warnings.txt" || true)"
        echo "log_error=$(grep -c ' ERROR ' "$D/daemon_warnings.txt" || true)"
        # SIPp's error log runs its entries together on few lines: count matches, not lines.
        echo "ooc_calls=$(cat "$D"/operator_register_*_errors.log 2>/dev/null | grep -o 'using the out-of-call scenario' | wc -l)"
        echo "ooc_aborted=$(cat "$D"/operator_register_*_errors.log 2>/dev/null | grep -oi 'aborting call' | wc -l)"
    } >>"$INFO"

    python3 "$HERE/rtp_gaps.py" "$D/capture.pcap" --json "$D/gaps.json" \
        --group daemon=$RTP_MIN-$RTP_MAX:$SIPP_MEDIA_PORT \
        --group echo=$OP_MEDIA_PORT-$OP_MEDIA_MAX:$RTP_MIN-$RTP_MAX \
        --group ref=$REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS)):$REF_DST \
        --relay relay=echo:daemon --sip "$D/sip.pcap" | tee "$D/gaps.txt"
    [ "$KEEP_CAPTURES" = 1 ] || rm -f "$D/capture.pcap" "$D/sip.pcap"
    sleep 3
done

# ---------------------------------------------------------------- call set-up rate

IFS=, read -r -a RATES <<<"$SETUP_RATES"
for R in "${RATES[@]}"; do
    [ -n "$R" ] || continue
    D=$OUT/setup-$R
    mkdir -p "$D"
    INFO=$D/info.txt
    M=$((R * SETUP_SECONDS))
    log "set-up rate: $M calls at $R/s, hold ${SETUP_HOLD_MS} ms"
    start_daemon "$D/daemon.log"
    { echo "rate=$R"; echo "calls=$M"; echo "hold_ms=$SETUP_HOLD_MS"; } >"$INFO"
    snapshot idle "$INFO"
    (cd "$D" && exec sipp "${SIPP_COMMON[@]}" -sf "$HERE/setup_call.xml" \
        -m "$M" -r "$R" -rp 1000 -d "$SETUP_HOLD_MS" \
        -stf "$D/sipp_stat.csv" -timeout $((SETUP_SECONDS * 4 + 60)) -timeout_error \
        >"$D/sipp.out" 2>&1) &
    SIPP_PID=$!
    snapshot run0 "$INFO"
    # Sample the peak concurrency while the run goes.
    peak=0
    while kill -0 "$SIPP_PID" 2>/dev/null; do
        active=$(metric ugyelet_calls_active)
        [ "${active:-0}" -gt "$peak" ] && peak=$active
        sleep 0.5
    done
    snapshot run1 "$INFO"
    set +e
    wait "$SIPP_PID"; rc=$?
    set -e
    SIPP_PID=
    { echo "sipp_rc=$rc"; echo "peak_active=$peak"; } >>"$INFO"
    sleep 1
    metrics >"$D/metrics-after.txt"
    stop_daemon
    sleep 3
done

# ---------------------------------------------------------------- bursts

BURST_SCENARIO=$REPO/tests/sipp/caller_refused_with_503_retries_after_until_answered.xml
IFS=, read -r -a BURSTS <<<"$BURST"
if [ "${#BURSTS[@]}" -gt 0 ] && [ -n "${BURSTS[0]}" ]; then
    # The callers come from one address, a trunk's: exempt from the rate limits (as the
    # admin would name the provider), not merely under high ones.
    SIP_EXTRA='rate_limit_exempt = ["127.0.0.1"]'
    if [ -n "$BURST_BUFFER$BURST_SHED_MS" ]; then
        SIP_EXTRA+=$'\n\n[sip.udp]'
        [ -z "$BURST_BUFFER" ] || SIP_EXTRA+=$'\n'"receive_buffer_bytes = $BURST_BUFFER"
        [ -z "$BURST_SHED_MS" ] || SIP_EXTRA+=$'\n'"shed_after_ms = $BURST_SHED_MS"
    fi
    write_config "$WORK/ugyelet-burst.toml" "$WORK/dialplans/load.toml"
    SIP_EXTRA=
    cp "$WORK/ugyelet-burst.toml" "$OUT/ugyelet-burst.toml"
    "$DAEMON" check --config "$WORK/ugyelet-burst.toml" >/dev/null
fi
for N in "${BURSTS[@]}"; do
    [ -n "$N" ] || continue
    D=$OUT/burst-$N
    mkdir -p "$D"
    INFO=$D/info.txt
    log "burst: $N callers at once, hold ${BURST_HOLD_MS} ms"
    start_daemon "$D/daemon.log" "$WORK/ugyelet-burst.toml"
    { echo "callers=$N"; echo "hold_ms=$BURST_HOLD_MS"; echo "buffer=$BURST_BUFFER"; echo "shed_ms=$BURST_SHED_MS"; } >"$INFO"
    snapshot idle "$INFO"
    metrics >"$D/metrics-before.txt"
    {
        echo "sip_drops_before=$(udp_drops $SIP_PORT $SIP_PORT)"
        echo "sipp_drops_before=$(udp_drops $SIPP_PORT $SIPP_PORT)"
    } >>"$INFO"
    start=$(now_s)
    (cd "$D" && exec sipp "${SIPP_COMMON[@]}" -sf "$BURST_SCENARIO" -users "$N" -m "$N" \
        -d "$BURST_HOLD_MS" -trace_counts -trace_rtt -rtt_freq 1 \
        -stf "$D/sipp_stat.csv" -timeout $((BURST_HOLD_MS / 1000 + 180)) -timeout_error \
        >"$D/sipp.out" 2>&1) &
    SIPP_PID=$!
    snapshot run0 "$INFO"
    # While it runs: the most calls up at once, and when all N were first up.
    peak=0
    all_up=
    while kill -0 "$SIPP_PID" 2>/dev/null; do
        active=$(metric ugyelet_calls_active)
        [ "${active:-0}" -gt "$peak" ] && peak=$active
        if [ -z "$all_up" ] && [ "${active:-0}" -ge "$N" ]; then
            all_up=$(awk -v a="$(now_s)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
        fi
        sleep 0.2
    done
    snapshot run1 "$INFO"
    set +e
    wait "$SIPP_PID"; rc=$?
    set -e
    SIPP_PID=
    sleep 2 # the last episode ends a second after the daemon caught up
    metrics >"$D/metrics-after.txt"
    {
        echo "sipp_rc=$rc"; echo "peak_active=$peak"; echo "all_up_s=${all_up:-never}"
        echo "sip_drops_after=$(udp_drops $SIP_PORT $SIP_PORT)"
        echo "sipp_drops_after=$(udp_drops $SIPP_PORT $SIPP_PORT)"
    } >>"$INFO"
    stop_daemon
    {
        echo "log_overload_started=$(grep -c 'SIP overload: the daemon is behind' "$D/daemon.log" || true)"
        echo "log_overload_over=$(grep -c 'SIP overload over' "$D/daemon.log" || true)"
        echo "log_buffer=$(grep -m1 'SIP/UDP receive buffer' "$D/daemon.log" | sed 's/.*receive buffer[^=]*//' || true)"
    } >>"$INFO"
    sleep 3
done

echo "loadavg_end=$(cat /proc/loadavg)" >>"$OUT/machine.txt"
log "artefacts in $OUT"
python3 "$HERE/report.py" "$OUT" | tee "$OUT/report.md"
