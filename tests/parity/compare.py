#!/usr/bin/env python3
"""End-to-end parity: runs the committed workflows (tests/parity/workflows/)
through a running comfyd and prints the PSNR of each PNG against ComfyUI's
golden (tests/parity/data/).  Goal: >= 40 dB for every case.

    python3 tests/parity/compare.py http://127.0.0.1:PORT [--only a,b] [--min-db 40]

The server's checkpoints folder must hold parity-sd15-full.safetensors (and
parity-sdxl-full.safetensors for the sdxl_* cases), made by
`comfyd-mkcheckpoint --arch sd15 --width full --dtype f16 --seed 1` (the
same bytes ComfyUI read).  Cases whose checkpoint is missing on the server
are reported as skipped.  Only the standard library is used; not run by CI
(the checkpoints are 2-7 GB).  Exit status 1 when a case fails or is below
--min-db.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_common as pc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="comfyd base URL")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--min-db", type=float, default=40.0)
    ap.add_argument("--save", default="", help="folder to write comfyd's PNGs into")
    args = ap.parse_args()

    srv = pc.Server(args.url)
    try:
        have = set(srv.get_json("/models/checkpoints"))
    except RuntimeError:
        have = None
    for f in sorted(os.listdir(pc.INPUTS)):
        srv.upload(os.path.join(pc.INPUTS, f))
    only = set(filter(None, args.only.split(",")))
    names = sorted(f[:-5] for f in os.listdir(pc.WORKFLOWS) if f.endswith(".json"))
    order = list(pc.cases(sdxl=True))
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    passed = failed = skipped = 0
    print("%-36s %9s %8s" % ("case", "PSNR dB", "seconds"))
    for name in names:
        if only and name not in only:
            continue
        with open(os.path.join(pc.WORKFLOWS, name + ".json")) as f:
            wf = json.load(f)
        ckpt = wf["4"]["inputs"]["ckpt_name"]
        if have is not None and ckpt not in have:
            print("%-36s %9s %8s  (server has no %s)" % (name, "skipped", "-", ckpt))
            skipped += 1
            continue
        try:
            pngs, secs = srv.run(wf)
            if args.save:
                os.makedirs(args.save, exist_ok=True)
                with open(os.path.join(args.save, name + ".png"), "wb") as f:
                    f.write(pngs[0])
            with open(os.path.join(pc.DATA, name + ".png"), "rb") as f:
                db = pc.psnr(pngs[0], f.read())
        except (RuntimeError, ValueError, OSError) as e:
            print("%-36s %9s %8s  %s" % (name, "FAILED", "-", str(e)[:300]), flush=True)
            failed += 1
            continue
        ok = db >= args.min_db
        passed += ok
        failed += not ok
        print("%-36s %9.2f %8.1f%s" % (name, db, secs, "" if ok else "  below %.0f dB" % args.min_db),
              flush=True)
    # What the threshold means on this checkpoint: ComfyUI's own images for
    # two different seeds, and for euler against euler_ancestral.
    for a, b in (("euler_normal", "euler_normal_seed2"),
                 ("euler_normal", "euler_ancestral_normal")):
        for size in (64, 128):
            fa = os.path.join(pc.DATA, "sd15_%d_%s.png" % (size, a))
            fb = os.path.join(pc.DATA, "sd15_%d_%s.png" % (size, b))
            if os.path.exists(fa) and os.path.exists(fb):
                with open(fa, "rb") as x, open(fb, "rb") as y:
                    print("control: golden %s vs %s at %d: %.2f dB"
                          % (a, b, size, pc.psnr(x.read(), y.read())))
    print("parity: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
