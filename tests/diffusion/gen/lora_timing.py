"""Times LoraLoader on a full-width checkpoint through a real comfyd (not a
test; the figure in nodepacks/diffusion/README.md).  Makes a kohya-style
rank-16 LoRA (alpha 8, f16) on every attention / ff / proj_in/out layer of
the UNet and every text-encoder projection / MLP, then runs the 7-node
workflow (64x64, 1 step) without and with LoraLoader and prints the wall
times.  Needs numpy and safetensors (e.g. the ComfyUI venv):

    python tests/diffusion/gen/lora_timing.py BUILD_DIR SD15_FULL.safetensors WORK_DIR
"""
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import requests
from safetensors.numpy import save_file

build, ckpt, base = sys.argv[1:4]
for d in ("models/checkpoints", "models/loras", "input", "output", "user"):
    os.makedirs(os.path.join(base, d), exist_ok=True)
link = os.path.join(base, "models/checkpoints/full.safetensors")
if not os.path.exists(link):
    os.symlink(os.path.abspath(ckpt), link)
with open(ckpt, "rb") as f:
    n, = struct.unpack("<Q", f.read(8))
    hdr = json.loads(f.read(n))
rng = np.random.RandomState(0)
L = {}
P, T = "model.diffusion_model.", "cond_stage_model.transformer."
for k, t in hdr.items():
    if k == "__metadata__" or not k.endswith(".weight") or len(t["shape"]) == 1:
        continue
    if k.startswith(P) and any(s in k for s in ("attn1.to_", "attn2.to_", "ff.net", "proj_")):
        name = "lora_unet_" + k[len(P):-7].replace(".", "_")
    elif k.startswith(T + "text_model.encoder.layers.") and ("proj" in k or "mlp" in k):
        name = "lora_te_" + k[len(T):-7].replace(".", "_")
    else:
        continue
    sh = t["shape"]
    conv = (1, 1) if len(sh) == 4 else ()
    L[name + ".lora_up.weight"] = (rng.standard_normal((sh[0], 16) + conv) * 0.01).astype(
        np.float16)
    L[name + ".lora_down.weight"] = (rng.standard_normal((16,) + tuple(sh[1:])) * 0.01).astype(
        np.float16)
    L[name + ".alpha"] = np.array(8.0, dtype=np.float16)
save_file(L, os.path.join(base, "models/loras/r16.safetensors"))
print(len(L) // 3, "LoRA layers")

port = 18931
proc = subprocess.Popen([os.path.join(build, "comfyd"), "--base-directory", base, "--port",
                         str(port), "--nodepack-dir", os.path.join(build, "nodepacks")],
                        stdout=open(os.path.join(base, "comfyd.log"), "w"),
                        stderr=subprocess.STDOUT)
url = "http://127.0.0.1:%d" % port
for _ in range(200):
    try:
        requests.get(url + "/prompt", timeout=1)
        break
    except requests.ConnectionError:
        time.sleep(0.05)


def graph(seed, lora=None, sm=1.0, sc=1.0):
    g = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "full.safetensors"}},
         "5": {"class_type": "EmptyLatentImage",
               "inputs": {"width": 64, "height": 64, "batch_size": 1}},
         "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
         "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
         "3": {"class_type": "KSampler",
               "inputs": {"seed": seed, "steps": 1, "cfg": 7.0, "sampler_name": "euler",
                          "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                          "positive": ["6", 0], "negative": ["7", 0],
                          "latent_image": ["5", 0]}},
         "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
         "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "t", "images": ["8", 0]}}}
    if lora:
        g["20"] = {"class_type": "LoraLoader",
                   "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": lora,
                              "strength_model": sm, "strength_clip": sc}}
        g["3"]["inputs"]["model"] = ["20", 0]
        g["6"]["inputs"]["clip"] = ["20", 1]
        g["7"]["inputs"]["clip"] = ["20", 1]
    return g


def run(g):
    t = time.time()
    pid = requests.post(url + "/prompt", json={"prompt": g}).json()["prompt_id"]
    while True:
        h = requests.get(url + "/history/" + pid).json()
        if pid in h and h[pid].get("status", {}).get("completed") is not None:
            return "%.2f s %s" % (time.time() - t, h[pid]["status"].get("status_str"))
        time.sleep(0.05)


try:
    print("no LoRA, cold        ", run(graph(1)))
    print("no LoRA, warm        ", run(graph(2)))
    print("LoraLoader 1.0 / 1.0 ", run(graph(3, "r16.safetensors")))
    print("same, new seed       ", run(graph(4, "r16.safetensors")))
    print("LoraLoader 0.5 / 0.5 ", run(graph(5, "r16.safetensors", 0.5, 0.5)))
    print("models RAM", requests.get(url + "/system_stats").json()["system"].get(
        "comfyd_models_ram"))
finally:
    proc.terminate()
    proc.wait()
