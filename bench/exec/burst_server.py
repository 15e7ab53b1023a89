#!/usr/bin/env python3
"""1,000 prompts in a burst against the real comfyd binary over HTTP.

    python3 bench/exec/burst_server.py [BUILD_DIR] [-n N] [--queue-max Q]
                                       [--packs all|core] [--size S]

Starts BUILD_DIR/comfyd (default build/) on a free port with the testing pack
and either every pack built into BUILD_DIR/nodepacks (--packs all, the
default) or only the core pack (--packs core: a smaller idle figure, so a
stricter ratio).  Runs one warm-up prompt, reads the server's VmRSS (idle),
POSTs N distinct prompts (StubConstantImage S x S -> an output node) as fast
as one client can, waits until the queue is empty, and prints
accepted/rejected counts, the drain time and the RSS after the burst (with
the N history entries kept) and after POST /history {"clear": true}.
Needs `requests`.
"""
import argparse
import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time

import requests

repo = pathlib.Path(__file__).resolve().parents[2]
ap = argparse.ArgumentParser(description="1,000 prompts in a burst against comfyd")
ap.add_argument("build", nargs="?", default=str(repo / "build"))
ap.add_argument("-n", type=int, default=1000)
ap.add_argument("--queue-max", default="10000")
ap.add_argument("--packs", choices=("all", "core"), default="all")
ap.add_argument("--size", type=int, default=64)
opt = ap.parse_args()
build = pathlib.Path(opt.build).resolve()
n, qmax, packs, size = opt.n, opt.queue_max, opt.packs, opt.size


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def prompt(i):
    return {"1": {"class_type": "StubConstantImage",
                  "inputs": {"value": i / n, "height": size, "width": size, "batch_size": 1}},
            "2": {"class_type": "TestOutputNodeWithSocketOutput",
                  "inputs": {"image": ["1", 0], "value": 1.0}}}


with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
base = tempfile.mkdtemp(prefix="burst-")
pack_dir = build / "nodepacks"
if packs == "core":
    pack_dir = pathlib.Path(base) / "packs"
    pack_dir.mkdir()
    (pack_dir / "core.so").symlink_to(build / "nodepacks" / "core.so")
args = [str(build / "comfyd"), "--base-directory", base, "--port", str(port), "--queue-max", qmax,
        "--nodepack-dir", str(pack_dir), "--nodepack-dir", str(build / "test-packs" / "testing")]
proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}"
try:
    for _ in range(200):
        try:
            requests.get(url + "/prompt", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    s = requests.Session()

    def idle():
        while s.get(url + "/prompt").json()["exec_info"]["queue_remaining"]:
            time.sleep(0.02)

    s.post(url + "/prompt", json={"prompt": prompt(0)})
    idle()
    time.sleep(0.5)
    rss_idle = rss_kib(proc.pid)
    t0 = time.time()
    codes = {}
    first_error = None
    for i in range(1, n + 1):
        r = s.post(url + "/prompt", json={"prompt": prompt(i)})
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
        if r.status_code != 200 and first_error is None:
            first_error = f"{r.status_code} {r.text}"
    t_post = time.time() - t0
    idle()
    t_all = time.time() - t0
    time.sleep(0.5)
    rss_after = rss_kib(proc.pid)
    hist = s.get(url + "/history").json()
    ok = sum(1 for h in hist.values() if h["status"]["status_str"] == "success")
    s.post(url + "/history", json={"clear": True})
    time.sleep(0.5)
    rss_clear = rss_kib(proc.pid)
    print(f"burst_server: {n} prompts ({size}x{size} images), queue-max {qmax}, packs {packs}, server pid {proc.pid}")
    print(f"  responses {json.dumps(codes)}" + (f", first rejection: {first_error}" if first_error else ""))
    print(f"  history: {len(hist)} entries, {ok} success; posted in {t_post:.2f} s, drained in {t_all:.2f} s")
    print(f"  RSS idle {rss_idle} KiB, after {rss_after} KiB ({100.0 * (rss_after - rss_idle) / rss_idle:+.1f}%), "
          f"after history clear {rss_clear} KiB ({100.0 * (rss_clear - rss_idle) / rss_idle:+.1f}%)")
finally:
    proc.terminate()
    proc.wait(10)
