#!/usr/bin/env python3
"""Makes the end-to-end goldens: runs every parity workflow through a real
ComfyUI server over its HTTP API and saves the PNGs it produced.

Not run by CI (ComfyUI needs torch).  How the committed goldens were made
(see README.md for the whole recipe):

    comfyd-mkcheckpoint --arch sd15 --width full --dtype f16 --seed 1 \\
        --out MODELS/checkpoints/parity-sd15-full.safetensors
    python main.py --cpu --listen 127.0.0.1 --port 18288   # in ComfyUI
    python3 tests/parity/run_comfyui_reference.py http://127.0.0.1:18288

Writes tests/parity/workflows/CASE.json (the API-format prompt, exactly as
submitted) and tests/parity/data/CASE.png (the image ComfyUI returned by
/view), and the input images in tests/parity/data/input/.  Only the standard
library is used.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_common as pc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="ComfyUI base URL, e.g. http://127.0.0.1:18288")
    ap.add_argument("--sdxl", action="store_true",
                    help="also the SDXL cases (needs %s)" % pc.CKPT_SDXL)
    ap.add_argument("--only", default="", help="comma-separated case names")
    args = ap.parse_args()

    srv = pc.Server(args.url)
    pc.make_inputs()
    for f in sorted(os.listdir(pc.INPUTS)):
        print("uploaded", srv.upload(os.path.join(pc.INPUTS, f)))
    os.makedirs(pc.WORKFLOWS, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    for name, wf in pc.cases(args.sdxl).items():
        if only and name not in only:
            continue
        with open(os.path.join(pc.WORKFLOWS, name + ".json"), "w") as f:
            json.dump(wf, f, indent=1, sort_keys=True)
            f.write("\n")
        pngs, secs = srv.run(wf)
        with open(os.path.join(pc.DATA, name + ".png"), "wb") as f:
            f.write(pngs[0])
        w, h, _, px = pc.png_read(pngs[0])
        mean = sum(px) / len(px)
        print("%-36s %3dx%-3d %7.1f s  mean %.1f" % (name, w, h, secs, mean), flush=True)


if __name__ == "__main__":
    main()
