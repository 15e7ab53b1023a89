"""The same routes driven by curl, as shell scripts and docs do."""
import json
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_curl_prompt_and_queue(server):
    out = curl("-X", "POST", "--data", json.dumps({"prompt": {"1": {
        "class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                               "color": 9}}, "2": {
        "class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "curl"}}}}),
        server + "/prompt")
    assert json.loads(out)["node_errors"] == {}
    assert b"queue_running" in curl(server + "/api/queue")


def test_curl_head_and_status_line(server):
    head = curl("-I", server + "/object_info")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"application/json; charset=utf-8" in head


def test_curl_big_upload_with_expect(server, tmp_path):
    # curl sends "Expect: 100-continue" for bodies over 1 MB
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x89PNG" + bytes(1_500_000))
    out = curl("-F", f"image=@{big};filename=curlbig.png", "-F", "subfolder=c",
               server + "/upload/image")
    assert json.loads(out) == {"name": "curlbig.png", "subfolder": "c", "type": "input"}
    assert (server.input / "c" / "curlbig.png").stat().st_size == big.stat().st_size


def test_curl_compressed(make_server):
    s = make_server("--enable-compress-response-body")
    out = curl("--compressed", "-D", "-", s + "/object_info")
    assert b"content-encoding: gzip" in out.lower()
    assert b'"SaveImage"' in out
