"""Black-box fixtures: start the real comfyd binary on a free port with
temporary base/input/output/user directories and talk to it with real
clients (requests, websocket-client), the way ComfyUI's script_examples do.

COMFYD_BUILD names the build directory (default: <repo>/build).  The
`testing` node pack (TestSleep, TestSyncError, ...) is loaded when it was
built (<build>/test-packs/testing).
"""
import json
import os
import pathlib
import socket
import subprocess
import time
import uuid

import pytest
import requests
import websocket

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("COMFYD_BUILD", REPO / "build")).resolve()
BINARY = BUILD / "comfyd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server(str):
    """The base URL ("http://127.0.0.1:PORT"), with the folders attached."""

    def __new__(cls, url, **kw):
        obj = super().__new__(cls, url)
        obj.__dict__.update(kw)
        return obj

    def url(self, path):
        return self + path

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_server(base, *extra):
    if not BINARY.exists():
        pytest.skip(f"{BINARY} not built")
    base = pathlib.Path(base)
    (base / "user").mkdir(parents=True, exist_ok=True)
    (base / "input").mkdir(exist_ok=True)
    (base / "output").mkdir(exist_ok=True)
    port = free_port()
    args = [str(BINARY), "--base-directory", str(base), "--port", str(port)]
    packs = [BUILD / "nodepacks", BUILD / "test-packs" / "testing",
             BUILD / "test-packs" / "apitest"]
    for p in packs:
        if p.is_dir():
            args += ["--nodepack-dir", str(p)]
    args += list(extra)
    log = open(base / "comfyd.log", "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=base)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"comfyd exited: {(base / 'comfyd.log').read_text()}")
        try:
            if requests.get(url + "/prompt", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("comfyd did not start")
    return Server(url, proc=proc, port=port, base=base, input=base / "input",
                  output=base / "output", temp=base / "temp", user=base / "user",
                  log=base / "comfyd.log")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("comfyd"))
    yield s
    s.stop()


@pytest.fixture
def make_server(tmp_path_factory):
    """Starts extra servers with flags: make_server("--multi-user")."""
    started = []

    def make(*flags):
        s = start_server(tmp_path_factory.mktemp("comfyd"), *flags)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


class WsClient:
    def __init__(self, server, client_id=None, feature_flags=True, path="/ws"):
        url = server.replace("http://", "ws://") + path
        if client_id:
            url += "?clientId=" + client_id
        self.ws = websocket.create_connection(url, timeout=20)
        self.first = json.loads(self.ws.recv())
        self.sid = self.first["data"]["sid"]
        self.flags_reply = None
        if feature_flags:
            self.ws.send(json.dumps({"type": "feature_flags",
                                     "data": {"supports_preview_metadata": True}}))
            self.flags_reply = json.loads(self.ws.recv())

    def recv(self, timeout=20):
        self.ws.settimeout(timeout)
        m = self.ws.recv()
        return json.loads(m) if isinstance(m, str) else m

    def until_done(self, prompt_id, timeout=60):
        """Messages up to and including executing{node: null} for prompt_id."""
        out = []
        end = time.time() + timeout
        while time.time() < end:
            m = self.recv(timeout=max(0.1, end - time.time()))
            out.append(m)
            if (isinstance(m, dict) and m["type"] == "executing"
                    and m["data"]["node"] is None
                    and m["data"]["prompt_id"] == prompt_id):
                return out
        raise TimeoutError(f"prompt {prompt_id} did not finish")

    def drain(self, wait=0.3):
        out = []
        self.ws.settimeout(wait)
        try:
            while True:
                m = self.ws.recv()
                out.append(json.loads(m) if isinstance(m, str) else m)
        except websocket.WebSocketTimeoutException:
            pass
        return out

    def close(self):
        self.ws.close()


@pytest.fixture
def ws_client(server):
    made = []

    def make(client_id=None, feature_flags=True, path="/ws", srv=None):
        c = WsClient(srv or server, client_id, feature_flags, path)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def minimal_prompt(prefix="t", color=0):
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage",
              "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def queue(server, prompt, client_id=None, **extra):
    body = {"prompt": prompt}
    if client_id is not None:
        body["client_id"] = client_id
    body.update(extra)
    return requests.post(server + "/prompt", json=body)


def run(server, ws, prompt, **extra):
    """Queues prompt for ws's client, waits for completion; returns
    (prompt_id, messages)."""
    r = queue(server, prompt, ws.sid, **extra)
    assert r.status_code == 200, r.text
    pid = r.json()["prompt_id"]
    return pid, ws.until_done(pid)


def new_id():
    return uuid.uuid4().hex
