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

Usage:
  rtp_gaps.py CAPTURE.pcap --group daemon=61000-65534:9000 --group ref=12000-13998:11998 [--json OUT]
"""

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
    streams = {name: {} for name, _, _, _ in groups}  # name -> key -> [times, seqs]
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
        for name, lo, hi, dst in groups:
            if lo <= sport <= hi and (dst is None or dport == dst):
                seq = struct.unpack_from(">H", rtp, 2)[0]
                ssrc = struct.unpack_from(">I", rtp, 8)[0]
                key = (bytes(ip[12:16]), sport, dport, ssrc)
                s = streams[name].get(key)
                if s is None:
                    s = streams[name][key] = ([], [])
                s[0].append(t)
                s[1].append(seq)
                break
    out = {}
    for name, _, _, _ in groups:
        gaps = []
        lost = 0
        out_of_order = 0
        packets = 0
        first = None
        last = None
        for times, seqs in streams[name].values():
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
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture")
    ap.add_argument("--group", action="append", required=True, metavar="NAME=LO-HI[:DST]",
                    help="streams whose UDP source port is in LO..HI (and destination port is DST)")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args()
    groups = []
    for g in a.group:
        try:
            name, rng = g.split("=", 1)
            rng, _, dst = rng.partition(":")
            lo, hi = (int(x) for x in rng.split("-", 1))
            dst = int(dst) if dst else None
        except ValueError:
            raise SystemExit(f"--group: expected NAME=LO-HI[:DST], found {g!r}")
        groups.append((name, lo, hi, dst))
    res = analyse(a.capture, groups)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    for name, v in res.items():
        g = v["gap_ms"]
        d = v["abs_dev_ms"]
        print(f"{name:8} streams {v['streams']:5}  packets {v['packets']:8}  "
              f"gap p50 {g['p50']} p99 {g['p99']} p99.9 {g['p99_9']} max {g['max']} min {g['min']} ms  "
              f"|dev| p99 {d['p99']} ms  seq missing {v['seq_missing']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
