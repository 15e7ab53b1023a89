"""Drives headless Chromium over the DevTools protocol against a comfyd
serving the ComfyUI frontend: the page boots without console errors or
failing API requests, the node library lists comfyd's nodes, and a
LoadImage -> ImageInvert -> SaveImage graph queued from the UI produces an
image that appears on the SaveImage node.  Writes screenshots and a JSON
report into OUT.

    python3 check.py SERVER_URL CDP_PORT OUT_DIR
"""
import base64
import itertools
import json
import pathlib
import sys
import time
import urllib.request

import websocket

server, cdp_port, out = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)

# Requests the frontend makes that comfyd (like ComfyUI without the optional
# template/docs packages and with a fresh user directory) answers with 404;
# the frontend treats them as absent.  Console errors are reported but only
# failing requests outside this list fail the check (the 1.27 frontend logs
# a TypeError of its own while registering default settings).
TOLERATED_404 = ("/user.css", "/api/userdata?dir=", "/api/userdata/user.css", "/api/userdata/comfy.templates.json",
                 "/templates/", "/api/global_subgraphs", "/api/userdata/subgraphs",
                 "/docs/", "/api/userdata/workflows", "/favicon")

for _ in range(100):
    try:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{cdp_port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        break
    except Exception:
        time.sleep(0.1)
ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                 suppress_origin=True)
ids = itertools.count(1)
events = []
console_errors, failed = [], []


def handle(ev):
    m, p = ev.get("method"), ev.get("params", {})
    if m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
        console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                       for a in p["args"]))
    elif m == "Runtime.exceptionThrown":
        d = p["exceptionDetails"]
        console_errors.append(d.get("exception", {}).get("description", d.get("text")))
    elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
        console_errors.append(p["entry"]["text"] + " " + p["entry"].get("url", ""))
    elif m == "Network.responseReceived":
        r = p["response"]
        if r["url"].startswith(server) and r["status"] >= 400:
            failed.append((r["status"], r["url"][len(server):]))


def call(method, **params):
    i = next(ids)
    ws.send(json.dumps({"id": i, "method": method, "params": params}))
    while True:
        msg = json.loads(ws.recv())
        if msg.get("id") == i:
            if "error" in msg:
                raise RuntimeError(f"{method}: {msg['error']}")
            return msg.get("result", {})
        handle(msg)


def pump(seconds):
    end = time.time() + seconds
    ws.settimeout(0.2)
    while time.time() < end:
        try:
            handle(json.loads(ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
    ws.settimeout(60)


def js(expr):
    r = call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in r:
        raise RuntimeError(f"JS failed: {expr[:80]}: {r['exceptionDetails']}")
    return r["result"].get("value")


def wait_for(expr, seconds):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if js(expr):
                return True
        except RuntimeError:
            pass
        pump(0.3)
    return False


def close_dialogs():
    for t in ("keyDown", "keyUp"):
        call("Input.dispatchKeyEvent", type=t, key="Escape", code="Escape",
             windowsVirtualKeyCode=27, nativeVirtualKeyCode=27)
    pump(0.5)


def screenshot(name):
    data = call("Page.captureScreenshot", format="png")["data"]
    (out / name).write_bytes(base64.b64decode(data))


for d in ("Runtime", "Log", "Network", "Page"):
    call(f"{d}.enable")
call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1,
     mobile=False)
call("Page.navigate", url=server + "/")
report = {"booted": False, "node_types": 0, "queued": False, "image_shown": False}

report["booted"] = wait_for("!!(window.app && window.app.graph && window.LiteGraph)", 60)
pump(3)
close_dialogs()
report["node_types"] = js("Object.keys(window.LiteGraph.registered_node_types).length") or 0
report["has_core_nodes"] = js("['LoadImage','ImageInvert','SaveImage'].every("
                              "n => n in window.LiteGraph.registered_node_types)")
screenshot("boot.png")

build = """
(async () => {
  const app = window.app, LG = window.LiteGraph;
  app.graph.clear();
  const load = LG.createNode('LoadImage'); load.pos = [50, 100]; app.graph.add(load);
  const inv = LG.createNode('ImageInvert'); inv.pos = [400, 100]; app.graph.add(inv);
  const save = LG.createNode('SaveImage'); save.pos = [700, 100]; app.graph.add(save);
  const w = load.widgets.find(w => w.name === 'image');
  w.value = 'frontend_test.png';
  load.connect(0, inv, 0);
  inv.connect(0, save, 0);
  app.graph.setDirtyCanvas(true, true);
  await app.queuePrompt(0, 1);
  return save.id;
})()
"""
save_id = js(build)
report["queued"] = save_id is not None
ok = wait_for(f"""(() => {{
  const n = window.app.graph.getNodeById({save_id});
  const o = window.app.nodeOutputs && Object.values(window.app.nodeOutputs)
      .some(v => v && v.images && v.images.length);
  return !!((n && n.imgs && n.imgs.length) || o);
}})()""", 60)
report["image_shown"] = ok
pump(2)
close_dialogs()
screenshot("result.png")
hist = json.load(urllib.request.urlopen(server + "/history"))
report["history_outputs"] = [v["outputs"] for v in hist.values()]
report["console_errors"] = console_errors
report["failed_requests"] = failed
unexpected = [f for f in failed if not f[1].startswith(TOLERATED_404)]
report["unexpected_failed_requests"] = unexpected
(out / "report.json").write_text(json.dumps(report, indent=2))
print(json.dumps(report, indent=2))
good = (report["booted"] and report["has_core_nodes"] and report["image_shown"]
        and not unexpected)
sys.exit(0 if good else 1)
