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
#   4. once N calls are up, captures for --capture seconds on lo (snaplen 64, only packets
#      from the daemon's RTP ports and the pacer's ports) and samples the daemon's RSS and the
#      CPU time of daemon, SIPp and machine; RSS at idle was read before the first call.
#      The capture filter names both ends (daemon RTP range -> SIPp's media port, pacer ports
#      -> pacer receiver), so RTP of other programs on this machine stays out of it;
#   5. after SIPp ends, reads /metrics (RTP received, lost, late) and stops the daemon;
#      benches/load/rtp_gaps.py turns the capture into inter-arrival gap statistics.
# Then for every rate R in --setup-rates (default 300,1000,1500,2000) a fresh daemon gets
# R × --setup-seconds short calls (benches/load/setup_call.xml: no caller audio, --setup-hold-ms
# hold) at R calls/s.
#
# Artefacts go to --out (default target/bench-load/DATE-TIME); benches/load/report.py DIR
# prints the Markdown tables for BENCHMARKS.md (load.sh runs it at the end).
#
# Options:
#   --calls LIST          concurrency steps, comma separated         (500,1000,1250)
#   --hold S              seconds each IVR call lasts after the ACK   (30)
#   --ramp R              IVR call attempts per second                (100)
#   --capture S           capture window at full concurrency         (10)
#   --ref-streams K       streams of the reference pacer (<= 1000)    (200)
#   --setup-rates LIST    call-setup rates, comma separated; "" skips (300,1000,1500,2000)
#   --setup-seconds S     length of each setup-rate run               (10)
#   --setup-hold-ms MS    hold of a setup-rate call                   (500)
#   --out DIR             where the artefacts go
#   --no-build            use the existing target/release/ugyelet
#   --keep-captures       keep the pcap files (about 5 MB per 1000 calls and second)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HERE=$REPO/benches/load

CALLS=500,1000,1250
HOLD=30
RAMP=100
CAPTURE=10
REF_STREAMS=200
SETUP_RATES=300,1000,1500,2000
SETUP_SECONDS=10
SETUP_HOLD_MS=500
OUT=$REPO/target/bench-load/$(date +%Y%m%d-%H%M%S)
BUILD=1
KEEP_CAPTURES=0

while [ $# -gt 0 ]; do
    case "$1" in
        --calls) CALLS=$2; shift 2 ;;
        --hold) HOLD=$2; shift 2 ;;
        --ramp) RAMP=$2; shift 2 ;;
        --capture) CAPTURE=$2; shift 2 ;;
        --ref-streams) REF_STREAMS=$2; shift 2 ;;
        --setup-rates) SETUP_RATES=$2; shift 2 ;;
        --setup-seconds) SETUP_SECONDS=$2; shift 2 ;;
        --setup-hold-ms) SETUP_HOLD_MS=$2; shift 2 ;;
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

for tool in sipp tcpdump sox curl python3 gcc; do
    command -v "$tool" >/dev/null || { echo "load.sh: $tool is missing" >&2; exit 1; }
done
if [ "$REF_STREAMS" -gt 1000 ]; then
    echo "load.sh: --ref-streams must be at most 1000" >&2; exit 2
fi

# One RTP socket per call in the daemon; SIPp's sockets. Raise the soft limit as far as the
# hard limit allows (a container may cap it; 1,250 calls need about 1,300).
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ugyelet-load.XXXXXX)
DAEMON_PID=
SIPP_PID=
REF_PID=
TCPDUMP_PID=
cleanup() {
    for pid in $TCPDUMP_PID $SIPP_PID $REF_PID $DAEMON_PID; do
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
ln -s "$REPO/dialplans/calendar" "$WORK/dialplans/calendar"

cat >"$WORK/ugyelet.toml" <<EOF
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

[rtp]
port_min = $RTP_MIN
port_max = $RTP_MAX

[call]
# The ringing phase is a timer only; skip it so set-up rates measure the daemon's work.
answer_delay_ms = 0

[prompts]
dir = "$REPO/prompts/hu"

[dialplan]
path = "$WORK/dialplans/load.toml"
watch_interval_ms = 0

[admin]
listen = "$ADMIN"

[state]
dir = "$WORK/state"

[forms]
catalog = "$REPO/config/forms.toml"

[log]
level = "info"
EOF
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
    echo "args=--calls $CALLS --hold $HOLD --ramp $RAMP --capture $CAPTURE --ref-streams $REF_STREAMS --setup-rates $SETUP_RATES --setup-seconds $SETUP_SECONDS --setup-hold-ms $SETUP_HOLD_MS"
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

start_daemon() { # start_daemon LOGFILE
    rm -rf "$WORK/state"
    "$DAEMON" run --config "$WORK/ugyelet.toml" >"$1" 2>&1 &
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

# Record CPU counters of the daemon, SIPp, the pacer and the machine: snapshot PREFIX FILE
snapshot() {
    read -r busy total < <(machine_ticks)
    {
        echo "$1_time=$(now_s)"
        echo "$1_daemon_ticks=$(cpu_ticks "$DAEMON_PID")"
        echo "$1_sipp_ticks=$( [ -n "$SIPP_PID" ] && cpu_ticks "$SIPP_PID" || echo 0)"
        echo "$1_ref_ticks=$( [ -n "$REF_PID" ] && cpu_ticks "$REF_PID" || echo 0)"
        echo "$1_machine_busy=$busy"
        echo "$1_machine_total=$total"
        echo "$1_rss_kib=$(rss_kib "$DAEMON_PID")"
        echo "$1_calls_active=$(metric ugyelet_calls_active)"
        echo "$1_loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
    } >>"$2"
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
    } >"$INFO"
    snapshot idle "$INFO"
    metrics >"$D/metrics-before.txt"

    ramp_s=$(( (N + RAMP - 1) / RAMP ))
    "$WORK/ref_pacer" "$REF_STREAMS" $((ramp_s + HOLD + 20)) $REF_SRC_BASE $REF_DST \
        >"$D/ref_pacer.txt" 2>&1 &
    REF_PID=$!

    ln -sf "$WORK/caller.al" "$D/caller.al"
    (cd "$D" && exec sipp "${SIPP_COMMON[@]}" -sf "$HERE/ivr_call.xml" -m "$N" -l "$N" -r "$RAMP" -d $((HOLD * 1000)) \
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

    snapshot full0 "$INFO"
    tcpdump -i lo -s 64 -B 131072 -n --time-stamp-precision=nano -w "$D/capture.pcap" \
        "udp and ((src portrange $RTP_MIN-$RTP_MAX and dst port $SIPP_MEDIA_PORT) or (src portrange $REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS)) and dst port $REF_DST))" \
        2>"$D/tcpdump.txt" &
    TCPDUMP_PID=$!
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
    sleep 1 # calls add their RTP counters to /metrics when they end
    metrics >"$D/metrics-after.txt"
    snapshot end "$INFO"
    stop_daemon

    python3 "$HERE/rtp_gaps.py" "$D/capture.pcap" --json "$D/gaps.json" \
        --group daemon=$RTP_MIN-$RTP_MAX:$SIPP_MEDIA_PORT \
        --group ref=$REF_SRC_BASE-$((REF_SRC_BASE + 2 * REF_STREAMS)):$REF_DST | tee "$D/gaps.txt"
    [ "$KEEP_CAPTURES" = 1 ] || rm -f "$D/capture.pcap"
    sleep 3 # let sockets in TIME_WAIT and the machine settle between steps
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

echo "loadavg_end=$(cat /proc/loadavg)" >>"$OUT/machine.txt"
log "artefacts in $OUT"
python3 "$HERE/report.py" "$OUT" | tee "$OUT/report.md"
