#!/usr/bin/env python3
"""runtime_rescan: comfyd rescans its pack directory on SIGHUP.

Starts comfyd on a free port with a temporary pack directory holding one
test pack (rt_slow), sending it SIGHUP while that pack loads, then, while a prompt runs, copies rt_good (and a pack
built for another ABI) in and sends SIGHUP: /object_info must list both
packs' classes, the old ones first, and a prompt may use the new classes
at once.  Then a pack with a class name that is taken (rt_dup) is refused
as a whole, a replaced and a removed pack file are logged ("restart to
...") and stay loaded, and comfyd exits cleanly on SIGTERM (under ASan
that includes the leak check).

Usage: rescan_test.py COMFYD RT_SLOW.so RT_GOOD.so RT_DUP.so RT_BADABI.so
Python standard library only.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TIMEOUT = 20.0  # seconds for anything to happen (ASan builds are slow)


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Comfyd:
    def __init__(self, binary, base, packs):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        os.makedirs(base, exist_ok=True)
        self.log_path = os.path.join(base, "comfyd.log")
        self.log = open(self.log_path, "w")
        env = dict(os.environ, RT_SLOW_INIT_MS="500")
        self.proc = subprocess.Popen(
            [binary, "--base-directory", base, "--port", str(self.port),
             "--nodepack-dir", packs],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=TIMEOUT) as r:
            return json.loads(r.read(), object_pairs_hook=list)

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def classes(self):
        return [k for k, _ in self.get("/object_info")]

    def alive(self):
        check(self.proc.poll() is None,
              f"comfyd exited with {self.proc.returncode}:\n{self.text()}")

    def wait(self, cond, what):
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end:
            self.alive()
            v = cond()
            if v:
                return v
            time.sleep(0.02)
        raise Fail(f"timed out waiting for {what}")

    def wait_log(self, needle, start=0):
        return self.wait(lambda: needle in self.text()[start:], f"log line '{needle}'")

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def running(self):
        q = dict(self.get("/queue"))
        return len(q["queue_running"]) > 0

    def history_status(self, pid):
        h = dict(self.get(f"/history/{pid}"))
        if pid not in h:
            return None
        return dict(dict(h[pid])["status"])["status_str"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def install(src, packs, name):
    """Copies a pack in as dropping it in place would: a new file renamed in."""
    tmp = os.path.join(packs, "." + name + ".tmp")
    shutil.copyfile(src, tmp)
    os.rename(tmp, os.path.join(packs, name))


def run(binary, slow, good, dup, badabi, work):
    packs = os.path.join(work, "packs")
    os.makedirs(packs)
    install(slow, packs, "rt_slow.so")
    srv = Comfyd(binary, os.path.join(work, "base"), packs)
    try:
        # A SIGHUP while comfyd starts (here: while rt_slow's init runs,
        # server not up yet) waits for the server and must not end the
        # process.
        srv.wait_log("rt_slow: init waits")
        srv.hup()
        time.sleep(0.1)
        srv.alive()
        srv.wait(lambda: _up(srv), "the server to answer")
        srv.wait_log("Rescan of node packs: no new pack")
        slow_classes = ["RtSlowSleep", "RtSlowConst"]
        check(srv.classes() == slow_classes, f"start-up classes: {srv.classes()}")

        # A prompt runs while a pack is added.
        st, r = srv.post("/prompt", {"prompt": {
            "1": {"class_type": "RtSlowSleep", "inputs": {"seconds": 3.0}}}})
        check(st == 200, f"POST /prompt: {st} {r}")
        pid1 = r["prompt_id"]
        srv.wait(srv.running, "the first prompt to run")
        mark = len(srv.text())
        install(good, packs, "rt_good.so")
        install(badabi, packs, "rt_badabi.so")
        srv.hup()
        good_classes = ["LoadImage", "SaveImage", "RtV3Node", "RtDouble"]
        seen = srv.wait(lambda: (c := srv.classes()) != slow_classes and c,
                        "the new classes in /object_info")
        check(seen == slow_classes + good_classes, f"classes after the rescan: {seen}")
        check(srv.running(), "the first prompt ended before the rescan was seen "
                             "(no concurrency tested)")
        info = dict(srv.get("/object_info/RtDouble"))
        check("RtDouble" in info, f"/object_info/RtDouble: {info}")
        log = srv.text()[mark:]
        check("Rescan added node pack rt_good" in log and
              "LoadImage, SaveImage, RtV3Node, RtDouble" in log,
              f"the rescan log does not list what it added:\n{log}")
        check("rt_badabi.so: built for SDK ABI 99.0" in log,
              f"the broken new pack is not logged with its reason:\n{log}")

        # The new classes validate and run at once.
        st, r = srv.post("/prompt", {"prompt": {
            "1": {"class_type": "RtDouble", "inputs": {"value": 21}},
            "2": {"class_type": "RtSlowSleep", "inputs": {"seconds": 0.05}},
            "3": {"class_type": "RtV3Node",
                  "inputs": {"value": ["1", 0], "method": "bilinear"}}}})
        check(st == 200, f"POST /prompt with the new classes: {st} {r}")
        pid2 = r["prompt_id"]
        check(srv.wait(lambda: srv.history_status(pid1), "prompt 1 in history")
              == "success", "prompt 1 did not succeed")
        check(srv.wait(lambda: srv.history_status(pid2), "prompt 2 in history")
              == "success", "prompt 2 did not succeed")

        # A pack whose class name is taken is refused as a whole.
        mark = len(srv.text())
        install(dup, packs, "rt_dup.so")
        srv.hup()
        srv.wait_log("rt_dup.so: init failed: duplicate node class RtDouble", mark)
        srv.wait_log("Rescan of node packs: no new pack", mark)
        now = srv.classes()
        check(now == slow_classes + good_classes, f"classes after rt_dup: {now}")
        check("RtDupOwn" not in now, "rt_dup's own class was published")

        # Replaced and removed pack files stay loaded and are logged.
        mark = len(srv.text())
        install(slow, packs, "rt_slow.so")
        os.unlink(os.path.join(packs, "rt_good.so"))
        srv.hup()
        srv.wait_log("restart to replace rt_slow", mark)
        srv.wait_log("restart to unload rt_good", mark)
        srv.wait_log("Rescan of node packs: no new pack", mark)
        check(srv.classes() == slow_classes + good_classes, "classes changed")
        st, r = srv.post("/prompt", {"prompt": {
            "1": {"class_type": "RtSlowSleep", "inputs": {"seconds": 0.05}}}})
        check(st == 200, f"POST /prompt after the replace: {st} {r}")
        pid3 = r["prompt_id"]
        check(srv.wait(lambda: srv.history_status(pid3), "prompt 3 in history")
              == "success", "prompt 3 did not succeed")
    except BaseException:
        srv.stop()
        print(srv.text())
        raise
    rc = srv.stop()
    if rc != 0:
        print(srv.text())
        raise Fail(f"comfyd exited with {rc} on SIGTERM")


def _up(srv):
    try:
        srv.get("/system_stats")
        return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    work = tempfile.mkdtemp(prefix="comfyd-rescan-")
    try:
        run(*sys.argv[1:6], work)
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("rescan test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
