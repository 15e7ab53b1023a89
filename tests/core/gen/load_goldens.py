#!/usr/bin/env python3
"""Writes tests/core/data/load/: small image files in the layouts LoadImage
meets (PNG 8/16-bit, gray, gray+alpha, palette with and without
transparency, 1-bit; JPEG RGB, gray, CMYK and every EXIF orientation;
WebP lossless and lossy; PNG with an eXIf orientation; the BMP, GIF and
TIFF layouts of load_formats.py) and, for each, the
IMAGE and MASK that ComfyUI's LoadImage computes with PIL (restated
below), as raw float32.  manifest.txt lists "file base frames h w mask_h mask_w"; 64x64 masks
without a .mask.f32 file are all zeros.
Run from a venv with numpy and Pillow (see make_goldens.py).
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, ImageSequence

import load_formats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                   "load")


def pattern(h, w, c, seed):
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c),
                           indexing="ij")
    return ((x * 53 + y * 97 + ch * 71 + seed * 13) % 256).astype(np.uint8)


def comfy_load(path):
    """LoadImage: (image [n, h, w, 3], mask [n, mh, mw]) over the frames."""
    img = Image.open(path)
    images, masks = [], []
    w = h = None
    for frame in ImageSequence.Iterator(img):
        i = ImageOps.exif_transpose(frame)
        if i.mode == "I":
            i = i.point(lambda v: v * (1 / 255))
        rgb = i.convert("RGB")
        if not images:
            w, h = rgb.size
        if rgb.size != (w, h):
            continue
        images.append(np.array(rgb).astype(np.float32) / 255.0)
        if "A" in i.getbands():
            a = np.array(i.getchannel("A")).astype(np.float32) / 255.0
            masks.append(1.0 - a)
        elif i.mode == "P" and "transparency" in i.info:
            a = np.array(i.convert("RGBA").getchannel("A")).astype(np.float32)
            masks.append(1.0 - a / 255.0)
        else:
            masks.append(np.zeros((64, 64), dtype=np.float32))
    if len(images) > 1 and img.format != "MPO":
        return (np.stack(images).astype(np.float32),
                np.stack(masks).astype(np.float32))
    return images[0][None].astype(np.float32), masks[0][None].astype(np.float32)


def comfy_load_mask(path, channel="alpha"):
    """LoadImageMask: the [h, w] mask of the first frame."""
    i = ImageOps.exif_transpose(Image.open(path))
    if i.getbands() != ("R", "G", "B", "A"):
        if i.mode == "I":
            i = i.point(lambda v: v * (1 / 255))
        i = i.convert("RGBA")
    c = channel[0].upper()
    m = np.array(i.getchannel(c)).astype(np.float32) / 255.0
    return 1.0 - m if c == "A" else m


def write_png16(path, arr, color_type):
    """A 16-bit PNG (which PIL cannot write) from a uint16 [h, w, c]."""
    h, w = arr.shape[0], arr.shape[1]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def exif_with_orientation(o):
    ex = Image.Exif()
    ex[0x0112] = o
    return ex.tobytes()


def main():
    os.makedirs(OUT, exist_ok=True)
    files = []

    def add(name, im, **kw):
        im.save(os.path.join(OUT, name), **kw)
        files.append(name)

    add("rgb8.png", Image.fromarray(pattern(5, 7, 3, 1)))
    add("rgba8.png", Image.fromarray(pattern(5, 7, 4, 2), "RGBA"))
    add("l8.png", Image.fromarray(pattern(5, 7, 1, 3)[..., 0], "L"))
    add("la8.png", Image.fromarray(pattern(5, 7, 2, 4), "LA"))
    pal = Image.fromarray(pattern(5, 7, 3, 5)).quantize(colors=8)
    add("p.png", pal)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    add("p_trns.png", pal_t, transparency=3)
    g16 = (pattern(5, 7, 1, 6)[..., 0].astype(np.uint16) * 257 + 37)
    add("l16.png", Image.fromarray(g16))
    for name, c, ct in [("rgb16.png", 3, 2), ("rgba16.png", 4, 6),
                        ("la16.png", 2, 4)]:
        v = pattern(5, 7, c, 15).astype(np.uint16) * 251 + 3
        write_png16(os.path.join(OUT, name), v, ct)
        files.append(name)
    add("l1.png", Image.fromarray(pattern(5, 7, 1, 7)[..., 0] > 128))
    add("rgb.jpg", Image.fromarray(pattern(6, 10, 3, 8)), quality=90)
    add("gray.jpg", Image.fromarray(pattern(6, 10, 1, 9)[..., 0], "L"),
        quality=90)
    add("cmyk.jpg", Image.fromarray(pattern(6, 10, 4, 10), "CMYK"),
        quality=95)
    for o in range(1, 9):
        add(f"orient{o}.jpg", Image.fromarray(pattern(4, 6, 3, 11)),
            quality=95, exif=exif_with_orientation(o))
    add("orient6.png", Image.fromarray(pattern(4, 6, 3, 12)),
        exif=exif_with_orientation(6))
    add("lossless.webp", Image.fromarray(pattern(5, 7, 4, 13), "RGBA"),
        lossless=True)
    add("lossy.webp", Image.fromarray(pattern(6, 8, 3, 14)), quality=80)
    for c, mode in [(4, "RGBA"), (3, "RGB")]:
        frames = [Image.fromarray(pattern(4, 5, c, 20 + k), mode)
                  for k in range(3)]
        add(f"anim{c}.webp", frames[0], save_all=True,
            append_images=frames[1:], lossless=True, duration=100)

    load_formats.add_all(OUT, files)  # BMP, GIF and TIFF
    # transparency keys (PIL info["transparency"] of L and RGB images)
    key_l = pattern(4, 5, 1, 95)[..., 0]
    add("l8_trns.png", Image.fromarray(key_l, "L"),
        transparency=int(key_l[1, 2]))
    key_rgb = pattern(4, 5, 3, 96)
    key_rgb[2, 3] = key_rgb[0, 1]
    add("rgb8_trns.png", Image.fromarray(key_rgb),
        transparency=tuple(int(v) for v in key_rgb[0, 1]))
    with open(os.path.join(OUT, "gif_grey_trns.gif"), "wb") as f:
        f.write(load_formats.gif_file(5, 3, [dict(
            x=0, y=0, w=5, h=3, trans=7,
            idx=[7, 1, 2, 7, 9, 200, 7, 3, 4, 5, 6, 7, 8, 9, 7])]))
    files.append("gif_grey_trns.gif")

    with open(os.path.join(OUT, "manifest.txt"), "w") as m:
        for name in files:
            image, mask = comfy_load(os.path.join(OUT, name))
            base = os.path.splitext(name)[0] + "_" + name.split(".")[-1]
            image.astype("<f4").tofile(os.path.join(OUT, base + ".image.f32"))
            # 64x64 zero masks (no alpha) are not stored
            if mask.shape[1:] != (64, 64) or mask.any():
                mask.astype("<f4").tofile(os.path.join(OUT,
                                                       base + ".mask.f32"))
            m.write(f"{name} {base} {image.shape[0]} {image.shape[1]} "
                    f"{image.shape[2]} {mask.shape[1]} {mask.shape[2]}\n")


    # LoadImageMask's alpha channel for files with alpha, palette
    # transparency and transparency keys
    with open(os.path.join(OUT, "mask_manifest.txt"), "w") as m:
        for name in ["rgba8.png", "p_trns.png", "l8_trns.png",
                     "rgb8_trns.png", "gif_trns.gif", "gif_grey_trns.gif",
                     "gif_ramp_local.gif", "tif_la.tif", "bmp_bgra_v5.bmp",
                     "rgb8.png"]:
            mask = comfy_load_mask(os.path.join(OUT, name))
            base = os.path.splitext(name)[0] + "_" + name.split(".")[-1]
            mask.astype("<f4").tofile(os.path.join(OUT, base + ".lmask.f32"))
            m.write(f"{name} {base} {mask.shape[0]} {mask.shape[1]}\n")


if __name__ == "__main__":
    main()
