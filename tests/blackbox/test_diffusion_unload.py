"""Model memory: /system_stats reports the RAM the diffusion pack keeps for
loaded checkpoints ("comfyd_models_ram" in "system"), POST /free
{"unload_models": true} releases it, and a later prompt loads the
checkpoint again.  Uses the small generated checkpoint of
test_diffusion_workflow.py; skipped when the pack or the tool is missing."""
import time

import requests

from test_diffusion_workflow import add_checkpoint, need_pack, run_ws, workflow


def models_ram(server):
    r = requests.get(server + "/system_stats")
    assert r.status_code == 200
    system = r.json()["system"]
    # ComfyUI's keys are still there, ours comes after them.
    assert "ram_total" in system and "ram_free" in system
    return system["comfyd_models_ram"]


def wait_ram(server, pred, timeout=20):
    end = time.time() + timeout
    while True:
        v = models_ram(server)
        if pred(v) or time.time() > end:
            return v
        time.sleep(0.1)


def run_ok(server, ws, prompt):
    _, msgs = run_ws(server, ws, prompt)
    types = [m["type"] for m in msgs if isinstance(m, dict)]
    assert "execution_error" not in types, msgs
    assert "execution_success" in types
    return msgs


def loader_ran(msgs):
    return any(isinstance(m, dict) and m["type"] == "executing"
               and m["data"].get("node") == "4" for m in msgs)


def test_unload_models(server, ws_client):
    need_pack()
    ckpt = add_checkpoint(server)
    size = (server.base / "models" / "checkpoints" / ckpt).stat().st_size
    ws = ws_client()
    assert models_ram(server) == 0          # nothing loaded yet

    run_ok(server, ws, workflow(ckpt, seed=1, steps=1, prefix="unl1"))
    loaded = models_ram(server)
    # The mapped checkpoint is counted (weights are borrowed from it).
    assert loaded >= size, (loaded, size)

    r = requests.post(server + "/free", json={"unload_models": True})
    assert r.status_code == 200
    assert wait_ram(server, lambda v: v == 0) == 0

    # The executor's cache still holds the loader's outputs: a new seed
    # samples again without loading, and works.
    msgs = run_ok(server, ws, workflow(ckpt, seed=2, steps=1, prefix="unl2"))
    assert not loader_ran(msgs)
    assert models_ram(server) == 0

    # Emptying both: the next prompt loads the checkpoint again.
    r = requests.post(server + "/free", json={"unload_models": True, "free_memory": True})
    assert r.status_code == 200
    assert wait_ram(server, lambda v: v == 0) == 0
    time.sleep(0.3)                          # let the worker finish the /free
    msgs = run_ok(server, ws, workflow(ckpt, seed=3, steps=1, prefix="unl3"))
    assert loader_ran(msgs)
    assert models_ram(server) == loaded


def test_no_leak_at_exit(make_server, ws_client):
    """The pack's fini frees what it built (the checkpoint cache, the shared
    CLIP tokenizer): a sanitizer build reports no leak when comfyd exits
    after a prompt (a Release build prints nothing either way)."""
    need_pack()
    srv = make_server()
    ckpt = add_checkpoint(srv)
    ws = ws_client(srv=srv)
    run_ok(srv, ws, workflow(ckpt, seed=4, steps=1, prefix="leak"))
    ws.close()
    srv.stop()
    assert srv.proc.returncode == 0
    log = srv.log.read_text(errors="replace")
    assert "LeakSanitizer" not in log, log[-4000:]
