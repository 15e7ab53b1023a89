"""Times a ControlNet on a full-width SD1.5 checkpoint through a real comfyd
(not a test; the figure in nodepacks/diffusion/README.md).  Makes a
full-width ControlNet for the checkpoint (its UNet encoder as the trunk,
random hint block and zero convs, f16, "control_model." names), then runs
the 7-node workflow (512x512, 4 euler steps, cfg 7: a batch of 2 per
UNet call) without and with ControlNetApplyAdvanced and prints the wall
times.  Needs numpy and safetensors (e.g. the ComfyUI venv):

    python tests/diffusion/gen/controlnet_timing.py BUILD_DIR SD15_FULL.safetensors WORK_DIR
"""
import os
import subprocess
import sys
import time

import numpy as np
import requests
from PIL import Image
from safetensors.numpy import load_file, save_file

build, ckpt, base = sys.argv[1:4]
for d in ("models/checkpoints", "models/controlnet", "input", "output", "user"):
    os.makedirs(os.path.join(base, d), exist_ok=True)
link = os.path.join(base, "models/checkpoints/full.safetensors")
if not os.path.exists(link):
    os.symlink(os.path.abspath(ckpt), link)
cn_path = os.path.join(base, "models/controlnet/full-cn.safetensors")
if not os.path.exists(cn_path):
    P = "model.diffusion_model."
    sd = load_file(ckpt)
    rng = np.random.RandomState(0)
    C = {}
    for k, v in sd.items():
        if k.startswith(P) and k[len(P):].startswith(("time_embed.", "input_blocks.",
                                                       "middle_block.")):
            C["control_model." + k[len(P):]] = v
    mc = sd[P + "input_blocks.0.0.weight"].shape[0]
    cin = 3
    for i, cout in enumerate([16, 16, 32, 32, 96, 96, 256, mc]):
        a = np.sqrt(3.0 / (cin * 9))
        C["control_model.input_hint_block.%d.weight" % (2 * i)] = rng.uniform(
            -a, a, (cout, cin, 3, 3)).astype(np.float16)
        C["control_model.input_hint_block.%d.bias" % (2 * i)] = np.zeros(cout, np.float16)
        cin = cout
    n = 0
    while "control_model.input_blocks.%d.0.weight" % n in C or any(
            k.startswith("control_model.input_blocks.%d." % n) for k in C):
        n += 1
    for i in range(n + 1):
        if i < n:
            w = (C.get("control_model.input_blocks.%d.0.out_layers.3.weight" % i) if
                 "control_model.input_blocks.%d.0.out_layers.3.weight" % i in C else
                 C.get("control_model.input_blocks.%d.0.op.weight" % i,
                       C.get("control_model.input_blocks.%d.0.weight" % i)))
            name = "control_model.zero_convs.%d.0" % i
        else:
            w = C["control_model.middle_block.2.out_layers.3.weight"]
            name = "control_model.middle_block_out.0"
        ch = w.shape[0]
        C[name + ".weight"] = rng.uniform(-0.01, 0.01, (ch, ch, 1, 1)).astype(np.float16)
        C[name + ".bias"] = np.zeros(ch, np.float16)
    save_file(C, cn_path)
    del sd, C
Image.fromarray((np.indices((512, 512)).sum(0) % 256).astype(np.uint8)).convert("RGB").save(
    os.path.join(base, "input/hint.png"))

port = 18932
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


def graph(seed, cn=False):
    g = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "full.safetensors"}},
         "5": {"class_type": "EmptyLatentImage",
               "inputs": {"width": 512, "height": 512, "batch_size": 1}},
         "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
         "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
         "3": {"class_type": "KSampler",
               "inputs": {"seed": seed, "steps": 4, "cfg": 7.0, "sampler_name": "euler",
                          "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                          "positive": ["6", 0], "negative": ["7", 0],
                          "latent_image": ["5", 0]}},
         "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
         "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "t", "images": ["8", 0]}}}
    if cn:
        g["20"] = {"class_type": "ControlNetLoader",
                   "inputs": {"control_net_name": "full-cn.safetensors"}}
        g["21"] = {"class_type": "LoadImage", "inputs": {"image": "hint.png"}}
        g["22"] = {"class_type": "ControlNetApplyAdvanced",
                   "inputs": {"positive": ["6", 0], "negative": ["7", 0], "control_net": ["20", 0],
                              "image": ["21", 0], "strength": 1.0, "start_percent": 0.0,
                              "end_percent": 1.0}}
        g["3"]["inputs"]["positive"] = ["22", 0]
        g["3"]["inputs"]["negative"] = ["22", 1]
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
    print("no ControlNet, cold   ", run(graph(1)))
    print("no ControlNet, warm   ", run(graph(2)))
    print("ControlNet, first     ", run(graph(3, True)))
    print("ControlNet, new seed  ", run(graph(4, True)))
finally:
    proc.terminate()
    proc.wait()
