#!/usr/bin/env python3
"""Writes the sample form PDFs shipped with ugyelet (one page, Helvetica, a few lines).

Run: python3 config/forms/make_samples.py (it writes next to itself)
The PDFs are minimal but valid (PDF 1.4, correct xref offsets). Text is WinAnsiEncoding,
which has á é í ó ö ú ü; ő ű Ő Ű are added with a /Differences array on four codes
WinAnsiEncoding leaves unused (Helvetica has those glyphs, and their names tell text
extraction which letters they are).
"""
import pathlib

FORMS = {
    "tajekoztato": ("Ügyintézési tájékoztató: mit hozzon magával",
                    ["Személyi igazolvány vagy útlevél", "Lakcímkártya",
                     "A kitöltött nyomtatvány", "Meghatalmazás, ha mást képvisel"]),
    "lakcim": ("Lakcímbejelentés",
               ["Név:", "Születési hely, idő:", "Új lakcím:", "Bejelentés kelte:",
                "Szállásadó hozzájárulása:"]),
    "gepjarmuado": ("Gépjárműadó bevallás",
                    ["Adózó neve:", "Adóazonosító jel:", "Forgalmi rendszám:",
                     "Gyártmány, típus:"]),
    "epitesi": ("Építési engedély kérelem",
                ["Építtető neve:", "Építés helye (helyrajzi szám):",
                 "Tervezett munka leírása:", "Mellékletek:"]),
    "szocialis": ("Települési támogatás kérelem",
                  ["Kérelmező neve:", "Lakcím:", "Háztartásban élők száma:",
                   "Havi nettó jövedelem:"]),
}

# Codes undefined in WinAnsiEncoding -> the Hungarian letters it lacks, by glyph name.
EXTRA = {0x81: ("ő", "ohungarumlaut"), 0x8D: ("ű", "uhungarumlaut"),
         0x8F: ("Ő", "Ohungarumlaut"), 0x90: ("Ű", "Uhungarumlaut")}
DIFFERENCES = " ".join("%d /%s" % (code, name) for code, (_, name) in EXTRA.items())


def encode(s):
    extra = {ch: code for code, (ch, _) in EXTRA.items()}
    return bytes(extra[c] if c in extra else c.encode("cp1252")[0] for c in s)


def pdf_text(s):
    out = []
    for b in encode(s):
        if b in (0x28, 0x29, 0x5C):
            out.append("\\" + chr(b))
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            out.append("\\%03o" % b)
    return "(" + "".join(out) + ")"

def make(title, lines):
    ops = ["BT", "/F1 18 Tf", "72 760 Td", pdf_text(title) + " Tj", "/F1 11 Tf",
           "0 -18 Td", pdf_text("Polgármesteri Hivatal - minta nyomtatvány") + " Tj"]
    for line in lines:
        ops += ["0 -36 Td", pdf_text(line + " ______________________________") + " Tj"]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding "
        b"<< /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [" + DIFFERENCES.encode() + b"] >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        # Document strings are PDFDocEncoding or UTF-16BE with a byte order mark.
        b"<< /Title <FEFF" + title.encode("utf-16-be").hex().upper().encode() + b"> /Producer (ugyelet) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)
    return bytes(out)

if __name__ == "__main__":
    here = pathlib.Path(__file__).resolve().parent
    for fid, (title, lines) in FORMS.items():
        (here / f"{fid}.pdf").write_bytes(make(title, lines))
