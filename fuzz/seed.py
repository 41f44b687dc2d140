#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ from files the
repository already has, so the corpus need not be committed:

  sip_msg     the RFC 4475 torture messages (tests/vectors/rfc4475/*.sip)
  sdp_answer  the real user agents' offers in src/sdp/fixtures.rs
  rtp_packet  PCMA, PCMU and RFC 4733 packets, with CSRCs, extension, padding, marker
  dialplan    the shipped dialplans/main.toml
  knowledge   the shipped articles, knowledge/*.md
  calendar    the shipped calendar in the target's layout: a "today" byte, then the
              files schedules, closures, hu-2026, hu-2027 separated by NUL bytes

Run from anywhere: python3 fuzz/seed.py
"""
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def rust_str(body):
    """The value of a Rust string literal body with \\-newline continuations."""
    body = re.sub(r"\\\n\s*", "", body)
    out, i = [], 0
    escapes = {"r": "\r", "n": "\n", "t": "\t", '"': '"', "\\": "\\", "0": "\0"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] in escapes:
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def rtp(pt, seq, ts, ssrc, payload, marker=False, csrcs=(), ext=None, pad=0):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrcs)
    b1 = (0x80 if marker else 0) | pt
    out = struct.pack("!BBHII", b0, b1, seq, ts, ssrc)
    for c in csrcs:
        out += struct.pack("!I", c)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out


def main():
    for f in sorted((ROOT / "tests" / "vectors" / "rfc4475").glob("*.sip")):
        put("sip_msg", f.stem, f.read_bytes())

    fixtures = (ROOT / "src" / "sdp" / "fixtures.rs").read_text()
    for name, body in re.findall(r'pub const (\w+): &str = "(.*?)";\n', fixtures, re.S):
        put("sdp_answer", name.lower(), rust_str(body).encode())

    put("rtp_packet", "pcma", rtp(8, 7, 160, 0x1234, b"\xd5" * 160))
    put("rtp_packet", "pcmu_marker", rtp(0, 1, 0, 0xCAFE, b"\xff" * 160, marker=True))
    # RFC 4733: digit 5, volume 10, duration 400, then the end flag.
    put("rtp_packet", "dtmf_start", rtp(101, 9, 800, 0x1234, bytes([5, 10, 0, 160]), marker=True))
    put("rtp_packet", "dtmf_end", rtp(101, 12, 800, 0x1234, bytes([5, 0x8A, 3, 32])))
    put("rtp_packet", "dtmf_redundant", rtp(101, 13, 800, 0x1234, bytes([11, 0x8A, 3, 32, 5, 0x8A, 1, 144])))
    put("rtp_packet", "csrc_ext_pad", rtp(8, 3, 480, 0x99, b"\xd5" * 40, csrcs=(1, 2), ext=b"\x10\xff\0\0", pad=4))
    put("rtp_packet", "event_payload_only", bytes([11, 0x8A, 3, 32]))

    put("dialplan", "main", (ROOT / "dialplans" / "main.toml").read_bytes())

    for f in sorted((ROOT / "knowledge").glob("*.md")):
        if f.name != "README.md":
            put("knowledge", f.stem, f.read_bytes())

    cal = ROOT / "dialplans" / "calendar"
    files = [cal / n for n in ("schedules.toml", "closures.toml", "hu-2026.toml", "hu-2027.toml")]
    # 2024-01-01 + 8 * 120 days = 2026-08-18: close to the September next-year check.
    for day in (0, 90, 120, 130):
        put("calendar", f"shipped_{day}", bytes([day]) + b"\0".join(f.read_bytes() for f in files))


if __name__ == "__main__":
    main()
