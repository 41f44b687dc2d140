#!/usr/bin/env python3
"""RTP send timing at the receiver, from a loopback capture (benches/load.sh).

Reads a pcap (tcpdump -w, micro- or nanosecond timestamps; Ethernet, Linux cooked or raw IP
link types), keeps UDP packets that carry an RTP v2 header, and splits them into groups by
UDP *source* port range and optionally destination port, e.g. the daemon's RTP port range
towards SIPp's media port and the reference pacer's ports towards its receiver.
Within a group a stream is (source address, source port, destination port, SSRC); the gap
is the arrival-time difference between consecutive packets of one stream, as the capture
saw them. For every group it prints, pooled over all streams:

  gap p50 / p99 / p99.9 / max / min (ms), deviation |gap - 20 ms| p50 / p99 / max (ms),
  packets, streams, and sequence numbers missing at the receiver (lost, as seen here).

With --relay NAME=IN:OUT (bridged calls) it also times the daemon's relay: every packet of
group OUT (what the daemon sent) is paired with the packet of group IN (what the daemon
received on the other leg) that it was relayed from. The daemon rewrites SSRC and shifts
sequence numbers by a fixed offset per direction but keeps the payload, so an OUT stream is
paired with the IN stream whose packets carry the same payload just before (the captured
payload bytes, by majority over the stream), the sequence offset of the pair is the most
common difference, and then every OUT packet is matched by sequence number. Payload alone
cannot always tell two calls apart (every SIPp caller streams the same file, and calls that
started in the same rtp_stream tick send the same frame at the same moment), so with
--sip SIP.pcap (the daemon's own SIP messages, captured in full) the pairs come from the
signalling instead: the daemon's 200 OK to a caller carries the caller leg's port, its
INVITE to the operator the operator leg's port, and both name the caller in From. It reports the
relay delay (OUT arrival - IN arrival, as the capture saw them) p50 / p99 / p99.9 / max,
the packets matched, IN packets inside the window that were never relayed, and for every
sequence number missing in an OUT stream whether its IN packet was captured (then the daemon
lost it) or not (it never reached the daemon, or came before the capture began: the first
packets of an IN stream in the capture cannot show a gap before them). Needs a
snaplen that keeps some payload (tcpdump -s 96 keeps 42 bytes on lo).

Usage:
  rtp_gaps.py CAPTURE.pcap --group daemon=61000-65534:9000 --group ref=12000-13998:11998 [--json OUT]
  rtp_gaps.py CAPTURE.pcap --group daemon=61000-65534:9000 --group echo=14000-14000:61000-65534 \
      --relay relay=echo:daemon
"""

import bisect
import collections
import re

import argparse
import json
import struct
import sys

FRAME_MS = 20.0


def read_packets(path):
    """Yield (time_s, payload_from_ip_header) for each captured frame."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack("<I", head[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        else:
            magic = struct.unpack(">I", head[:4])[0]
            endian = ">"
            if magic not in (0xA1B2C3D4, 0xA1B23C4D):
                raise SystemExit(f"{path}: expected a pcap file, found magic {head[:4].hex()}")
        frac = 1e-9 if magic == 0xA1B23C4D else 1e-6
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        # Offset of the IP header in the frame, by link type.
        ip_offset = {1: 14, 113: 16, 276: 20, 101: 0, 228: 0}.get(linktype)
        if ip_offset is None:
            raise SystemExit(f"{path}: unsupported link type {linktype}")
        rec = struct.Struct(endian + "IIII")
        data = f.read()
    pos = 0
    end = len(data)
    while pos + 16 <= end:
        sec, sub, incl, _orig = rec.unpack_from(data, pos)
        pos += 16
        frame = data[pos : pos + incl]
        pos += incl
        yield sec + sub * frac, frame[ip_offset:]


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def analyse(path, groups):
    streams = {name: {} for name, _, _, _, _ in groups}  # name -> key -> (times, seqs, payloads)
    for t, ip in read_packets(path):
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        udp = ip[ihl:]
        if len(udp) < 8 + 12:
            continue
        sport, dport = struct.unpack_from(">HH", udp, 0)
        rtp = udp[8:]
        if rtp[0] >> 6 != 2:
            continue
        for name, lo, hi, dlo, dhi in groups:
            if lo <= sport <= hi and (dlo is None or dlo <= dport <= dhi):
                seq = struct.unpack_from(">H", rtp, 2)[0]
                ssrc = struct.unpack_from(">I", rtp, 8)[0]
                key = (bytes(ip[12:16]), sport, dport, ssrc)
                s = streams[name].get(key)
                if s is None:
                    s = streams[name][key] = ([], [], [])
                s[0].append(t)
                s[1].append(seq)
                s[2].append(hash(bytes(rtp[12:])))
                break
    out = {}
    for name, _, _, _, _ in groups:
        gaps = []
        lost = 0
        out_of_order = 0
        packets = 0
        first = None
        last = None
        for times, seqs, _ in streams[name].values():
            packets += len(times)
            first = times[0] if first is None else min(first, times[0])
            last = times[-1] if last is None else max(last, times[-1])
            for i in range(1, len(times)):
                gaps.append((times[i] - times[i - 1]) * 1000.0)
                d = (seqs[i] - seqs[i - 1]) & 0xFFFF
                if 1 < d < 0x8000:
                    lost += d - 1
                elif d == 0 or d >= 0x8000:
                    out_of_order += 1
        gaps.sort()
        dev = sorted(abs(g - FRAME_MS) for g in gaps)
        r = lambda v: None if v is None else round(v, 3)
        out[name] = {
            "streams": len(streams[name]),
            "packets": packets,
            "gaps": len(gaps),
            "window_s": r(None if first is None else last - first),
            "gap_ms": {
                "min": r(gaps[0] if gaps else None),
                "p1": r(percentile(gaps, 1)),
                "p50": r(percentile(gaps, 50)),
                "p99": r(percentile(gaps, 99)),
                "p99_9": r(percentile(gaps, 99.9)),
                "max": r(gaps[-1] if gaps else None),
            },
            "abs_dev_ms": {
                "p50": r(percentile(dev, 50)),
                "p99": r(percentile(dev, 99)),
                "max": r(dev[-1] if dev else None),
            },
            "seq_missing": lost,
            "seq_out_of_order": out_of_order,
        }
    return out, streams


def sip_pairs(path):
    """Operator leg port -> caller leg port, from the daemon's SIP messages (see above)."""
    caller_port, operator_port = {}, {}
    for _, ip in read_packets(path):
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        text = bytes(ip[(ip[0] & 0x0F) * 4 + 8 :]).decode("latin-1")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        m_audio = re.search(r"^m=audio (\d+) ", body, re.M)
        user = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() in ("from", "f"):
                u = re.search(r"<?sips?:([^@;>]+)@", value)
                user = u.group(1) if u else None
        if not m_audio or user is None:
            continue
        port = int(m_audio.group(1))
        if lines[0].startswith("SIP/2.0 200"):
            caller_port[user] = port      # our answer to the caller's INVITE
        elif lines[0].startswith("INVITE "):
            operator_port[user] = port    # our offer to the operator
    return {op: caller_port[u] for u, op in operator_port.items() if u in caller_port}


def relay_delay(streams_in, streams_out, window_s=0.1, pairs=None):
    """Pairs relayed packets (see the module doc) and returns the relay delay statistics.
    With `pairs` (IN destination port -> OUT source port) the streams are paired by port."""
    # Every IN packet by payload: payload -> sorted [(time, stream index)].
    ins = list(streams_in.values())
    in_index_by_dport = {k[2]: i for i, k in enumerate(streams_in)}
    by_out = {v: k for k, v in (pairs or {}).items()}
    by_payload = collections.defaultdict(list)
    total = 0
    for i, (times, _, pays) in enumerate(ins):
        total += len(times)
        for t, h in zip(times, pays):
            by_payload[h].append((t, i))
    # Payloads that half the streams share (silence) say nothing about the pairing.
    common = max(50, total // 20)
    for v in by_payload.values():
        v.sort()
    delays = []
    matched = 0
    unpaired_streams = 0
    out_unmatched = 0
    in_not_relayed = 0
    out_missing_in_seen = 0
    out_missing_in_absent = 0
    paired_in = set()
    for key, (times, seqs, pays) in streams_out.items():
        votes = collections.Counter()
        if pairs is not None:
            i = in_index_by_dport.get(by_out.get(key[1]))
            if i is not None:
                votes[i] = 1
        for t, h in ([] if pairs is not None else zip(times, pays)):
            cand = by_payload.get(h)
            if not cand or len(cand) > common:
                continue
            k = bisect.bisect_right(cand, (t, len(ins)))
            if k and t - cand[k - 1][0] <= window_s:
                votes[cand[k - 1][1]] += 1  # the nearest earlier packet with this payload
        if not votes:
            unpaired_streams += 1
            out_unmatched += len(times)
            continue
        i = votes.most_common(1)[0][0]
        paired_in.add(i)
        in_times, in_seqs, in_pays = ins[i]
        # Sequence offset of the pair: the most common difference of payload matches.
        in_by_pay = collections.defaultdict(list)
        for t, q, h in zip(in_times, in_seqs, in_pays):
            in_by_pay[h].append((t, q))
        diffs = collections.Counter()
        for t, q, h in zip(times, seqs, pays):
            for ti, qi in in_by_pay.get(h, ()):
                if 0 <= t - ti <= window_s:
                    diffs[(q - qi) & 0xFFFF] += 1
        if not diffs:
            unpaired_streams += 1
            out_unmatched += len(times)
            continue
        off = diffs.most_common(1)[0][0]
        in_at = {}
        for t, q in zip(in_times, in_seqs):
            in_at.setdefault(q, t)
        out_seqs = set()
        # OUT packets missing inside the stream: was their IN packet captured?
        for a, b in zip(seqs, seqs[1:]):
            d = (b - a) & 0xFFFF
            if 1 < d < 0x8000:
                for q in range(a + 1, a + d):
                    if ((q - off) & 0xFFFF) in in_at:
                        out_missing_in_seen += 1
                    else:
                        out_missing_in_absent += 1
        for t, q in zip(times, seqs):
            ti = in_at.get((q - off) & 0xFFFF)
            out_seqs.add((q - off) & 0xFFFF)
            if ti is None or not 0 <= t - ti <= 1.0:
                out_unmatched += 1
                continue
            matched += 1
            delays.append((t - ti) * 1000.0)
        # IN packets well inside the OUT stream's span that never came out.
        lo, hi = times[0] + 0.2, times[-1] - 0.2
        for t, q in zip(in_times, in_seqs):
            if lo <= t <= hi and q not in out_seqs:
                in_not_relayed += 1
    delays.sort()
    r = lambda v: None if v is None else round(v, 3)
    return {
        "out_streams": len(streams_out),
        "in_streams": len(streams_in),
        "paired_by": "sip" if pairs is not None else "payload",
        "pairs": len(paired_in),
        "unpaired_out_streams": unpaired_streams,
        "matched": matched,
        "out_unmatched": out_unmatched,
        "in_not_relayed": in_not_relayed,
        "out_missing_in_seen": out_missing_in_seen,
        "out_missing_in_absent": out_missing_in_absent,
        "delay_ms": {
            "p50": r(percentile(delays, 50)),
            "p99": r(percentile(delays, 99)),
            "p99_9": r(percentile(delays, 99.9)),
            "max": r(delays[-1] if delays else None),
            "min": r(delays[0] if delays else None),
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture")
    ap.add_argument("--group", action="append", required=True, metavar="NAME=LO-HI[:DST[-DHI]]",
                    help="streams whose UDP source port is in LO..HI (and destination port is DST, or in DST..DHI)")
    ap.add_argument("--relay", action="append", default=[], metavar="NAME=IN:OUT",
                    help="time the relay from group IN (received by the daemon) to group OUT (sent by it)")
    ap.add_argument("--sip", metavar="SIP.pcap",
                    help="the daemon's SIP messages: pair --relay streams by their ports (see above)")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args()
    groups = []
    for g in a.group:
        try:
            name, rng = g.split("=", 1)
            rng, _, dst = rng.partition(":")
            lo, hi = (int(x) for x in rng.split("-", 1))
            if dst:
                dlo, _, dhi = dst.partition("-")
                dlo = int(dlo)
                dhi = int(dhi) if dhi else dlo
            else:
                dlo = dhi = None
        except ValueError:
            raise SystemExit(f"--group: expected NAME=LO-HI[:DST[-DHI]], found {g!r}")
        groups.append((name, lo, hi, dlo, dhi))
    res, streams = analyse(a.capture, groups)
    relays = {}
    pairs = sip_pairs(a.sip) if a.sip else None
    for rl in a.relay:
        try:
            name, pair = rl.split("=", 1)
            gin, gout = pair.split(":", 1)
            relays[name] = relay_delay(streams[gin], streams[gout], pairs=pairs)
        except (ValueError, KeyError):
            raise SystemExit(f"--relay: expected NAME=IN:OUT naming two groups, found {rl!r}")
    if relays:
        res["relays"] = relays
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    for name, v in res.items():
        if name == "relays":
            continue
        g = v["gap_ms"]
        d = v["abs_dev_ms"]
        print(f"{name:8} streams {v['streams']:5}  packets {v['packets']:8}  "
              f"gap p50 {g['p50']} p99 {g['p99']} p99.9 {g['p99_9']} max {g['max']} min {g['min']} ms  "
              f"|dev| p99 {d['p99']} ms  seq missing {v['seq_missing']}")
    for name, v in relays.items():
        d = v["delay_ms"]
        print(f"{name:8} pairs ({v['paired_by']}) {v['pairs']:5} of {v['out_streams']} out streams  matched {v['matched']}  "
              f"delay p50 {d['p50']} p99 {d['p99']} p99.9 {d['p99_9']} max {d['max']} ms  "
              f"out unmatched {v['out_unmatched']}  in not relayed {v['in_not_relayed']}  "
              f"out missing: in seen {v['out_missing_in_seen']}, in never seen {v['out_missing_in_absent']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
