"""BMP, GIF and TIFF samples for tests/core/data/load (used by
load_goldens.py, which computes ComfyUI's LoadImage result for each).

Pillow 9.4 writes what it can (1/L/P/RGB/RGBA BMP, P/L and animated GIF,
most TIFF modes); the layouts Pillow does not write are built here byte by
byte: BMP with 4-bit and OS/2 palettes, RLE8/RLE4, top-down rows, 16-bit
5-5-5 and 5-6-5, 32-bit BGRA bitfields; GIFs with chosen disposal
methods, transparent indices, local palettes, sub-rectangle frames and no
colour table at all (LZW written as literal codes with regular clears).
"""
import ctypes
import ctypes.util
import os
import struct

import numpy as np
from PIL import Image


def pattern(h, w, c, seed):
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c),
                           indexing="ij")
    return ((x * 53 + y * 97 + ch * 71 + seed * 13) % 256).astype(np.uint8)


# ------------------------------------------------------------------ BMP

def bmp_file(w, h, bits, data, palette=None, comp=0, hsize=40, masks=None,
             topdown=False):
    if hsize == 12:
        head = struct.pack("<IHHHH", 12, w, h, 1, bits)
        pal = b"".join(bytes((b, g, r)) for r, g, b in palette or [])
    else:
        head = struct.pack("<IiiHHIIiiII", hsize, w, -h if topdown else h, 1,
                           bits, comp, len(data), 2835, 2835,
                           len(palette) if palette else 0, 0)
        if hsize > 40:
            head += struct.pack("<4I", *(masks or (0, 0, 0, 0)))
            head += b"\0" * (hsize - len(head))
        pal = b"".join(bytes((b, g, r, 0)) for r, g, b in palette or [])
    extra = b""
    if comp == 3 and hsize == 40:
        extra = struct.pack("<3I", *masks[:3])
    offset = 14 + len(head) + len(extra) + len(pal)
    return (b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) +
            head + extra + pal + data)


def bmp_rows(rows, bits):
    """Packs rows of ints (indices or 16/24/32-bit values) bottom-up."""
    out = b""
    for row in rows[::-1]:
        if bits in (1, 4):
            per = 8 // bits
            b = bytearray((len(row) + per - 1) // per)
            for i, v in enumerate(row):
                b[i // per] |= v << (8 - bits - (i % per) * bits)
            b = bytes(b)
        elif bits == 8:
            b = bytes(row)
        elif bits == 16:
            b = b"".join(struct.pack("<H", v) for v in row)
        elif bits == 24:
            b = b"".join(struct.pack("<I", v)[:3] for v in row)
        else:
            b = b"".join(struct.pack("<I", v) for v in row)
        out += b + b"\0" * (-len(b) % 4)
    return out


def bmp_samples(add_bytes, add):
    rnd = np.random.RandomState(7)
    pal2 = [(200, 10, 30), (5, 250, 100)]
    idx = rnd.randint(0, 2, (5, 9)).tolist()
    add_bytes("bmp_p1.bmp", bmp_file(9, 5, 1, bmp_rows(idx, 1), pal2))
    pal16 = [tuple(int(v) for v in rnd.randint(0, 256, 3)) for _ in range(16)]
    idx = rnd.randint(0, 16, (5, 7)).tolist()
    add_bytes("bmp_p4.bmp", bmp_file(7, 5, 4, bmp_rows(idx, 4), pal16))
    pal200 = [tuple(int(v) for v in rnd.randint(0, 256, 3))
              for _ in range(200)]
    idx = rnd.randint(0, 256, (4, 6)).tolist()   # some past the palette
    add_bytes("bmp_os2.bmp", bmp_file(6, 4, 8, bmp_rows(idx, 8), pal200,
                                      hsize=12))
    add("bmp_1bw.bmp", Image.fromarray(pattern(5, 9, 1, 30)[..., 0] > 100))
    add("bmp_p8.bmp", Image.fromarray(pattern(5, 7, 3, 31)).quantize(12))
    add("bmp_l8.bmp", Image.fromarray(pattern(5, 7, 1, 32)[..., 0], "L"))
    add("bmp_rgb24.bmp", Image.fromarray(pattern(5, 7, 3, 33)))
    add("bmp_rgba32.bmp", Image.fromarray(pattern(5, 7, 4, 34), "RGBA"))
    px = pattern(4, 5, 3, 35).astype(np.uint32)
    rows = (px[..., 0] << 16 | px[..., 1] << 8 | px[..., 2]).tolist()
    data = bmp_rows(rows, 24)
    # top-down: the same rows stored first-row-first
    data_td = b"".join(data[i * 16:(i + 1) * 16] for i in range(3, -1, -1))
    add_bytes("bmp_topdown.bmp", bmp_file(5, 4, 24, data_td, topdown=True))
    v = rnd.randint(0, 65536, (4, 5)).tolist()
    add_bytes("bmp_555.bmp", bmp_file(5, 4, 16, bmp_rows(v, 16)))
    add_bytes("bmp_565.bmp", bmp_file(5, 4, 16, bmp_rows(v, 16), comp=3,
                                      masks=(0xF800, 0x7E0, 0x1F)))
    px = pattern(4, 5, 4, 36).astype(np.uint32)
    rows = (px[..., 3] << 24 | px[..., 0] << 16 | px[..., 1] << 8 |
            px[..., 2]).tolist()
    add_bytes("bmp_bgra_v5.bmp", bmp_file(
        5, 4, 32, bmp_rows(rows, 32), comp=3, hsize=124,
        masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)))
    # RLE8 (8x4): runs, an odd absolute run (padded), end of line, delta
    rle8 = bytes([
        3, 5, 0, 5, 9, 8, 7, 6, 4, 0,              # row 0 (bottom)
        0, 0,                                      # (line already full)
        8, 2,                                      # row 1
        2, 1, 0, 0,                                # row 2: 2 px, end of line
        0, 2, 3, 0,                                # delta: 3 right (zeros)
        5, 6,                                      # row 3
        0, 1])
    pal8 = [tuple(int(v) for v in rnd.randint(0, 256, 3)) for _ in range(10)]
    add_bytes("bmp_rle8.bmp", bmp_file(8, 4, 8, rle8, pal8, comp=1))
    rle4 = bytes([
        5, 0x12, 0, 4, 0x34, 0x56, 0, 0,             # row 0: 5 + 4 = 9 px
        9, 0x7A,                                     # row 1
        0, 0, 2, 0xF0, 0, 0,                         # row 1 ends; row 2
        0, 1])
    pal16b = [tuple(int(v) for v in rnd.randint(0, 256, 3))
              for _ in range(16)]
    add_bytes("bmp_rle4.bmp", bmp_file(9, 3, 4, rle4, pal16b, comp=2))


# ------------------------------------------------------------------ GIF

def lzw_literal(indices, min_bits=8):
    """GIF LZW data made of literal codes, clearing before the code size
    would grow, as sub-blocks with their terminator."""
    clear, eoi, size = 1 << min_bits, (1 << min_bits) + 1, min_bits + 1
    per = (1 << size) - clear - 2
    codes = []
    for i, v in enumerate(indices):
        if i % per == 0:
            codes.append(clear)
        codes.append(int(v))
    codes.append(eoi)
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += size
        while nbits >= 8:
            out.append(acc & 255)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 255)
    blocks = b""
    for i in range(0, len(out), 255):
        chunk = bytes(out[i:i + 255])
        blocks += bytes([len(chunk)]) + chunk
    return bytes([min_bits]) + blocks + b"\0"


def gif_palette(colors, bits):
    flat = b"".join(bytes(c) for c in colors)
    return flat + b"\0" * (3 * (1 << bits) - len(flat))


def gif_file(w, h, frames, global_pal=None, gbits=2, background=0):
    """frames: dicts with x, y, w, h, idx (list), and optional dispose,
    trans, pal (local colours), pbits, interlace, gce (False: none)."""
    flags = (0x80 | (gbits - 1)) if global_pal else 0
    out = b"GIF89a" + struct.pack("<HHBBB", w, h, flags, background, 0)
    if global_pal:
        out += gif_palette(global_pal, gbits)
    for f in frames:
        if f.get("gce", True):
            pflags = (f.get("dispose", 0) << 2) | (1 if "trans" in f else 0)
            out += b"!\xf9\x04" + struct.pack("<BHB", pflags, 10,
                                               f.get("trans", 0)) + b"\0"
        lflags = 0
        if "pal" in f:
            lflags = 0x80 | (f["pbits"] - 1)
        out += b"," + struct.pack("<HHHHB", f["x"], f["y"], f["w"], f["h"],
                                  lflags)
        if "pal" in f:
            out += gif_palette(f["pal"], f["pbits"])
        out += lzw_literal(f["idx"])
    return out + b";"


def gif_samples(add_bytes, add):
    add("gif_p.gif", Image.fromarray(pattern(5, 7, 3, 40)).quantize(16))
    pt = Image.fromarray(pattern(5, 7, 3, 41)).quantize(8)
    add("gif_trns.gif", pt, transparency=2)
    add("gif_l.gif", Image.fromarray(pattern(5, 7, 1, 42)[..., 0], "L"))
    add("gif_interlace.gif",
        Image.fromarray(pattern(18, 20, 3, 43)).quantize(32))
    frames = []
    for k in range(4):
        a = pattern(10, 12, 3, 44).copy()
        a[2 + k:6 + k, 3:8 + k] = (40 * k, 255 - 30 * k, 90)
        frames.append(Image.fromarray(a))
    add("gif_anim.gif", frames[0], save_all=True, append_images=frames[1:],
        duration=50, disposal=[1, 2, 3, 1])
    frames = []
    for k in range(3):
        a = pattern(9, 11, 4, 45 + k).copy()
        a[..., 3] = 255
        a[1:4 + k, 2:6, 3] = 0
        frames.append(Image.fromarray(a, "RGBA"))
    add("gif_anim_trns.gif", frames[0], save_all=True,
        append_images=frames[1:], duration=50, disposal=2)
    rnd = np.random.RandomState(11)
    g = [(10, 20, 30), (200, 100, 0), (0, 255, 0), (255, 255, 255)]
    loc = [(9, 9, 9), (90, 0, 90), (0, 0, 250), (250, 250, 0)]

    def idx(n, hi):
        return rnd.randint(0, hi, n).tolist()

    add_bytes("gif_dispose.gif", gif_file(8, 6, [
        dict(x=0, y=0, w=8, h=6, idx=idx(48, 4), trans=0, dispose=2),
        dict(x=2, y=1, w=4, h=3, idx=idx(12, 4), trans=3, dispose=3,
             pal=loc, pbits=2),
        dict(x=1, y=1, w=5, h=4, idx=idx(20, 4), gce=False),
        dict(x=3, y=2, w=3, h=3, idx=idx(9, 4), dispose=1, trans=1),
        dict(x=0, y=0, w=8, h=2, idx=idx(16, 4), dispose=2),
        dict(x=4, y=3, w=2, h=2, idx=idx(4, 4)),
    ], global_pal=g, background=1))
    add_bytes("gif_opaque.gif", gif_file(7, 5, [
        dict(x=0, y=0, w=7, h=5, idx=idx(35, 4), dispose=2),
        dict(x=1, y=1, w=3, h=3, idx=idx(9, 4), dispose=3, trans=2),
        dict(x=2, y=0, w=4, h=2, idx=idx(8, 4), trans=1, dispose=2),
        dict(x=0, y=3, w=7, h=2, idx=idx(14, 4)),
    ], global_pal=g, background=2))
    # no colour table: mode L all along, later frames skip their
    # transparent index
    add_bytes("gif_grey.gif", gif_file(6, 4, [
        dict(x=0, y=0, w=6, h=4, idx=idx(24, 256), dispose=1),
        dict(x=1, y=1, w=3, h=2, idx=[7, 7, 200, 7, 90, 91], trans=7,
             dispose=2),
        dict(x=0, y=2, w=6, h=2, idx=idx(12, 256), trans=5),
    ]))
    # later frames reaching past the screen: clipped to the canvas
    add_bytes("gif_grow.gif", gif_file(6, 4, [
        dict(x=0, y=0, w=6, h=4, idx=idx(24, 4), dispose=3),
        dict(x=4, y=2, w=4, h=3, idx=idx(12, 4), trans=0),
        dict(x=0, y=0, w=2, h=2, idx=idx(4, 4), dispose=2),
        dict(x=5, y=1, w=3, h=3, idx=idx(9, 4)),
    ], global_pal=g))
    # ... and in an L sequence, end the frames LoadImage keeps
    add_bytes("gif_grow_grey.gif", gif_file(5, 4, [
        dict(x=0, y=0, w=5, h=4, idx=idx(20, 256)),
        dict(x=1, y=1, w=2, h=2, idx=idx(4, 256)),
        dict(x=3, y=2, w=4, h=2, idx=idx(8, 256)),
        dict(x=0, y=0, w=2, h=2, idx=idx(4, 256)),
    ]))
    # a local table that is the grey ramp: Pillow calls frame 0 "L" but
    # draws it with the global colours, and LoadImage's copy is "P"
    ramp = [(i, i, i) for i in range(4)]
    add_bytes("gif_ramp_local.gif", gif_file(5, 4, [
        dict(x=0, y=0, w=5, h=4, idx=idx(20, 4), trans=2, pal=ramp,
             pbits=2, dispose=1),
        dict(x=1, y=1, w=3, h=2, idx=idx(6, 4), trans=0),
        dict(x=0, y=2, w=4, h=2, idx=idx(8, 4), pal=loc, pbits=2),
    ], global_pal=g))
    # grey first frame, then a palette frame (new canvas, grey-ramp
    # palette), then RGB frames with their own colours
    add_bytes("gif_grey_then_pal.gif", gif_file(6, 3, [
        dict(x=0, y=0, w=6, h=3, idx=idx(18, 256)),
        dict(x=1, y=0, w=3, h=2, idx=idx(6, 4), pal=loc, pbits=2,
             dispose=2),
        dict(x=2, y=1, w=4, h=2, idx=idx(8, 4), pal=loc, pbits=2, trans=1),
    ]))
    # a grey frame 0 (no mask of its own) with a transparent index, then a
    # palette frame (a "P" canvas: a mask from that index): LoadImage
    # cannot stack the 64x64 and 3x4 masks, LoadImageMask reads frame 0;
    # not in the manifest
    with open(os.path.join(add.out_dir, "gif_mixed.gif"), "wb") as f:
        f.write(gif_file(4, 3, [
            dict(x=0, y=0, w=4, h=3, idx=idx(12, 256), trans=5),
            dict(x=1, y=1, w=2, h=2, idx=[1, 2, 3, 5], pal=loc, pbits=2),
        ]))
    # frame 0 smaller than the screen and offset; one frame
    add_bytes("gif_offset.gif", gif_file(6, 5, [
        dict(x=2, y=1, w=3, h=3, idx=idx(9, 4), trans=3),
    ], global_pal=g))


# ----------------------------------------------------------------- TIFF

def tiff_file(w, h, bps, photometric, planes, tags=(), tile=None):
    """An uncompressed little-endian TIFF.  planes: one bytes object of
    contiguous rows (planar config 1) or one per sample (config 2); with
    tile=(tw, th) the single plane is cut into tiles of 8-bit samples.
    tags: extra (tag, type, values) entries (3 SHORT, 4 LONG)."""
    spp = next((v[0] for t, _, v in tags if t == 277), 1)
    blobs, entries = [], []
    if tile:
        tw, th = tile
        bpp = spp * bps // 8
        rows = planes[0]
        for ty in range(0, h, th):
            for tx in range(0, w, tw):
                t = b""
                for y in range(ty, ty + th):
                    line = b""
                    if y < h:
                        line = rows[(y * w + tx) * bpp:
                                    (y * w + min(tx + tw, w)) * bpp]
                    t += line + b"\0" * (tw * bpp - len(line))
                blobs.append(t)
    else:
        blobs = list(planes)
    pos = 8
    offsets = []
    for b in blobs:
        offsets.append(pos)
        pos += len(b) + (len(b) & 1)
    entries += [(256, 4, [w]), (257, 4, [h]), (258, 3, [bps] * spp),
                (259, 3, [1]), (262, 3, [photometric])]
    if tile:
        entries += [(322, 4, [tile[0]]), (323, 4, [tile[1]]),
                    (324, 4, offsets), (325, 4, [len(b) for b in blobs])]
    else:
        entries += [(273, 4, offsets), (278, 4, [h]),
                    (279, 4, [len(b) for b in blobs])]
    if len(planes) > 1:
        entries.append((284, 3, [2]))
    entries += list(tags)
    entries.sort(key=lambda e: e[0])
    ifd = pos
    extra_pos = ifd + 2 + 12 * len(entries) + 4
    body, extra = b"", b""
    for tag, typ, vals in entries:
        raw = b"".join(struct.pack("<H" if typ == 3 else "<I", v)
                       for v in vals)
        if len(raw) <= 4:
            field = raw + b"\0" * (4 - len(raw))
        else:
            field = struct.pack("<I", extra_pos + len(extra))
            extra += raw + b"\0" * (len(raw) & 1)
        body += struct.pack("<HHI", tag, typ, len(vals)) + field
    out = b"II*\0" + struct.pack("<I", ifd)
    for b in blobs:
        out += b + b"\0" * (len(b) & 1)
    return (out + struct.pack("<H", len(entries)) + body + b"\0" * 4 +
            extra)


def pack_bits(v, bps):
    """Rows of small ints packed MSB first, each row byte-aligned."""
    out = b""
    for row in v:
        acc = bytearray((len(row) * bps + 7) // 8)
        for i, x in enumerate(row):
            bit = i * bps
            acc[bit // 8] |= int(x) << (8 - bps - bit % 8)
        out += bytes(acc)
    return out


def tiff_handmade(add_bytes):
    rnd = np.random.RandomState(5)
    g8 = pattern(4, 6, 1, 80)[..., 0]
    add_bytes("tif_minwhite8.tif", tiff_file(6, 4, 8, 0, [g8.tobytes()]))
    b1 = rnd.randint(0, 2, (3, 11))
    add_bytes("tif_minwhite1.tif", tiff_file(11, 3, 1, 0,
                                             [pack_bits(b1, 1)]))
    g4 = rnd.randint(0, 16, (3, 7))
    add_bytes("tif_grey4.tif", tiff_file(7, 3, 4, 1, [pack_bits(g4, 4)]))
    rgb16 = rnd.randint(0, 65536, (3, 4, 3)).astype("<u2")
    add_bytes("tif_rgb16.tif", tiff_file(4, 3, 16, 2, [rgb16.tobytes()],
                                         [(277, 3, [3])]))
    a = pattern(3, 5, 4, 81)
    add_bytes("tif_rgba_assoc.tif", tiff_file(
        5, 3, 8, 2, [a.tobytes()], [(277, 3, [4]), (338, 3, [1])]))
    add_bytes("tif_rgbx.tif", tiff_file(
        5, 3, 8, 2, [pattern(3, 5, 4, 82).tobytes()],
        [(277, 3, [4]), (338, 3, [0])]))
    pl = pattern(3, 5, 3, 83)
    add_bytes("tif_planar.tif", tiff_file(
        5, 3, 8, 2, [pl[..., k].tobytes() for k in range(3)],
        [(277, 3, [3])]))
    add_bytes("tif_tiled.tif", tiff_file(
        20, 18, 8, 2, [pattern(18, 20, 3, 84).tobytes()], [(277, 3, [3])],
        tile=(16, 16)))
    s16 = ((pattern(3, 5, 1, 85)[..., 0].astype(np.int32) - 60) * 211
           ).astype("<i2")
    add_bytes("tif_i16s.tif", tiff_file(5, 3, 16, 1, [s16.tobytes()],
                                        [(339, 3, [2])]))


def tiff_ycbcr_jpeg(path, rgb, sub):
    """A JPEG-in-TIFF YCbCr file (what scanners write; Pillow cannot),
    written with the system libtiff through ctypes."""
    lib = ctypes.CDLL(ctypes.util.find_library("tiff"))
    lib.TIFFOpen.restype = ctypes.c_void_p
    lib.TIFFOpen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    h, w = rgb.shape[:2]
    t = ctypes.c_void_p(lib.TIFFOpen(path.encode(), b"w"))
    u, i = ctypes.c_uint, ctypes.c_int
    for tag, *vals in [(256, w), (257, h), (258, 8), (277, 3), (284, 1),
                       (259, 7), (262, 6), (530, sub, sub), (278, 16),
                       (65538, 1), (65537, 85)]:  # JPEGCOLORMODE RGB, quality
        lib.TIFFSetField(t, u(tag), *[i(v) for v in vals])
    for y in range(h):
        row = np.ascontiguousarray(rgb[y])
        lib.TIFFWriteScanline(t, row.ctypes.data_as(ctypes.c_void_p), u(y),
                              ctypes.c_ushort(0))
    lib.TIFFClose(t)


def tiff_samples(add_bytes, add):
    tiff_handmade(add_bytes)
    for sub in (1, 2):
        name = f"tif_ycbcr_jpeg{sub}.tif"
        out = os.path.join(add.out_dir, name)
        tiff_ycbcr_jpeg(out, pattern(13, 19, 3, 90 + sub), sub)
        add.files.append(name)
    add("tif_rgb.tif", Image.fromarray(pattern(5, 7, 3, 50)))
    add("tif_rgba_lzw.tif", Image.fromarray(pattern(5, 7, 4, 51), "RGBA"),
        compression="tiff_lzw")
    add("tif_l_deflate.tif", Image.fromarray(pattern(5, 7, 1, 52)[..., 0],
                                             "L"),
        compression="tiff_adobe_deflate")
    add("tif_1.tif", Image.fromarray(pattern(5, 11, 1, 53)[..., 0] > 90),
        compression="packbits")
    i16 = (pattern(4, 6, 1, 54)[..., 0].astype(np.uint16) * 3)
    add("tif_i16.tif", Image.fromarray(i16))
    i32 = (pattern(4, 6, 1, 55)[..., 0].astype(np.int32) - 40) * 331
    add("tif_i32.tif", Image.fromarray(i32, "I"))
    f32 = (pattern(4, 6, 1, 56)[..., 0].astype(np.float32) * 1.37 - 20.5)
    add("tif_f.tif", Image.fromarray(f32, "F"))
    add("tif_p.tif", Image.fromarray(pattern(5, 7, 3, 57)).quantize(20))
    add("tif_cmyk.tif", Image.fromarray(pattern(4, 6, 4, 58), "CMYK"))
    add("tif_la.tif", Image.fromarray(pattern(4, 6, 2, 59), "LA"))
    add("tif_orient6.tif", Image.fromarray(pattern(4, 6, 3, 60)),
        tiffinfo={274: 6})
    pages = [Image.fromarray(pattern(4, 5, 3, 61 + k)) for k in range(3)]
    pages.insert(2, Image.fromarray(pattern(3, 3, 3, 70)))  # skipped
    add("tif_pages.tif", pages[0], save_all=True, append_images=pages[1:])


def add_all(out_dir, files):
    def add_bytes(name, data):
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        files.append(name)

    def add(name, im, **kw):
        im.save(os.path.join(out_dir, name), **kw)
        files.append(name)

    add.out_dir, add.files = out_dir, files
    bmp_samples(add_bytes, add)
    gif_samples(add_bytes, add)
    tiff_samples(add_bytes, add)
