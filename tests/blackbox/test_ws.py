"""WebSocket protocol (spec §2, checklist 25-46)."""
import json
import re
import time

import requests
import websocket

from conftest import minimal_prompt, queue, run, new_id


def test_first_status_generated_sid(server, ws_client):          # 25
    c = ws_client(feature_flags=False)
    assert c.first["type"] == "status"
    assert list(c.first["data"].keys()) == ["status", "sid"]
    assert c.first["data"]["status"] == {"exec_info": {"queue_remaining": 0}}
    assert re.fullmatch(r"[0-9a-f]{32}", c.sid)


def test_client_id_sid_and_api_ws(server, ws_client):           # 26, 27
    assert ws_client("abc", feature_flags=False).sid == "abc"
    assert ws_client("abd", feature_flags=False, path="/api/ws").sid == "abd"


def test_feature_flags(server, ws_client):                        # 28, 29, 30
    c = ws_client()
    assert c.flags_reply == {"type": "feature_flags",
                             "data": {"supports_preview_metadata": True,
                                      "max_upload_size": 104857600}}
    c.ws.send(json.dumps({"type": "feature_flags", "data": {}}))
    assert c.drain() == []
    assert requests.get(server + "/features").json() == c.flags_reply["data"]


def test_invalid_first_frames_do_not_use_slot(server, ws_client):
    c = ws_client(feature_flags=False)
    c.ws.send("not json")
    c.ws.send("[1, 2]")
    c.ws.send_binary(b"\x00\x01")
    c.ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    assert c.recv()["type"] == "feature_flags"


def test_prompt_messages(server, ws_client):                      # 31-42
    c = ws_client()
    other = ws_client()
    pid, msgs = run(server, c, minimal_prompt("wsm"))
    types = [m["type"] for m in msgs]
    # 32: order
    seq = [t for t in types if t in ("execution_start", "execution_cached",
                                     "execution_success")]
    assert seq == ["execution_start", "execution_cached", "execution_success"]
    assert types.index("execution_start") < types.index("executing") < \
        types.index("execution_success")
    # 31: status broadcast without sid
    st = [m for m in msgs if m["type"] == "status"]
    assert st and all("sid" not in m["data"] for m in st)
    # 33, 34
    for m in msgs:
        if m["type"] in ("execution_start", "execution_cached", "execution_success"):
            assert isinstance(m["data"]["timestamp"], int)
            assert m["data"]["timestamp"] > 1_600_000_000_000
    cached = next(m for m in msgs if m["type"] == "execution_cached")
    assert list(cached["data"].keys()) == ["nodes", "prompt_id", "timestamp"]
    # 37
    ex = [m for m in msgs if m["type"] == "executing" and m["data"]["node"]]
    assert ex and list(ex[0]["data"].keys()) == ["node", "display_node", "prompt_id"]
    assert all(m["data"]["display_node"] == m["data"]["node"] for m in ex)
    # 38
    done = next(m for m in msgs if m["type"] == "executed" and m["data"]["node"] == "2")
    img = done["data"]["output"]["images"][0]
    assert list(img.keys()) == ["filename", "subfolder", "type"] and img["type"] == "output"
    # 39, 40
    ps = [m for m in msgs if m["type"] == "progress_state"]
    first_exec = types.index("executing")
    running = [i for i, m in enumerate(msgs) if m["type"] == "progress_state"
               and m["data"]["nodes"].get(ex[0]["data"]["node"], {}).get("state") == "running"]
    assert running and running[0] < first_exec
    entry = ps[-1]["data"]["nodes"]["2"]
    assert list(entry.keys()) == ["value", "max", "state", "node_id", "prompt_id",
                                  "display_node_id", "parent_node_id", "real_node_id"]
    assert entry["state"] == "finished"
    # 41: final executing after the status with the decremented count
    assert types[-1] == "executing" and types[-2] == "status"
    assert msgs[-2]["data"]["status"]["exec_info"]["queue_remaining"] == 0
    # 42
    assert pid in requests.get(server + f"/history/{pid}").json()
    # 35: the other socket saw only broadcasts
    seen = {m["type"] for m in other.drain()}
    assert "status" in seen
    assert not seen & {"execution_start", "execution_cached", "executing",
                       "executed", "execution_success"}


def test_no_client_id_broadcast_only(server, ws_client):          # 36
    c = ws_client()
    r = queue(server, minimal_prompt("nocid", color=5))
    assert r.status_code == 200
    time.sleep(1.0)
    msgs = c.drain(0.5)
    types = {m["type"] for m in msgs if isinstance(m, dict)}
    assert "status" in types
    assert "execution_start" not in types and "executing" not in types


def test_reconnect_while_running(server, ws_client):              # 43
    info = requests.get(server + "/object_info/TestSleep").json()
    if not info:
        import pytest
        pytest.skip("testing pack not built")
    sid = new_id()
    c = ws_client(sid)
    prompt = {"1": {"class_type": "TestSleep", "inputs": {"value": ["3", 0], "seconds": 1.5}},
              "3": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8,
                                                           "batch_size": 1, "color": 7}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                          "filename_prefix": "sl"}}}
    r = queue(server, prompt, sid)
    assert r.status_code == 200, r.text
    pid = r.json()["prompt_id"]
    deadline = time.time() + 10
    while time.time() < deadline:
        m = c.recv()
        if isinstance(m, dict) and m["type"] == "executing" and m["data"]["node"] == "1":
            break
    c2 = ws_client(sid, feature_flags=False)
    assert c2.first["data"]["sid"] == sid
    m = c2.recv()
    assert m == {"type": "executing", "data": {"node": "1"}}
    c2.until_done(pid)


def test_slow_client_is_dropped_server_survives(server, ws_client):
    # A socket that never reads, with a tiny receive window: broadcasts pile
    # up in its bounded send queue until the server drops it (and logs so);
    # other clients and the HTTP API carry on.
    import socket as so
    slow = websocket.create_connection(
        server.replace("http://", "ws://") + "/ws", timeout=10,
        sockopt=[(so.SOL_SOCKET, so.SO_RCVBUF, 2048)])
    body = {"prompt": minimal_prompt("flood")}
    dropped = False
    with requests.Session() as sess:
        for i in range(20000):
            assert sess.post(server + "/prompt", json=body).status_code == 200
            if i % 500 == 499 and "too slow" in server.log.read_text():
                dropped = True
                break
    assert dropped, "slow client was not dropped"
    assert requests.get(server + "/prompt").status_code == 200
    c2 = ws_client(feature_flags=False)
    assert c2.first["type"] == "status"
    slow.close()


def test_logs_subscription(server, ws_client):
    c = ws_client()
    r = requests.patch(server + "/internal/logs/subscribe",
                       json={"clientId": c.sid, "enabled": True})
    assert r.status_code == 200
    # something that logs: a request whose handler fails is logged
    requests.get(server + "/view", params={"filename": "nolog.png", "preview": "webp"})
    (server.output / "bad_for_log.png").write_bytes(b"junk")
    requests.get(server + "/view", params={"filename": "bad_for_log.png", "preview": "webp"})
    deadline = time.time() + 5
    got = None
    while time.time() < deadline and not got:
        for m in c.drain(0.5):
            if isinstance(m, dict) and m["type"] == "logs":
                got = m
    assert got, "no logs message"
    assert list(got["data"].keys()) == ["entries", "size"]
    assert any("failed" in e["m"] for e in got["data"]["entries"])


def preview_frames(msgs):
    return [m for m in msgs if isinstance(m, bytes)]


def test_binary_preview_frames(server, ws_client):               # 44, 45, 46
    import struct
    if not requests.get(server + "/object_info/ApiTestPreview").json():
        import pytest
        pytest.skip("apitest pack not built")
    meta_client = ws_client()                     # supports_preview_metadata: true
    plain = ws_client(feature_flags=False)
    pid, msgs = run(server, meta_client, {"1": {"class_type": "ApiTestPreview",
                                                 "inputs": {"seed": 1}}})
    frames = preview_frames(msgs)
    assert len(frames) == 2
    for i, m in enumerate(msgs):                   # type 4 comes before its progress
        if isinstance(m, bytes):
            assert msgs[i + 1]["type"] == "progress"
    for f in frames:
        kind, mlen = struct.unpack(">II", f[:8])
        assert kind == 4                           # never type 1 for this client
        meta = json.loads(f[8:8 + mlen])
        assert list(meta.keys()) == ["node_id", "prompt_id", "display_node_id",
                                     "parent_node_id", "real_node_id", "image_type"]
        assert meta["node_id"] == "1" and meta["prompt_id"] == pid
        assert meta["image_type"] == "image/jpeg"
        assert f[8 + mlen:8 + mlen + 2] == b"\xff\xd8"
    assert preview_frames(plain.drain(0.3)) == []   # not the other client's

    # a client without the flag gets type 1 (JPEG) for its own prompt
    r = queue(server, {"1": {"class_type": "ApiTestPreview", "inputs": {"seed": 2}}}, plain.sid)
    plain_msgs = plain.until_done(r.json()["prompt_id"])
    frames = preview_frames(plain_msgs)
    assert len(frames) == 2
    assert all(struct.unpack(">II", f[:8]) == (1, 1) and f[8:10] == b"\xff\xd8" for f in frames)
    # order (spec 2.7): type 1 right after its progress message
    msgs = plain_msgs
    for i, m in enumerate(msgs):
        if isinstance(m, bytes):
            assert isinstance(msgs[i - 1], dict) and msgs[i - 1]["type"] == "progress"

    # no client_id: type 1 to everyone
    r = queue(server, {"1": {"class_type": "ApiTestPreview", "inputs": {"seed": 3}}})
    time.sleep(1.0)
    got = preview_frames(meta_client.drain(0.5))
    assert got and all(struct.unpack(">I", f[:4])[0] == 1 for f in got)


def test_permessage_deflate(server):
    """Browsers offer permessage-deflate; the server accepts it (spec 2.1)."""
    import base64
    import os
    import socket
    import zlib
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall((f"GET /ws?clientId=deflate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n"
                   f"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                   f"\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
            data += s.recv(4096)
        head, frame = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101")
        assert b"permessage-deflate" in head.lower()
        assert frame[0] == 0xC1                      # FIN, RSV1 (compressed), text
        n = frame[1] & 0x7F
        hdr = 2
        if n == 126:
            while len(frame) < 4:
                frame += s.recv(4096)
            n, hdr = int.from_bytes(frame[2:4], "big"), 4
        while len(frame) < hdr + n:
            frame += s.recv(4096)
        text = zlib.decompressobj(-15).decompress(frame[hdr:hdr + n] + b"\x00\x00\xff\xff")
        msg = json.loads(text)
        assert msg["type"] == "status" and msg["data"]["sid"] == "deflate"
