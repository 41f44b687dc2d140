#!/usr/bin/env python3
"""Markdown tables for BENCHMARKS.md from one benches/load.sh run.

    benches/load/report.py target/bench-load/DATE-TIME

Reads, per step directory (ivr-N/, bridged-N/, setup-R/, burst-N/): info.txt (key=value lines written by load.sh),
sipp_stat.csv (SIPp -trace_stat, `;` separated, last line = cumulative totals),
metrics-before.txt / metrics-after.txt (the daemon's /metrics), gaps.json (rtp_gaps.py) and,
for IVR steps with web-console clients, console.json (console_clients.py); for burst steps
SIPp's -trace_counts and -trace_rtt files.
"""

import csv
import json
import os
import re
import sys


def read_info(path):
    info = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                info[k] = v
    return info


def read_metrics(path):
    m = {}
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            try:
                m[name] = float(value)
            except ValueError:
                pass
    return m


def read_sipp(path):
    """Cumulative counters from the last row of SIPp's statistics CSV."""
    if not os.path.exists(path):
        return {}
    rows = list(csv.reader(open(path), delimiter=";"))
    if len(rows) < 2:
        return {}
    head, last = rows[0], rows[-1]
    d = dict(zip(head, last))

    def num(k):
        try:
            return float(d.get(k, "0") or 0)
        except ValueError:
            return 0.0

    def epoch(k):  # StartTime / CurrentTime: "DATE<TAB>TIME<TAB>EPOCH"
        try:
            return float(d.get(k, "").split("\t")[-1])
        except ValueError:
            return 0.0

    return {
        "created": num("TotalCallCreated"),
        "ok": num("SuccessfulCall(C)"),
        "failed": num("FailedCall(C)"),
        "retrans": num("Retransmissions(C)"),
        "unexpected": num("FailedUnexpectedMessage(C)"),
        "timeouts": num("FailedTimeoutOnRecv(C)") + num("FailedMaxUDPRetrans(C)"),
        "elapsed_s": epoch("CurrentTime") - epoch("StartTime"),
        "call_rate_c": num("CallRate(C)"),
        "rt_invite": d.get("ResponseTime1(C)", ""),
        "rt_invite_sd": d.get("ResponseTime1StDev(C)", ""),
    }


def read_step(p):
    """One concurrency step's directory: its info, SIPp's statistics, the change of a
    /metrics sample over the step (delta(name)) and the gap statistics (empty if none)."""
    info = read_info(os.path.join(p, "info.txt"))
    s = read_sipp(os.path.join(p, "sipp_stat.csv"))
    mb = read_metrics(os.path.join(p, "metrics-before.txt"))
    ma = read_metrics(os.path.join(p, "metrics-after.txt"))
    g = {}
    if os.path.exists(os.path.join(p, "gaps.json")):
        with open(os.path.join(p, "gaps.json")) as f:
            g = json.load(f)

    def delta(name):
        return ma.get(name, 0) - mb.get(name, 0)

    return info, s, delta, g


def ticks_per_s():
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def cpu_pct(info, a, b, who):
    try:
        dt = float(info[f"{b}_time"]) - float(info[f"{a}_time"])
        dticks = float(info[f"{b}_{who}_ticks"]) - float(info[f"{a}_{who}_ticks"])
    except (KeyError, ValueError):
        return None
    if dt <= 0:
        return None
    return 100.0 * dticks / ticks_per_s() / dt


def machine_pct(info, a, b):
    try:
        busy = float(info[f"{b}_machine_busy"]) - float(info[f"{a}_machine_busy"])
        total = float(info[f"{b}_machine_total"]) - float(info[f"{a}_machine_total"])
    except (KeyError, ValueError):
        return None
    return 100.0 * busy / total if total > 0 else None


def others_busy(p, info, a="full0", b="full1"):
    """What else used the CPU between snapshots a and b (procs-a.txt, procs-b.txt: pid, name,
    ticks): the total in % of one core and the busiest names, the benchmark's own processes
    left out. Processes that ended inside the window are missing (their ticks are gone), so
    the machine CPU can be higher than own + these."""
    def load(name):
        rows = {}
        path = os.path.join(p, f"procs-{name}.txt")
        if not os.path.exists(path):
            return None
        for line in open(path):
            parts = line.split()
            if len(parts) == 3:
                rows[parts[0]] = (parts[1], float(parts[2]))
        return rows
    before, after = load(a), load(b)
    try:
        dt = float(info[f"{b}_time"]) - float(info[f"{a}_time"])
    except (KeyError, ValueError):
        return None
    if before is None or after is None or dt <= 0:
        return None
    own = set(info.get(f"{a}_own_pids", "").split()) | set(info.get(f"{b}_own_pids", "").split())
    by_name = {}
    for pid, (name, ticks) in after.items():
        if pid in own:
            continue
        d = ticks - before.get(pid, (name, 0.0))[1]
        if d > 0:
            by_name[name] = by_name.get(name, 0.0) + d
    pct = {n: 100.0 * t / ticks_per_s() / dt for n, t in by_name.items()}
    top = sorted(pct.items(), key=lambda kv: -kv[1])
    return sum(pct.values()), [(n, v) for n, v in top if v >= 2][:3]


def fmt_others(o):
    if o is None:
        return "–"
    total, top = o
    names = ", ".join(f"{n} {v:.0f} %" for n, v in top)
    return f"{total:.0f} %" + (f" ({names})" if names else "")


def fnum(info, key):
    """A number from info.txt; 0 when absent or empty (a step that broke off early)."""
    try:
        return float(info.get(key) or 0)
    except ValueError:
        return 0.0


def fmt(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, float) and v.is_integer() and nd == 0:
        return str(int(v))
    return f"{v:.{nd}f}"


def rt_ms(s):
    # SIPp prints response times as HH:MM:SS:micro.
    m = re.match(r"(\d+):(\d+):(\d+):(\d+)", s or "")
    if not m:
        return None
    h, mi, sec, us = (int(x) for x in m.groups())
    return (h * 3600 + mi * 60 + sec) * 1000 + us / 1000


def ms4(st):
    """min / median / p95 / max of a console_clients.py timing, in ms."""
    if not st:
        return "–"
    return f"{st['min']:.1f} / {st['median']:.1f} / {st['p95']:.1f} / {st['max']:.1f} ms"


def console_table(out, ivr):
    """The web-console clients of the IVR steps that had them (console.json)."""
    rows = []
    for d in ivr:
        path = os.path.join(out, d, "console.json")
        if os.path.exists(path):
            with open(path) as f:
                rows.append((d, read_info(os.path.join(out, d, "info.txt")), json.load(f)))
    if not rows:
        return
    print("#### Web-console clients during the IVR steps (console_clients.py)\n")
    print("Page load and search: time to the last byte of the body on a new connection, min / median / "
          "p95 / max. Live update: from the request that pauses or unpauses the account to each "
          "stream's next event (includes the wait for the console's 250 ms sampling tick); spread: "
          "one change's last stream minus its first.\n")
    print("| calls | clients connected / login failures | duty page at login | duty page in the capture window "
          "| knowledge-base search (in the capture window) | events per client: min / median "
          "| stream bytes per client (median) | live update delay: median / p95 / max | spread per change: median / max | updates missed "
          "| stream disconnects | console clients' CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d, info, c in rows:
        search = c.get("search", {})
        if search.get("measured"):
            s_txt = f"{ms4(search.get('ms'))} ({search.get('ms', {}).get('n', 0)} searches, {search.get('failed', 0)} failed)"
        else:
            statuses = search.get("statuses", {})
            s_txt = "not measured" + (" (404: no /tudasbazis)" if "404" in statuses else "")
        ev = c.get("stream", {}).get("events_per_client") or {}
        by = c.get("stream", {}).get("bytes_per_client") or {}
        up = c.get("updates", {})
        delay = up.get("delay_ms")
        d_txt = f"{delay['median']:.0f} / {delay['p95']:.0f} / {delay['max']:.0f} ms" if delay else "–"
        sp = up.get("spread_ms")
        sp_txt = f"{sp['median']:.1f} / {sp['max']:.1f} ms" if sp else "–"
        cpu = cpu_pct(info, "full0", "full1", "console")
        print(
            f"| {info.get('calls', d[4:])} | {c.get('connected', 0)} of {c.get('clients', 0)} / {c.get('login_failures', 0)} "
            f"| {ms4(c.get('page_load_ms'))} | {ms4(c.get('page_load_window_ms'))} | {s_txt} "
            f"| {ev.get('min', '–')} / {fmt(ev.get('median'), 0)} | {fmt(by.get('median'), 0)} "
            f"| {d_txt} ({up.get('changes', 0)} changes) | {sp_txt} | {up.get('missed', '–')} "
            f"| {c.get('stream', {}).get('disconnects', '–')} | {fmt(cpu, 1)} % |"
        )
    print()


def sipp_counts(p):
    """The last row of SIPp's -trace_counts file (per scenario message: "4_503_Recv" ...)."""
    for f in sorted(os.listdir(p)):
        if f.endswith("_counts.csv"):
            rows = [r for r in csv.reader(open(os.path.join(p, f)), delimiter=";") if r]
            if len(rows) >= 2:
                return dict(zip(rows[0], rows[-1]))
    return {}


def sipp_rtts(p):
    """Each successful call's time from its first INVITE to its 200, in ms (-trace_rtt)."""
    out = []
    for f in sorted(os.listdir(p)):
        if f.endswith("_rtt.csv"):
            for r in csv.reader(open(os.path.join(p, f)), delimiter=";"):
                try:
                    out.append(float(r[1]))
                except (IndexError, ValueError):
                    pass
    return sorted(out)


def pct(xs, q):
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


def burst_table(out, burst):
    print("#### Bursts: N callers dialling at once (one trunk address, exempt from rate limits)\n")
    print("| callers at once | receive buffer (kernel) | shed after | answered | lost unanswered (INVITE timeouts) "
          "| other failures | INVITEs sent / retransmitted | refused with 503: SIPp saw / daemon counted "
          "| kernel drops at the SIP socket: /proc / daemon | drops at SIPp's socket | longest wait in the socket "
          "| overload episodes (log start / end) | first INVITE → 200: p50 / p99 / max | all up after "
          "| peak calls up | daemon CPU | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in burst:
        p = os.path.join(out, d)
        info = read_info(os.path.join(p, "info.txt"))
        s = read_sipp(os.path.join(p, "sipp_stat.csv"))
        c = sipp_counts(p)
        rt = sipp_rtts(p)
        ma = read_metrics(os.path.join(p, "metrics-after.txt"))
        mb = read_metrics(os.path.join(p, "metrics-before.txt"))
        raw = {}
        stat_path = os.path.join(p, "sipp_stat.csv")
        if os.path.exists(stat_path):
            rows = list(csv.reader(open(stat_path), delimiter=";"))
            if len(rows) >= 2:
                raw = dict(zip(rows[0], rows[-1]))
        lost = float(raw.get("FailedMaxUDPRetrans(C)", "0") or 0)
        failed = s.get("failed", 0)
        proc = fnum(info, "sip_drops_after") - fnum(info, "sip_drops_before")
        sipp_drops = fnum(info, "sipp_drops_after") - fnum(info, "sipp_drops_before")
        invites = c.get("1_INVITE_Sent", "–")
        retrans = c.get("1_INVITE_Retrans", "–")
        shed = info.get("shed_ms") or "200 (default)"
        buf = ma.get("ugyelet_sip_udp_receive_buffer_bytes")
        print(
            f"| {info.get('callers', '?')} | {fmt(buf / 1048576 if buf else None, 2)} MiB | {shed} ms "
            f"| {fmt(s.get('ok'), 0)} | {fmt(lost, 0)} | {fmt(failed - lost, 0)} "
            f"| {invites} / {retrans} "
            f"| {c.get('4_503_Recv', '–')} / {fmt(ma.get('ugyelet_calls_refused_overload_total', 0) - mb.get('ugyelet_calls_refused_overload_total', 0), 0)} "
            f"| {fmt(proc, 0)} / {fmt(ma.get('ugyelet_sip_udp_dropped_total'), 0)} | {fmt(sipp_drops, 0)} "
            f"| {fmt((ma.get('ugyelet_sip_udp_wait_max_seconds') or 0) * 1000, 0)} ms "
            f"| {fmt(ma.get('ugyelet_sip_overload_episodes_total'), 0)} ({info.get('log_overload_started', '–')} / {info.get('log_overload_over', '–')}) "
            f"| {fmt(pct(rt, 50), 0)} / {fmt(pct(rt, 99), 0)} / {fmt(rt[-1] if rt else None, 0)} ms "
            f"| {info.get('all_up_s', '–')} s | {info.get('peak_active', '–')} "
            f"| {fmt(cpu_pct(info, 'run0', 'run1', 'daemon'), 0)} % "
            f"| {info.get('idle_loadavg', '–').split(' ')[0]} |"
        )
    print()


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    dirs = sorted(os.listdir(out))
    ivr = sorted((d for d in dirs if d.startswith("ivr-")), key=lambda d: int(d[4:]))
    bridged = sorted((d for d in dirs if d.startswith("bridged-")), key=lambda d: int(d[8:]))
    setup = sorted((d for d in dirs if d.startswith("setup-")), key=lambda d: int(d[6:]))
    burst = sorted((d for d in dirs if d.startswith("burst-")), key=lambda d: int(d[6:]))
    machine = read_info(os.path.join(out, "machine.txt"))

    if ivr:
        print("#### Concurrent IVR calls (callers send audio the whole call)\n")
        print("| calls | reached | failed | SIPp retrans | keys received (RFC 4733) | RTP in: received / lost (daemon) "
              "| RTP out: missing at receiver | late frames | daemon CPU | machine CPU "
              "| RSS idle → full | RSS per added call | load avg | other processes' CPU (busiest) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        timing = []
        for d in ivr:
            p = os.path.join(out, d)
            info, s, delta, g = read_step(p)

            n = int(info.get("calls", 0))
            reached = int(fnum(info, "full0_calls_active"))
            rss0 = fnum(info, "idle_rss_kib")
            rss1 = fnum(info, "full1_rss_kib")
            active = fnum(info, "full1_calls_active") or 1
            per_call = (rss1 - rss0) / active
            rx = delta('ugyelet_rtp_packets_total{direction="received"}')
            lost = delta("ugyelet_rtp_packets_lost_total")
            late = delta("ugyelet_rtp_frames_late_total")
            missing = g.get("daemon", {}).get("seq_missing")
            print(
                f"| {n} | {reached} | {fmt(s.get('failed'), 0)} of {fmt(s.get('created'), 0)} "
                f"| {fmt(s.get('retrans'), 0)} | {info.get('keys_rfc4733', '–')} "
                f"| {int(rx)} / {int(lost)} | {missing if missing is not None else '–'} "
                f"| {int(late)} | {fmt(cpu_pct(info, 'full0', 'full1', 'daemon'), 0)} % "
                f"| {fmt(machine_pct(info, 'full0', 'full1'), 0)} % "
                f"| {rss0 / 1024:.1f} → {rss1 / 1024:.1f} MiB | {per_call:.1f} KiB "
                f"| {info.get('full0_loadavg', '–').split(' ')[0]} | {fmt_others(others_busy(p, info))} |"
            )
            if g:
                timing.append((n, info, g))
        print()
        print("(Machine CPU: all processes, of both cores, in the capture window. Other processes: "
              "not the benchmark's own, in % of one core; ones that ended inside the window are not "
              "counted.)\n")
        if timing:
            print("#### RTP send timing at the receiver (inter-arrival gap, ms; nominal 20)\n")
            print("| calls | daemon streams / packets | daemon p50 | daemon p99 | daemon p99.9 | daemon max "
                  "| ref streams / packets | ref p50 | ref p99 | ref p99.9 | ref max | p99 daemon − ref |")
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for n, info, g in timing:
                dm, rf = g.get("daemon", {}), g.get("ref", {})
                dg, rg = dm.get("gap_ms", {}), rf.get("gap_ms", {})
                diff = None
                if dg.get("p99") is not None and rg.get("p99") is not None:
                    diff = dg["p99"] - rg["p99"]
                print(
                    f"| {n} | {dm.get('streams', 0)} / {dm.get('packets', 0)} "
                    f"| {fmt(dg.get('p50'), 2)} | {fmt(dg.get('p99'), 2)} | {fmt(dg.get('p99_9'), 2)} | {fmt(dg.get('max'), 2)} "
                    f"| {rf.get('streams', 0)} / {rf.get('packets', 0)} "
                    f"| {fmt(rg.get('p50'), 2)} | {fmt(rg.get('p99'), 2)} | {fmt(rg.get('p99_9'), 2)} | {fmt(rg.get('max'), 2)} "
                    f"| {'+' if diff is not None and diff >= 0 else ''}{fmt(diff, 2)} |"
                )
            print()

        console_table(out, ivr)

    if bridged:
        print("#### Concurrent bridged calls (callers send audio; SIPp operators echo it)\n")
        print("| calls | operators registered | bridged at once | failed | SIPp retrans "
              "| bridged (daemon) | RTP in from callers: received / lost (daemon) "
              "| relayed RTP missing at callers: all / echo seen at the daemon | receive-buffer drops until the capture's end: daemon / caller SIPp / operator SIPp "
              "| daemon CPU | operator SIPp CPU | machine CPU "
              "| RSS idle → operators registered → full | RSS per bridged call | daemon log warn / error | load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        timing = []
        for d in bridged:
            p = os.path.join(out, d)
            info, s, delta, g = read_step(p)

            def drops(who):
                # Up to the end of the capture: a socket's counter goes when it is closed.
                if f"full1_drops_{who}" not in info:
                    return "–"
                return int(fnum(info, f"full1_drops_{who}") - fnum(info, f"idle_drops_{who}"))

            n = int(info.get("calls", 0))
            ops = int(fnum(info, "operators_available"))
            reached = int(fnum(info, "full0_on_call"))
            rss0 = fnum(info, "idle_rss_kib")
            rssr = fnum(info, "registered_rss_kib")
            rss1 = fnum(info, "full1_rss_kib")
            active = fnum(info, "full1_on_call") or 1
            per_call = (rss1 - rssr) / active
            bridged_n = delta('ugyelet_calls_total{outcome="operator"}')
            rx = delta('ugyelet_rtp_packets_total{direction="received"}')
            lost = delta("ugyelet_rtp_packets_lost_total")
            missing = g.get("daemon", {}).get("seq_missing")
            # A relayed packet missing at its caller whose echo the daemon got is the
            # daemon's loss; one whose echo never arrived was lost before it (or before the
            # capture began).
            seen = g.get("relays", {}).get("relay", {}).get("out_missing_in_seen", "–")
            print(
                f"| {n} | {ops} | {reached} | {fmt(s.get('failed'), 0)} of {fmt(s.get('created'), 0)} "
                f"| {fmt(s.get('retrans'), 0)} | {int(bridged_n)} (log: {info.get('log_bridged', '–')}) "
                f"| {int(rx)} / {int(lost)} | {missing if missing is not None else '–'} / {seen} "
                f"| {drops('daemon')} / {drops('sipp_media')} / {drops('op_media')} "
                f"| {fmt(cpu_pct(info, 'full0', 'full1', 'daemon'), 0)} % "
                f"| {fmt(cpu_pct(info, 'full0', 'full1', 'opsipp'), 0)} % "
                f"| {fmt(machine_pct(info, 'full0', 'full1'), 0)} % "
                f"| {rss0 / 1024:.1f} → {rssr / 1024:.1f} → {rss1 / 1024:.1f} MiB | {per_call:.1f} KiB "
                f"| {info.get('log_warn', '–')} / {info.get('log_error', '–')} "
                f"| {info.get('full0_loadavg', '–').split(' ')[0]} |"
            )
            if g:
                timing.append((n, info, g))
        print()
        if timing:
            print("#### Relayed RTP at the callers (inter-arrival gap, ms; nominal 20) and relay delay\n")
            print("The relayed stream carries the pacing of SIPp's rtp_stream and echo (\"echo in\": the "
                  "operators' packets as they reach the daemon); the relay delay is the time from an echo "
                  "packet reaching the daemon to its relayed copy leaving for the caller.\n")
            print("| calls | relayed streams / packets | relayed p50 | relayed p99 | relayed p99.9 | relayed max "
                  "| echo in p99 / max | relay delay p50 / p99 / p99.9 / max | pairs matched / not relayed "
                  "| ref streams / packets | ref p50 | ref p99 | ref p99.9 | ref max | p99 relayed − ref |")
            print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for n, info, g in timing:
                dm, ec, rf = g.get("daemon", {}), g.get("echo", {}), g.get("ref", {})
                dg, eg, rg = dm.get("gap_ms", {}), ec.get("gap_ms", {}), rf.get("gap_ms", {})
                rl = g.get("relays", {}).get("relay", {})
                rd = rl.get("delay_ms", {})
                diff = None
                if dg.get("p99") is not None and rg.get("p99") is not None:
                    diff = dg["p99"] - rg["p99"]
                print(
                    f"| {n} | {dm.get('streams', 0)} / {dm.get('packets', 0)} "
                    f"| {fmt(dg.get('p50'), 2)} | {fmt(dg.get('p99'), 2)} | {fmt(dg.get('p99_9'), 2)} | {fmt(dg.get('max'), 2)} "
                    f"| {fmt(eg.get('p99'), 2)} / {fmt(eg.get('max'), 2)} "
                    f"| {fmt(rd.get('p50'), 3)} / {fmt(rd.get('p99'), 3)} / {fmt(rd.get('p99_9'), 3)} / {fmt(rd.get('max'), 3)} "
                    f"| {rl.get('pairs', '–')} of {rl.get('out_streams', '–')}, {rl.get('matched', '–')} / {rl.get('in_not_relayed', '–')} "
                    f"| {rf.get('streams', 0)} / {rf.get('packets', 0)} "
                    f"| {fmt(rg.get('p50'), 2)} | {fmt(rg.get('p99'), 2)} | {fmt(rg.get('p99_9'), 2)} | {fmt(rg.get('max'), 2)} "
                    f"| {'+' if diff is not None and diff >= 0 else ''}{fmt(diff, 2)} |"
                )
            print()

    if setup:
        print("#### Call set-up rate (short calls, no caller audio)\n")
        print("| target calls/s | calls | successful | failed | SIPp retrans | achieved calls/s "
              "| INVITE→200 mean | peak concurrent | daemon CPU | machine CPU | load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for d in setup:
            p = os.path.join(out, d)
            info = read_info(os.path.join(p, "info.txt"))
            s = read_sipp(os.path.join(p, "sipp_stat.csv"))
            hold = fnum(info, "hold_ms") / 1000
            # Calls were started over (elapsed - one call's length): rate = created / that.
            span = s.get("elapsed_s", 0) - hold
            achieved = s.get("created", 0) / span if span > 0 else None
            rt = rt_ms(s.get("rt_invite"))
            print(
                f"| {info.get('rate', '?')} | {fmt(s.get('created'), 0)} | {fmt(s.get('ok'), 0)} "
                f"| {fmt(s.get('failed'), 0)} | {fmt(s.get('retrans'), 0)} | {fmt(achieved, 0)} "
                f"| {fmt(rt, 1)} ms | {info.get('peak_active', '–')} "
                f"| {fmt(cpu_pct(info, 'run0', 'run1', 'daemon'), 0)} % "
                f"| {fmt(machine_pct(info, 'run0', 'run1'), 0)} % "
                f"| {info.get('run0_loadavg', '–').split(' ')[0]} |"
            )
        print()

    if burst:
        burst_table(out, burst)

    if machine:
        print(f"Run: `{machine.get('args', '')}` at commit {machine.get('commit', '?')}, "
              f"{machine.get('date', '?')}; load average at start {machine.get('loadavg_start', '?')}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
