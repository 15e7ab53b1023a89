#!/usr/bin/env python3
"""Writes the goldens of tests/core/test_stitch.c by running ComfyUI's own
ImageStitch, ResizeAndPadImage, SaveAnimatedWEBP and SaveAnimatedPNG code
(comfy_extras/nodes_images.py of ComfyUI a125cd84, with the real
comfy.utils.common_upscale) on small deterministic inputs.

nodes_images.py imports ComfyUI's `nodes` and `server` modules, which pull
in the whole model stack; this script puts two small replacement modules
in their place (MAX_RESOLUTION and a PromptServer name are all the file
uses of them) and imports the rest for real.

Run from a venv outside the repo with torch, numpy, Pillow 9.4, safetensors
and einops (the modules comfy.utils imports):
    /work/venvs/core/bin/python tests/core/gen/stitch_goldens.py [COMFYUI]
COMFYUI defaults to /work/ref/ComfyUI.  Outputs (raw little-endian
float32, channels last) go to tests/core/data/stitch_*.f32 and pad_*.f32;
stitch_goldens.txt lists each case with its output shape,
animated_exif.bin is the EXIF chunk PIL writes for SaveAnimatedWEBP,
anim_*.webp whole files ComfyUI's SaveAnimatedWEBP wrote, and
apng_chunks.txt the chunk list of a SaveAnimatedPNG file (UI first),
apng_sha256.txt the SHA-256 of whole SaveAnimatedPNG files.
"""
import json
import os
import sys
import tempfile
import types

import numpy as np
import torch

REF = sys.argv[1] if len(sys.argv) > 1 else "/work/ref/ComfyUI"
sys.path.insert(0, REF)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")

nodes_mod = types.ModuleType("nodes")
nodes_mod.MAX_RESOLUTION = 16384
sys.modules["nodes"] = nodes_mod
server_mod = types.ModuleType("server")
server_mod.PromptServer = object
sys.modules["server"] = server_mod

import comfy_extras.nodes_images as ni  # noqa: E402
import folder_paths  # noqa: E402


def test_image(b, h, w, c, salt=0):
    """[b, h, w, c] float32: ((x*7 + y*13 + ch*29 + n*3 + salt) % 17) / 16,
    the formula test_stitch.c reproduces."""
    n, y, x, ch = np.meshgrid(np.arange(b), np.arange(h), np.arange(w),
                              np.arange(c), indexing="ij")
    v = ((x * 7 + y * 13 + ch * 29 + n * 3 + salt) % 17) / 16.0
    return torch.from_numpy(v.astype(np.float32))


def save(name, t):
    arr = np.ascontiguousarray(t.numpy().astype("<f4"))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(arr.tobytes())
    return list(arr.shape)


# name, image1 shape, image2 shape (or None), direction, match, spacing, colour
STITCH = [
    ("stitch_right_match", (2, 6, 5, 3), (1, 4, 7, 3), "right", True, 0,
     "white"),
    ("stitch_down_match_red", (1, 5, 6, 4), (1, 3, 3, 3), "down", True, 3,
     "red"),
    ("stitch_left_pad_black", (1, 4, 3, 3), (2, 7, 5, 3), "left", False, 2,
     "black"),
    ("stitch_up_pad_green", (1, 3, 4, 3), (1, 2, 7, 4), "up", False, 2,
     "green"),
    ("stitch_left_match_blue", (3, 9, 4, 4), (2, 5, 8, 4), "left", True, 5,
     "blue"),
    ("stitch_right_pad_white", (1, 2, 3, 3), (1, 5, 2, 3), "right", False,
     4, "white"),
    ("stitch_down_pad_white_gray", (1, 2, 3, 1), (1, 3, 5, 3), "down", False,
     2, "white"),
    ("stitch_right_match_la", (1, 4, 5, 2), (2, 3, 6, 2), "right", True, 2,
     "red"),
]

# name, image shape, target w, target h, padding colour, interpolation
PAD = [("pad_%s" % m, (2, 5, 7, 3), 9, 8, "black", m)
       for m in ["area", "bicubic", "nearest-exact", "bilinear", "lanczos"]]
PAD += [("pad_down_%s" % m, (1, 10, 6, 4), 4, 4, "white", m)
        for m in ["area", "bilinear", "lanczos"]]
PAD += [("pad_la_lanczos", (1, 5, 3, 2), 7, 6, "white", "lanczos")]


def node_info(name):
    """server.py's node_info for a V1 class, from ComfyUI's own class."""
    c = ni.NODE_CLASS_MAPPINGS[name]
    info = {"input": c.INPUT_TYPES(),
            "input_order": {k: list(v.keys())
                            for k, v in c.INPUT_TYPES().items()},
            "output": c.RETURN_TYPES,
            "output_is_list": getattr(c, "OUTPUT_IS_LIST",
                                      [False] * len(c.RETURN_TYPES)),
            "name": name,
            "display_name": name,
            "description": getattr(c, "DESCRIPTION", ""),
            "python_module": "comfy_extras.nodes_images",
            "category": getattr(c, "CATEGORY", "sd"),
            "output_node": getattr(c, "OUTPUT_NODE", False) is True}
    info["output_name"] = getattr(c, "RETURN_NAMES", info["output"])
    order = ["input", "input_order", "output", "output_is_list",
             "output_name", "name", "display_name", "description",
             "python_module", "category", "output_node"]
    return json.loads(json.dumps({k: info[k] for k in order}))


def check_object_info():
    """object_info.txt (from object_info.py) against the real classes."""
    want = {}
    with open(os.path.join(OUT, "object_info.txt")) as f:
        for ln in f:
            k, v = ln.rstrip("\n").split("\t", 1)
            want[k] = v
    for name in ["SaveAnimatedWEBP", "SaveAnimatedPNG", "ImageStitch",
                 "ResizeAndPadImage"]:
        got = json.dumps(node_info(name))
        if want.get(name) != got:
            sys.exit("object_info.txt differs for %s:\n%s\n%s"
                     % (name, want.get(name), got))


def main():
    check_object_info()
    lines = []
    st = ni.ImageStitch()
    for name, s1, s2, d, match, sp, col in STITCH:
        i1 = test_image(*s1)
        i2 = test_image(*s2, salt=5) if s2 else None
        out = st.stitch(i1, d, match, sp, col, i2)[0]
        shape = save(name + ".f32", out)
        lines.append("%s %s" % (name, " ".join(map(str, shape))))
    rp = ni.ResizeAndPadImage()
    for name, s, tw, th, col, m in PAD:
        out = rp.resize_and_pad(test_image(*s), tw, th, col, m)[0]
        shape = save(name + ".f32", out)
        lines.append("%s %s" % (name, " ".join(map(str, shape))))
    with open(os.path.join(OUT, "stitch_goldens.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # SaveAnimatedWEBP's EXIF block for a known prompt / extra_pnginfo.
    tmp = tempfile.mkdtemp()
    folder_paths.output_directory = tmp
    node = ni.SaveAnimatedWEBP()
    node.output_dir = tmp
    prompt = {"1": {"class_type": "X", "inputs": {"a": 1}}}
    extra = {"workflow": {"nodes": []}, "note": "hi"}
    ui = node.save_images(test_image(2, 3, 4, 3), 2.0, "anim", True, 80,
                          "default", prompt=prompt, extra_pnginfo=extra)
    from PIL import Image
    path = os.path.join(tmp, ui["ui"]["images"][0]["filename"])
    with Image.open(path) as im:
        exif = im.info["exif"]
    if exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    with open(os.path.join(OUT, "animated_exif.bin"), "wb") as f:
        f.write(exif)
    print(json.dumps(ui), len(exif))

    # Whole WebP files from ComfyUI's node (Debian's Pillow uses the
    # system libwebp, so the same settings give the same bytes).
    from comfy.cli_args import args
    for name, imgs, fps, lossless, q, meth, meta in [
            ("anim_rgb3", test_image(3, 4, 5, 3), 4.0, True, 80, "default",
             True),
            ("anim_rgba1", test_image(1, 3, 2, 4), 6.0, True, 80, "fastest",
             True),
            ("anim_lossy2", test_image(2, 16, 16, 3), 1000.0, False, 50,
             "slowest", False),
            ("anim_la2", test_image(2, 5, 4, 2), 5.0, True, 80, "default",
             True)]:
        args.disable_metadata = not meta
        ui = node.save_images(imgs, fps, "w", lossless, q, meth,
                              prompt=prompt, extra_pnginfo=extra)
        args.disable_metadata = False
        src = os.path.join(tmp, ui["ui"]["images"][0]["filename"])
        with open(src, "rb") as f, \
                open(os.path.join(OUT, name + ".webp"), "wb") as g:
            g.write(f.read())

    # SaveAnimatedPNG's chunk layout for four 5x6 RGBA frames: frame 2 has
    # frame 1's RGB (only alpha differs), frame 3 changes a small box.
    f0 = test_image(1, 5, 6, 4, 0)[0]
    f1 = test_image(1, 5, 6, 4, 3)[0]
    f2 = f1.clone()
    f2[..., 3] = 1.0
    f3 = f2.clone()
    f3[1:3, 2:5, :3] = test_image(1, 5, 6, 4, 7)[0][1:3, 2:5, :3]
    node = ni.SaveAnimatedPNG()
    node.output_dir = tmp
    ui = node.save_images(torch.stack([f0, f1, f2, f3]), 8.0, 9, "apng",
                          prompt=prompt, extra_pnginfo=extra)
    path = os.path.join(tmp, ui["ui"]["images"][0]["filename"])
    with open(path, "rb") as f:
        data = f.read()
    lines = [json.dumps(ui)]
    pos = 8
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        typ = data[pos + 4:pos + 8].decode("latin-1")
        body = data[pos + 8:pos + 8 + n]
        if typ in ("IDAT", "fdAT"):
            # the deflate stream is PIL's own; keep the sequence number
            lines.append(typ + (" " + body[:4].hex() if typ == "fdAT" else ""))
        else:
            lines.append(typ + " " + body.hex())
        pos += 12 + n
    # PIL's encoder may split a frame's data into several chunks; the test
    # compares the list with runs of IDAT/fdAT folded into one.
    folded = []
    for ln in lines:
        if ln == "IDAT" and folded and folded[-1] == "IDAT":
            continue
        if ln.startswith("fdAT") and folded and folded[-1].startswith("fdAT"):
            continue
        folded.append(ln)
    with open(os.path.join(OUT, "apng_chunks.txt"), "w") as f:
        f.write("\n".join(folded) + "\n")

    # SHA-256 of whole SaveAnimatedPNG files (the encoder is PIL's zlib
    # setup and filter choice, so the bytes match): the case above, a
    # level-0 file over 64 KiB per frame (several IDAT/fdAT chunks) and a
    # level-4 RGB one without metadata.
    import hashlib
    shas = ["apng_rgba4 " + hashlib.sha256(data).hexdigest()]
    for name, imgs, fps, level in [
            ("apng_rgb_big", test_image(3, 120, 200, 3), 0.5, 0),
            ("apng_rgb_l4", test_image(2, 33, 47, 3), 24.0, 4),
            ("apng_la", test_image(3, 6, 5, 2), 10.0, 4)]:
        ui = node.save_images(imgs, fps, level, "apng")
        path = os.path.join(tmp, ui["ui"]["images"][0]["filename"])
        with open(path, "rb") as f:
            shas.append(name + " " + hashlib.sha256(f.read()).hexdigest())
    with open(os.path.join(OUT, "apng_sha256.txt"), "w") as f:
        f.write("\n".join(shas) + "\n")


if __name__ == "__main__":
    main()
