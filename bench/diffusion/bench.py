#!/usr/bin/env python3
"""Diffusion benchmark driver (standard library only); bench/diffusion/run.sh
calls it.  Two parts, each optional:

  comfyd: starts BUILD/comfyd on a fresh base directory holding the
    checkpoint, submits the 7-node text-to-image workflow through POST
    /prompt while listening on /ws, and reports seconds per sampling step
    (from the `progress` messages), VAE decode seconds (from the `executing`
    messages of the VAEDecode and SaveImage nodes), the whole prompt
    (submit to history entry), and the server's peak RSS (VmHWM).
  sdcpp: runs a stable-diffusion.cpp CLI binary on the same checkpoint with
    the same size, steps, cfg, sampler, seed and thread count, and reports
    its own timings (parsed from its log) and peak RSS (getrusage).

Prints one line per figure and, when both ran, the ratios.
"""
import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

POSITIVE = "a photograph of a red fox sitting in tall grass, golden hour"
NEGATIVE = "blurry, low quality"


def workflow(ckpt, size, steps, cfg, seed, sampler, scheduler):
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["4", 1]}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                         "scheduler": scheduler, "denoise": 1.0, "model": ["4", 0],
                         "positive": ["6", 0], "negative": ["7", 0],
                         "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage",
              "inputs": {"filename_prefix": "bench", "images": ["8", 0]}},
    }


class WS:
    """Minimal RFC 6455 client: text frames in, nothing sent but pongs."""

    def __init__(self, host, port, path):
        self.s = socket.create_connection((host, port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise RuntimeError("ws handshake: connection closed")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("ws handshake refused: %r" % head[:200])

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            d = self.s.recv(65536)
            if not d:
                raise RuntimeError("ws closed")
            self.buf += d

    def recv(self, timeout):
        """Next text message as a dict, or None on timeout."""
        deadline = time.monotonic() + timeout
        msg, msg_op = b"", None
        while True:
            try:
                self._need(2, deadline)
                b0, b1 = self.buf[0], self.buf[1]
                n, off = b1 & 0x7F, 2
                if n == 126:
                    self._need(4, deadline)
                    n, off = int.from_bytes(self.buf[2:4], "big"), 4
                elif n == 127:
                    self._need(10, deadline)
                    n, off = int.from_bytes(self.buf[2:10], "big"), 10
                mask = b""
                if b1 & 0x80:
                    mask, off = self.buf[off:off + 4], off + 4
                self._need(off + n, deadline)
            except socket.timeout:
                return None
            payload = self.buf[off:off + n]
            self.buf = self.buf[off + n:]
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            op = b0 & 0x0F
            if op == 9:
                self.s.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                continue
            if op == 8:
                raise RuntimeError("ws closed by server")
            if op in (1, 2):
                msg_op, msg = op, payload
            elif op == 0:
                msg += payload
            if b0 & 0x80 and msg_op is not None:
                if msg_op == 1:
                    return json.loads(msg)
                msg, msg_op = b"", None


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """utime + stime of a live process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_comfyd(a):
    base = tempfile.mkdtemp(prefix="comfyd-bench-")
    ckdir = os.path.join(base, "models", "checkpoints")
    os.makedirs(ckdir)
    os.makedirs(os.path.join(base, "user"))
    name = os.path.basename(a.ckpt)
    os.symlink(os.path.abspath(a.ckpt), os.path.join(ckdir, name))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cmd = [os.path.join(a.build, "comfyd"), "--base-directory", base,
           "--nodepack-dir", os.path.join(a.build, "nodepacks"),
           "--listen", "127.0.0.1", "--port", str(port), "--cpu",
           "--threads", str(a.threads), "--dont-print-server"]
    log = open(os.path.join(base, "comfyd.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(url + "/prompt", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("comfyd exited: see " + log.name)
                time.sleep(0.05)
        cid = str(uuid.uuid4())
        ws = WS("127.0.0.1", port, "/ws?clientId=" + cid)
        wf = workflow(name, a.size, a.steps, a.cfg, a.seed, a.sampler, a.scheduler)
        body = json.dumps({"prompt": wf, "client_id": cid}).encode()
        t0 = time.monotonic()
        cpu0 = cpu_seconds(proc.pid)
        req = urllib.request.Request(url + "/prompt", data=body,
                                     headers={"Content-Type": "application/json"})
        pid = json.loads(urllib.request.urlopen(req).read())["prompt_id"]
        steps_t, node_t, err = {}, {}, None
        while True:
            m = ws.recv(3600)
            if m is None:
                raise RuntimeError("no message for an hour")
            now = time.monotonic()
            d = m.get("data", {})
            if d.get("prompt_id") not in (None, pid):
                continue
            if m["type"] == "progress" and d.get("node") == "3":
                steps_t.setdefault(d["value"], now)
            elif m["type"] == "executing" and d.get("node") is not None:
                node_t.setdefault(d["node"], now)
            elif m["type"] == "execution_error":
                err = d
                break
            elif m["type"] == "execution_success" or (
                    m["type"] == "executing" and d.get("node") is None):
                break
        total = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        rss = peak_rss_kib(proc.pid)
        if err:
            raise RuntimeError("execution_error: %s: %s" % (err.get("exception_type"),
                                                            err.get("exception_message")))
        n = len(steps_t)
        if n < 2 or "3" not in node_t or "8" not in node_t or "9" not in node_t:
            raise RuntimeError("missing progress/executing messages (steps seen %d)" % n)
        first, last = min(steps_t), max(steps_t)
        steady = (steps_t[last] - steps_t[first]) / (last - first)
        sampling = steps_t[last] - node_t["3"]
        r = {"per_step": sampling / a.steps, "per_step_steady": steady,
             "sampling": sampling, "decode": node_t["9"] - node_t["8"],
             "total": total, "cpu": cpu, "rss_mib": rss / 1024.0}
        print("comfyd  sampling (KSampler start to last step) %.2f s, %.3f s/step "
              "(steady %.3f s/step)" % (sampling, r["per_step"], steady))
        print("comfyd  VAE decode %.2f s" % r["decode"])
        print("comfyd  whole workflow (cold: includes checkpoint load) %.2f s, "
              "CPU time %.1f s" % (total, cpu))
        print("comfyd  peak RSS %.0f MiB" % r["rss_mib"])
        return r
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print("comfyd  kept", base)


def bench_sdcpp(a):
    out = tempfile.mkdtemp(prefix="sdcpp-bench-")
    cmd = [a.sdcpp, "-m", a.ckpt, "-p", POSITIVE, "-n", NEGATIVE,
           "-W", str(a.size), "-H", str(a.size), "--steps", str(a.steps),
           "--cfg-scale", str(a.cfg), "--sampling-method", a.sampler,
           "-s", str(a.seed), "-t", str(a.threads), "-o", os.path.join(out, "sdcpp.png")]
    if a.scheduler == "karras":
        cmd += ["--scheduler", "karras"]
    logpath = os.path.join(out, "sdcpp.log")
    with open(logpath, "w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(proc.pid, 0)
        total = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    rss = ru.ru_maxrss
    with open(logpath) as f:
        logtext = f.read()
    if proc.returncode != 0:
        raise RuntimeError("sd.cpp exited %d; log in %s" % (proc.returncode, logpath))

    def grab(pat):
        m = re.search(pat, logtext)
        return float(m.group(1)) if m else float("nan")
    sampling = grab(r"sampling completed, taking ([0-9.]+)s")
    decode = grab(r"decode_first_stage completed, taking ([0-9.]+)s")
    gen = grab(r"generate_image completed in ([0-9.]+)s")
    cpu = ru.ru_utime + ru.ru_stime
    r = {"per_step": sampling / a.steps, "sampling": sampling, "decode": decode,
         "total": total, "generate": gen, "cpu": cpu, "rss_mib": rss / 1024.0}
    print("sd.cpp  sampling %.2f s, %.3f s/step" % (sampling, r["per_step"]))
    print("sd.cpp  VAE decode %.2f s" % decode)
    print("sd.cpp  whole run (process, includes load) %.2f s, CPU time %.1f s; "
          "generate_image %.2f s" % (total, cpu, gen))
    print("sd.cpp  peak RSS %.0f MiB  (log: %s)" % (r["rss_mib"], logpath))
    return r


def main():
    ap = argparse.ArgumentParser(description="comfyd vs stable-diffusion.cpp")
    ap.add_argument("--build", help="comfyd build dir (omit to skip comfyd)")
    ap.add_argument("--sdcpp", help="stable-diffusion.cpp CLI binary (omit to skip)")
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--scheduler", default="normal")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", action="store_true", help="keep comfyd's base dir")
    a = ap.parse_args()
    print("settings: %s %dx%d, %d steps, cfg %g, %s/%s, seed %d, %d threads"
          % (os.path.basename(a.ckpt), a.size, a.size, a.steps, a.cfg, a.sampler,
             a.scheduler, a.seed, a.threads), flush=True)
    rc = 0
    c = s = None
    if a.build:
        try:
            c = bench_comfyd(a)
        except (RuntimeError, OSError) as e:
            print("comfyd  FAILED:", e)
            rc = 1
        sys.stdout.flush()
    if a.sdcpp:
        try:
            s = bench_sdcpp(a)
        except (RuntimeError, OSError) as e:
            print("sd.cpp  FAILED:", e)
            rc = 1
    if c and s:
        print("ratio   sd.cpp/comfyd per step %.2fx, VAE decode %.2fx, whole %.2fx, "
              "CPU time %.2fx; RSS comfyd/sd.cpp %.2f"
              % (s["per_step"] / c["per_step"], s["decode"] / c["decode"],
                 s["total"] / c["total"], s["cpu"] / c["cpu"], c["rss_mib"] / s["rss_mib"]))
    return rc


if __name__ == "__main__":
    sys.exit(main())
