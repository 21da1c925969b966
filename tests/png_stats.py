#!/usr/bin/python3
"""Pixel statistics of a PNG screenshot, with no library beyond zlib (Chromium writes 8-bit RGB
or RGBA, non-interlaced): prints width, height, the share of pixels that are not near-white,
the number of distinct colours and the standard deviation of the grey level.

    png_stats.py shot.png  ->  "1280 1800 nonwhite=0.0912 colours=1234 std=41.2"
"""
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = header
    if depth != 8 or ctype not in (2, 6) or interlace:
        sys.exit(f"{path}: unsupported PNG (depth {depth}, colour type {ctype})")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # the PNG filters (RFC 2083, 6.2-6.6)
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    width, height, bpp, rows = decode(sys.argv[1])
    nonwhite, colours, total, s, s2 = 0, set(), 0, 0.0, 0.0
    for y in range(0, height, 2):  # every other row and column: plenty for statistics
        row = rows[y]
        for x in range(0, width, 2):
            r, g, b = row[x * bpp:x * bpp + 3]
            colours.add((r, g, b))
            grey = (r + g + b) / 3
            nonwhite += grey < 235
            s += grey
            s2 += grey * grey
            total += 1
    mean = s / total
    std = max(s2 / total - mean * mean, 0) ** 0.5
    print(f"{width} {height} nonwhite={nonwhite / total:.4f} colours={len(colours)} std={std:.1f}")


main()
