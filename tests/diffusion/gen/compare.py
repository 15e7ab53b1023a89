"""Runs the cases of cases.json through comfyd's HTTP API and reports the
PSNR of each PNG against ComfyUI's (made by comfyui_ref.py).  Run outside
ctest (it needs the full-width checkpoint, 2 GB):

    python3 tests/diffusion/gen/compare.py CASES.json CKPT_DIR REF_DIR BUILD_DIR [WORK_DIR]

img2img cases upload ComfyUI's PNG of the case they start from (so both
servers encode the same pixels) and build the left-half mask with
SolidMask + MaskComposite.  Needs requests and numpy + PIL.
"""
import json
import math
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import requests
from PIL import Image

cases_path, ckpt_dir, ref_dir, build = sys.argv[1:5]
work = pathlib.Path(sys.argv[5] if len(sys.argv) > 5 else tempfile.mkdtemp())
spec = json.load(open(cases_path))
(work / "models").mkdir(parents=True, exist_ok=True)
link = work / "models" / "checkpoints"
if not link.exists():
    link.symlink_to(os.path.abspath(ckpt_dir))
for d in ("input", "output", "user"):
    (work / d).mkdir(exist_ok=True)

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
log = open(work / "comfyd.log", "w")
proc = subprocess.Popen([os.path.join(build, "comfyd"), "--base-directory", str(work),
                         "--port", str(port), "--nodepack-dir",
                         os.path.join(build, "nodepacks")], stdout=log, stderr=subprocess.STDOUT)
url = f"http://127.0.0.1:{port}"
for _ in range(200):
    try:
        requests.get(url + "/prompt", timeout=1)
        break
    except requests.ConnectionError:
        time.sleep(0.1)


def wait(pid):
    while True:
        h = requests.get(url + "/history/" + pid).json()
        if pid in h and h[pid]["status"]["completed"] is not None and (
                h[pid]["status"]["status_str"] in ("success", "error")):
            return h[pid]
        time.sleep(0.5)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


W, H = spec["width"], spec["height"]
try:
    for case in spec["cases"]:
        g = {
            "4": {"class_type": "CheckpointLoaderSimple",
                  "inputs": {"ckpt_name": spec["checkpoint"]}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": spec["positive"],
                                                           "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": spec["negative"],
                                                           "clip": ["4", 1]}},
            "5": {"class_type": "EmptyLatentImage",
                  "inputs": {"width": W, "height": H, "batch_size": 1}},
        }
        latent = ["5", 0]
        if "img2img_from" in case:
            name = case["img2img_from"] + ".png"
            with open(os.path.join(ref_dir, name), "rb") as f:
                requests.post(url + "/upload/image", files={"image": (name, f)},
                              data={"overwrite": "true"})
            g["20"] = {"class_type": "LoadImage", "inputs": {"image": name}}
            g["21"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0],
                                                             "vae": ["4", 2]}}
            latent = ["21", 0]
        if case.get("mask") == "left_half":
            g["22"] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": W,
                                                             "height": H}}
            g["23"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": W // 2,
                                                             "height": H}}
            g["24"] = {"class_type": "MaskComposite",
                       "inputs": {"destination": ["22", 0], "source": ["23", 0], "x": 0,
                                  "y": 0, "operation": "add"}}
            g["25"] = {"class_type": "SetLatentNoiseMask",
                       "inputs": {"samples": latent, "mask": ["24", 0]}}
            latent = ["25", 0]
        g["3"] = {"class_type": "KSampler",
                  "inputs": {"seed": case["seed"], "steps": case["steps"], "cfg": case["cfg"],
                             "sampler_name": case["sampler"], "scheduler": case["scheduler"],
                             "denoise": case.get("denoise", 1.0), "model": ["4", 0],
                             "positive": ["6", 0], "negative": ["7", 0],
                             "latent_image": latent}}
        g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}}
        g["9"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": case["name"],
                                                        "images": ["8", 0]}}
        t0 = time.time()
        r = requests.post(url + "/prompt", json={"prompt": g})
        r.raise_for_status()
        h = wait(r.json()["prompt_id"])
        if h["status"]["status_str"] != "success":
            print(case["name"], "FAILED", h["status"]["messages"])
            continue
        img = h["outputs"]["9"]["images"][0]
        ours = np.asarray(Image.open(work / "output" / img["filename"]).convert("RGB"))
        ref = np.asarray(Image.open(os.path.join(ref_dir, case["name"] + ".png")).convert("RGB"))
        print(f"{case['name']:20s} PSNR {psnr(ours, ref):6.2f} dB  max|diff| "
              f"{int(np.max(np.abs(ours.astype(int) - ref.astype(int))))}  "
              f"({time.time() - t0:.1f} s)", flush=True)
finally:
    proc.terminate()
    proc.wait(10)
