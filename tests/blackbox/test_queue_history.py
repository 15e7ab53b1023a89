"""Queue, interrupt, free and history (spec §1.15-1.18, checklist 75-97)."""
import time

import pytest
import requests

from conftest import minimal_prompt, queue, run, new_id


def has_testing(server):
    return bool(requests.get(server + "/object_info/TestSleep").json())


def sleep_prompt(seconds, color=1, prefix="q"):
    return {"3": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8,
                                                         "batch_size": 1, "color": color}},
            "1": {"class_type": "TestSleep", "inputs": {"value": ["3", 0], "seconds": seconds}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                        "filename_prefix": prefix}}}


def wait_idle(server, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if requests.get(server + "/prompt").json()["exec_info"]["queue_remaining"] == 0:
            return
        time.sleep(0.05)
    raise TimeoutError


def test_queue_shape_running_delete_clear(server, ws_client):        # 75-80
    if not has_testing(server):
        pytest.skip("testing pack not built")
    wait_idle(server)
    c = ws_client()
    r1 = queue(server, sleep_prompt(2.0, color=11), c.sid)
    r2 = queue(server, minimal_prompt("qa", color=12), c.sid)
    r3 = queue(server, minimal_prompt("qb", color=13), c.sid)
    r4 = queue(server, minimal_prompt("qc", color=14), c.sid)
    p1, p2, p3 = r1.json()["prompt_id"], r2.json()["prompt_id"], r3.json()["prompt_id"]
    time.sleep(0.3)
    q = requests.get(server + "/queue").json()
    assert list(q.keys()) == ["queue_running", "queue_pending"]
    assert len(q["queue_running"]) == 1 and q["queue_running"][0][1] == p1
    item = q["queue_running"][0]
    assert len(item) == 5 and item[3]["client_id"] == c.sid
    assert requests.get(server + "/prompt").json()["exec_info"]["queue_remaining"] == 4
    r = requests.post(server + "/queue", json={"delete": [p2]})
    assert r.status_code == 200 and r.content == b""
    end = time.time() + 5
    while time.time() < end:                 # progress messages interleave
        m = c.recv()
        if m["type"] == "status" and m["data"]["status"]["exec_info"]["queue_remaining"] == 3:
            break
    else:
        raise AssertionError("no status broadcast after delete")
    pend = [i[1] for i in requests.get(server + "/queue").json()["queue_pending"]]
    assert p2 not in pend and p3 in pend
    requests.post(server + "/queue", json={"delete": [p1]})       # running: unaffected
    requests.post(server + "/queue", json={"clear": True})
    q = requests.get(server + "/queue").json()
    assert q["queue_pending"] == [] and len(q["queue_running"]) == 1
    c.until_done(p1)
    assert requests.get(server + f"/history/{p1}").json()[p1]["status"]["status_str"] == "success"


def test_interrupt(server, ws_client):                                # 81-84
    r = requests.post(server + "/interrupt")
    assert r.status_code == 200 and r.content == b""
    if not has_testing(server):
        pytest.skip("testing pack not built")
    wait_idle(server)
    c = ws_client()
    pid = queue(server, sleep_prompt(0.5, color=21), c.sid).json()["prompt_id"]
    time.sleep(0.1)
    assert requests.post(server + "/interrupt", json={"prompt_id": "not-running"}).status_code == 200
    msgs = c.until_done(pid)
    assert any(m["type"] == "execution_success" for m in msgs)
    pid = queue(server, sleep_prompt(5, color=22), c.sid).json()["prompt_id"]
    while True:
        m = c.recv()
        if m["type"] == "executing" and m["data"]["node"] == "1":
            break
    requests.post(server + "/interrupt", json={"prompt_id": pid})
    msgs = c.until_done(pid, timeout=30)
    intr = [m for m in msgs if m["type"] == "execution_interrupted"]
    assert intr
    assert {"prompt_id", "node_id", "node_type", "executed", "timestamp"} <= intr[0]["data"].keys()
    assert requests.get(server + f"/history/{pid}").json()[pid]["status"]["status_str"] == "error"
    requests.post(server + "/interrupt")                              # 84
    pid, msgs = run(server, c, minimal_prompt("afterint", color=23))
    assert any(m["type"] == "execution_success" for m in msgs)


def test_free_reruns_cached(server, ws_client):                      # 85, 98, 99
    c = ws_client()
    p = minimal_prompt("free", color=31)
    run(server, c, p)
    pid, msgs = run(server, c, p)
    cached = next(m for m in msgs if m["type"] == "execution_cached")
    assert set(cached["data"]["nodes"]) >= {"1", "2"}
    assert not [m for m in msgs if m["type"] == "executing" and m["data"]["node"]]
    assert any(m["type"] == "executed" and m["data"]["node"] == "2" for m in msgs)
    r = requests.post(server + "/free", json={"free_memory": True})
    assert r.status_code == 200 and r.content == b""
    pid, msgs = run(server, c, p)
    assert [m for m in msgs if m["type"] == "executing" and m["data"]["node"]]


def test_history_entry(server, ws_client):                           # 86-91
    c = ws_client()
    pid, _ = run(server, c, minimal_prompt("t", color=41),
                 extra_data={"auth_token_comfy_org": "s3", "api_key_comfy_org": "k"})
    h = requests.get(server + f"/history/{pid}").json()[pid]
    assert list(h.keys()) == ["prompt", "outputs", "status", "meta"]
    st = h["status"]
    assert st["status_str"] == "success" and st["completed"] is True
    assert st["messages"][0][0] == "execution_start"
    assert "auth_token_comfy_org" not in h["prompt"][3]
    assert "api_key_comfy_org" not in h["prompt"][3]
    import re
    assert re.fullmatch(r"t_\d{5}_\.png", h["outputs"]["2"]["images"][0]["filename"])
    assert h["meta"]["2"] == {"node_id": "2", "display_node": "2", "parent_node": None,
                              "real_node_id": "2"}
    assert requests.get(server + "/history/unknown").json() == {}


def test_history_paging_and_delete(server, ws_client):               # 92-96
    c = ws_client()
    for i in range(3):
        run(server, c, minimal_prompt("hp", color=50 + i))
    allh = requests.get(server + "/history").json()
    ids = list(allh)
    n = len(ids)
    assert list(requests.get(server + "/history?max_items=2").json()) == ids[-2:]
    assert list(requests.get(server + "/history?max_items=2&offset=0").json()) == ids[:2]
    assert requests.get(server + f"/history?offset={n}").json() == {}
    assert list(requests.get(server + "/history?offset=2").json()) == ids[2:]
    r = requests.post(server + "/history", json={"delete": [ids[0]]})
    assert r.status_code == 200 and r.content == b""
    assert ids[0] not in requests.get(server + "/history").json()
    assert requests.post(server + "/history", json={"clear": True}).status_code == 200
    assert requests.get(server + "/history").json() == {}


def test_failing_node(server, ws_client):                             # 97
    if not has_testing(server):
        pytest.skip("testing pack not built")
    c = ws_client()
    p = {"3": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8,
                                                      "batch_size": 1, "color": 61}},
         "1": {"class_type": "TestSyncError", "inputs": {"value": ["3", 0]}},
         "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "e"}}}
    pid, msgs = run(server, c, p)
    st = requests.get(server + f"/history/{pid}").json()[pid]["status"]
    assert st["status_str"] == "error" and st["completed"] is False
    assert st["messages"][-1][0] == "execution_error"
    assert st["messages"][-1][1]["exception_message"].endswith("\n")


def test_exec_semantics(server, ws_client):                           # 100-106
    c = ws_client()
    run(server, c, minimal_prompt("ex", color=71))
    pid, msgs = run(server, c, minimal_prompt("ex", color=72))         # 100
    ran = {m["data"]["node"] for m in msgs if m["type"] == "executing" and m["data"]["node"]}
    assert ran == {"1", "2"}
    files = sorted(f.name for f in server.output.iterdir() if f.name.startswith("ex_"))
    assert files[-1] == "ex_00002_.png"
    p = minimal_prompt("dis", color=73)                                 # 101
    p["9"] = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8,
                                                     "batch_size": 1, "color": 74}}
    pid, msgs = run(server, c, p)
    assert "9" not in {m["data"]["node"] for m in msgs if m["type"] == "executing"}
    p = minimal_prompt("pt", color=75)                                  # 102
    p["3"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "pt3"}}
    pid, msgs = run(server, c, p, partial_execution_targets=["2"])
    assert "3" not in {m["data"]["node"] for m in msgs if m["type"] == "executing"}
    (server.output / "ctr_00007_.png").write_bytes(b"x")                # 103
    pid, _ = run(server, c, minimal_prompt("ctr", color=76))
    assert requests.get(server + f"/history/{pid}").json()[pid]["outputs"]["2"]["images"][0][
        "filename"] == "ctr_00008_.png"
    pid, _ = run(server, c, minimal_prompt("sub/t", color=77))          # 104
    img = requests.get(server + f"/history/{pid}").json()[pid]["outputs"]["2"]["images"][0]
    assert img["subfolder"] == "sub" and (server.output / "sub" / img["filename"]).exists()
    pid, msgs = run(server, c, minimal_prompt("../t", color=78))        # 105
    assert any(m["type"] == "execution_error" for m in msgs)
    p = {"1": minimal_prompt()["1"],                                     # 106
         "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    p["1"]["inputs"]["color"] = 79
    pid, msgs = run(server, c, p)
    import re
    img = next(m for m in msgs if m["type"] == "executed")["data"]["output"]["images"][0]
    assert img["type"] == "temp"
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_\d{5}_\.png", img["filename"])


def test_png_metadata(server, ws_client):                              # 107
    from pngutil import read_png
    c = ws_client()
    pid, _ = run(server, c, minimal_prompt("meta", color=81),
                 extra_data={"extra_pnginfo": {"workflow": {"nodes": []}}})
    img = requests.get(server + f"/history/{pid}").json()[pid]["outputs"]["2"]["images"][0]
    texts = read_png((server.output / img["filename"]).read_bytes())[4]
    assert "prompt" in texts and "workflow" in texts
