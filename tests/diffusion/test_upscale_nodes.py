"""UpscaleModelLoader / ImageUpscaleWithModel through a real comfyd (ctest
diffusion_upscale_nodes): object_info as ComfyUI prints it
(data/upscale/object_info.txt, made by gen/upscale_ref.py), the node's own
512 / 32 tiling on a 520x12 PNG against ComfyUI's saved pixels
(data/upscale/node.out.u8), progress per tile, and clear node errors for a
missing, corrupt or unsupported model file.  The maths of the network and
of the smaller tilings is checked by diffusion_esrgan."""
import pathlib
import subprocess
import sys
import tempfile

import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "blackbox"))
sys.path.insert(0, str(HERE / "gen"))
from conftest import make_server, server, ws_client  # noqa: E402,F401
from pngutil import make_png, read_png  # noqa: E402
from test_diffusion_workflow import need_pack, run_ws  # noqa: E402

import esrgan_weights as ew  # noqa: E402

DATA = HERE / "data" / "upscale"
_WEIGHTS = None


def weights():
    global _WEIGHTS
    if _WEIGHTS is None:
        d = pathlib.Path(tempfile.mkdtemp(prefix="esrgan-"))
        subprocess.run([sys.executable, str(HERE / "gen" / "esrgan_weights.py"), str(d)],
                       check=True)
        _WEIGHTS = d
    return _WEIGHTS


def add_model(srv, name, data):
    d = srv.base / "models" / "upscale_models"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    return name


def graph(model, image, prefix="up"):
    return {
        "1": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model}},
        "2": {"class_type": "LoadImage", "inputs": {"image": image}},
        "3": {"class_type": "ImageUpscaleWithModel",
              "inputs": {"upscale_model": ["1", 0], "image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": prefix}},
    }


def add_image(srv):
    nc = ew.NODE_IMAGE
    d = srv.base / "input"
    d.mkdir(parents=True, exist_ok=True)
    (d / "up-in.png").write_bytes(make_png(nc["W"], nc["H"], ew.node_image_u8()))
    return "up-in.png"


def test_object_info(server):
    need_pack()
    add_model(server, "test-esrgan.safetensors", b"")
    for line in (DATA / "object_info.txt").read_text().splitlines():
        name, ref = line.split("\t")
        r = requests.get(server + "/object_info/" + name)
        assert r.status_code == 200
        assert r.text == '{"%s": %s}' % (name, ref)


def test_upscale_matches_comfyui(server, ws_client):
    need_pack()
    nc = ew.NODE_IMAGE
    model = add_model(server, "esrgan-x2.safetensors",
                      (weights() / (nc["model"] + ".safetensors")).read_bytes())
    image = add_image(server)
    ws = ws_client()
    _, msgs = run_ws(server, ws, graph(model, image))
    js = [m for m in msgs if isinstance(m, dict)]
    assert not [m for m in js if m["type"] == "execution_error"], js
    # two tiles (520 wide: positions 0 and 480), one progress message each
    prog = [m["data"] for m in js if m["type"] == "progress" and m["data"]["node"] == "3"]
    assert [(p["value"], p["max"]) for p in prog] == [(1, 2), (2, 2)], prog
    img = [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"][0]
    r = requests.get(server + "/view", params={"filename": img["filename"], "type": "output"})
    w, h, ctype, px, _ = read_png(r.content)
    assert (w, h, ctype) == (2 * nc["W"], 2 * nc["H"], 2)
    ref = (DATA / "node.out.u8").read_bytes()
    assert len(px) == len(ref)
    diff = max(abs(a - b) for a, b in zip(px, ref))
    assert diff <= 1, diff


def test_pth_params_ema(server, ws_client):
    """The same model as a torch .pth holding {"params_ema": state dict}
    (Real-ESRGAN's releases; ComfyUI's load_torch_file unwraps the one
    entry) gives the same pixels."""
    need_pack()
    nc = ew.NODE_IMAGE
    path = weights() / "new_x2-ema.pth"
    ew.write_pth(str(path), ew.make(ew.CASES[nc["model"]]), wrap="params_ema")
    model = add_model(server, "esrgan-x2-ema.pth", path.read_bytes())
    image = add_image(server)
    ws = ws_client()
    _, msgs = run_ws(server, ws, graph(model, image, prefix="pth"))
    js = [m for m in msgs if isinstance(m, dict)]
    assert not [m for m in js if m["type"] == "execution_error"], js
    img = [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"][0]
    r = requests.get(server + "/view", params={"filename": img["filename"], "type": "output"})
    px = read_png(r.content)[3]
    ref = (DATA / "node.out.u8").read_bytes()
    assert len(px) == len(ref)
    assert max(abs(a - b) for a, b in zip(px, ref)) <= 1


def test_bad_files(server, ws_client):
    need_pack()
    image = add_image(server)
    ws = ws_client()
    good = (weights() / "old_x4.safetensors").read_bytes()
    other = (weights() / "old_x4.safetensors").read_bytes().replace(b"model.0.weight",
                                                                     b"modelX0.weight")
    cases = {
        "corrupt.safetensors": (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}....", "corrupt"),
        "truncated.safetensors": (good[: len(good) // 2], "corrupt"),
        "empty.pth": (b"", "corrupt"),
        "swinir.safetensors": (other, "unsupported upscale model architecture"),
    }
    for name, (data, what) in cases.items():
        add_model(server, name, data)
        _, msgs = run_ws(server, ws, graph(name, image, prefix="bad"))
        errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
        assert errs, name
        assert errs[0]["node_id"] == "1" and errs[0]["node_type"] == "UpscaleModelLoader"
        assert name in errs[0]["exception_message"], errs[0]
        assert what in errs[0]["exception_message"], errs[0]
    # a name that is not in the folder: ComfyUI does not check V3 COMBO
    # values when validating, so the prompt runs and the loader fails
    _, msgs = run_ws(server, ws, graph("nope.pth", image, prefix="bad"))
    errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
    assert errs and errs[0]["exception_type"] == "FileNotFoundError", errs
    assert errs[0]["exception_message"] == (
        "Model in folder 'upscale_models' with filename 'nope.pth' not found.\n")


def test_interrupt(server, ws_client):
    """POST /interrupt during the tiles stops the node (checked between RRDB
    blocks and tiles)."""
    need_pack()
    model = add_model(server, "esrgan-x2-intr.safetensors",
                      (weights() / "new_x2.safetensors").read_bytes())
    W, H = 2000, 64  # five 512-wide tiles
    (server.base / "input").mkdir(parents=True, exist_ok=True)
    (server.base / "input" / "wide.png").write_bytes(
        make_png(W, H, bytes((x * 7 + y) % 256 for y in range(H) for x in range(W * 3))))
    ws = ws_client()
    r = requests.post(server + "/prompt",
                      json={"prompt": graph(model, "wide.png", prefix="intr"),
                            "client_id": ws.sid})
    assert r.status_code == 200, r.text
    pid = r.json()["prompt_id"]
    while True:
        m = ws.recv(timeout=120)
        if isinstance(m, dict) and m["type"] == "progress" and m["data"]["node"] == "3":
            break
    requests.post(server + "/interrupt")
    msgs = ws.until_done(pid, timeout=120)
    types = [m["type"] for m in msgs if isinstance(m, dict)]
    assert "execution_interrupted" in types
    steps = [m["data"]["value"] for m in msgs
             if isinstance(m, dict) and m["type"] == "progress" and m["data"]["node"] == "3"]
    assert not steps or max(steps) < 5
