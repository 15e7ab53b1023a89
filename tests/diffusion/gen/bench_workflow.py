"""Times the 7-node workflow through comfyd's HTTP API + /ws on a checkpoint
(e.g. a full-width SD1.5 from comfyd-mkcheckpoint): seconds per sampler step
(from the progress messages), the VAEDecode node, the whole prompt (model
already loaded: a warm-up prompt runs first), and comfyd's peak RSS.

    python3 tests/diffusion/gen/bench_workflow.py BUILD_DIR CKPT_DIR CKPT_NAME \
        [--size 512] [--steps 20] [--threads 0]

Needs requests and websocket-client.  Prints one line per figure.
"""
import argparse
import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import uuid

import requests
import websocket

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("ckpt_dir")
ap.add_argument("ckpt")
ap.add_argument("--size", type=int, default=512)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--threads", type=int, default=0)
a = ap.parse_args()

work = pathlib.Path(tempfile.mkdtemp())
(work / "models").mkdir()
(work / "models" / "checkpoints").symlink_to(os.path.abspath(a.ckpt_dir))
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
proc = subprocess.Popen([os.path.join(a.build, "comfyd"), "--base-directory", str(work), "--port",
                         str(port), "--nodepack-dir", os.path.join(a.build, "nodepacks")]
                        + (["--threads", str(a.threads)] if a.threads else []),
                        stdout=open(work / "log", "w"), stderr=subprocess.STDOUT, env=env)
url = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        requests.get(url + "/prompt", timeout=1)
        break
    except requests.ConnectionError:
        time.sleep(0.1)
cid = uuid.uuid4().hex
ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws?clientId={cid}", timeout=3600)


def graph(steps, prefix):
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": a.ckpt}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": a.size, "height": a.size, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a cat",
                                                       "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": prefix, "clip": ["4", 1]}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
                         "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                         "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix,
                                                    "images": ["8", 0]}},
    }


def run(g):
    r = requests.post(url + "/prompt", json={"prompt": g, "client_id": cid})
    pid = r.json()["prompt_id"]
    t0 = time.time()
    marks = {}
    steps = []
    while True:
        m = ws.recv()
        if not isinstance(m, str):
            continue
        m = json.loads(m)
        now = time.time()
        if m["type"] == "executing" and m["data"].get("prompt_id") == pid:
            node = m["data"]["node"]
            marks[node] = now
            if node is None:
                return now - t0, marks, steps
        elif m["type"] == "progress" and m["data"]["node"] == "3":
            steps.append(now)
        elif m["type"] == "execution_error":
            raise SystemExit(json.dumps(m["data"])[:2000])


t_load, _, _ = run(graph(1, "warmup"))
total, marks, steps = run(graph(a.steps, "bench"))
per_step = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else float("nan")
rss = 0
with open(f"/proc/{proc.pid}/status") as f:
    for line in f:
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) // 1024
print(f"size {a.size}x{a.size}, {a.steps} steps, euler, cfg 7 (batch 2 per step)")
print(f"first prompt (load + 1 step + decode): {t_load:.1f} s")
print(f"seconds per step: {per_step:.2f}")
print(f"VAEDecode: {marks['9'] - marks['8']:.2f} s")
print(f"whole prompt (model loaded): {total:.1f} s")
print(f"peak RSS: {rss} MiB")
proc.terminate()
proc.wait(10)
