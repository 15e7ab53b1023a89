"""LoraLoader / LoraLoaderModelOnly through a real comfyd (ctest
diffusion_lora_nodes): object_info as ComfyUI prints it
(data/lora/object_info.txt, made by gen/lora_object_info.py), the LoRA
changing the picture of the 7-node workflow and strength 0 not changing
it, the result cache, the "lora key not loaded" log, and clear node
errors for a missing, corrupt or truncated LoRA file.  The numbers
themselves are checked against ComfyUI by test_diffusion_lora."""
import json
import pathlib
import shutil
import sys

import pytest
import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "blackbox"))
from conftest import make_server, server, ws_client  # noqa: E402,F401
from pngutil import read_png  # noqa: E402
from test_diffusion_workflow import (add_checkpoint, need_pack, run_ws,  # noqa: E402
                                     split_checkpoint, workflow)

DATA = HERE / "data" / "lora"


def add_lora(srv, name="test-lora.safetensors", data=None):
    d = srv.base / "models" / "loras"
    d.mkdir(parents=True, exist_ok=True)
    if data is None:
        shutil.copy(DATA / "test-lora.safetensors", d / name)
    else:
        (d / name).write_bytes(data)
    return name


def with_lora(g, lora, sm=1.0, sc=1.0, model_only=False):
    if model_only:
        g["20"] = {"class_type": "LoraLoaderModelOnly",
                   "inputs": {"model": ["4", 0], "lora_name": lora, "strength_model": sm}}
    else:
        g["20"] = {"class_type": "LoraLoader",
                   "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": lora,
                              "strength_model": sm, "strength_clip": sc}}
        g["6"]["inputs"]["clip"] = ["20", 1]
        g["7"]["inputs"]["clip"] = ["20", 1]
    g["3"]["inputs"]["model"] = ["20", 0]
    return g


def picture(srv, msgs):
    js = [m for m in msgs if isinstance(m, dict)]
    errs = [m for m in js if m["type"] == "execution_error"]
    assert not errs, errs
    img = [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"][0]
    r = requests.get(srv + "/view", params={"filename": img["filename"], "type": "output"})
    return read_png(r.content)[3]


def error_of(msgs):
    errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
    assert errs
    return errs[0]


def test_object_info(server):
    need_pack()
    add_lora(server)
    for line in (DATA / "object_info.txt").read_text().splitlines():
        name, ref = line.split("\t")
        r = requests.get(server + "/object_info/" + name)
        assert r.status_code == 200
        if name == "LoraLoaderModelOnly":
            # ComfyUI's class inherits LoraLoader's two output tooltips for
            # its one output; comfyd lists the one that output has.
            want = json.loads(ref)
            want["output_tooltips"] = want["output_tooltips"][:1]
            assert r.json() == {name: want}
            assert r.text == json.dumps({name: want})
        else:
            assert r.text == '{"%s": %s}' % (name, ref)


def test_lora_changes_the_picture(server, ws_client):
    need_pack()
    ckpt = add_checkpoint(server)
    lora = add_lora(server)
    ws = ws_client()
    base = picture(server, run_ws(server, ws, workflow(ckpt, steps=2, prefix="lb"))[1])
    # strength 0 for both: the inputs come back, the same picture
    zero = with_lora(workflow(ckpt, steps=2, prefix="l0"), lora, 0.0, 0.0)
    assert picture(server, run_ws(server, ws, zero)[1]) == base
    full = with_lora(workflow(ckpt, steps=2, prefix="l1"), lora, 1.0, 1.0)
    p1 = picture(server, run_ws(server, ws, full)[1])
    assert p1 != base
    # the CLIP side alone and the model side alone each change it
    clip_only = with_lora(workflow(ckpt, steps=2, prefix="lc"), lora, 0.0, 1.0)
    pc = picture(server, run_ws(server, ws, clip_only)[1])
    model_only = with_lora(workflow(ckpt, steps=2, prefix="lm"), lora, 1.0, model_only=True)
    pm = picture(server, run_ws(server, ws, model_only)[1])
    assert len({bytes(base), bytes(p1), bytes(pc), bytes(pm)}) == 4
    # a changed graph reuses the cached patched objects: same picture
    again = with_lora(workflow(ckpt, steps=2, prefix="l2", text="a photo of a cat "), lora)
    assert picture(server, run_ws(server, ws, again)[1]) == p1
    # two LoRA nodes chained
    chain = with_lora(workflow(ckpt, steps=2, prefix="lch"), lora, 1.0, 1.0)
    chain["21"] = {"class_type": "LoraLoaderModelOnly",
                   "inputs": {"model": ["20", 0], "lora_name": lora, "strength_model": -1.0}}
    chain["3"]["inputs"]["model"] = ["21", 0]
    assert picture(server, run_ws(server, ws, chain)[1]) not in (p1, base)
    log = (server.base / "comfyd.log").read_text()
    assert "lora key not loaded: lora_unet_no_such_layer.lora_up.weight" in log
    assert "lora key not loaded: lora_te_no_such_layer.alpha" in log


def test_bad_lora_files(server, ws_client):
    need_pack()
    ckpt = add_checkpoint(server)
    good = (DATA / "test-lora.safetensors").read_bytes()
    ws = ws_client()
    cases = {
        "corrupt.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}....",
        "truncated.safetensors": good[: len(good) // 2],
        "empty.safetensors": b"",
    }
    for name, data in cases.items():
        add_lora(server, name, data)
        g = with_lora(workflow(ckpt, steps=1, prefix="bad"), name)
        err = error_of(run_ws(server, ws, g)[1])
        assert err["node_id"] == "20" and err["node_type"] == "LoraLoader"
        assert name in err["exception_message"], err
        assert "corrupt or invalid" in err["exception_message"]
    # a file that vanished after validation listed it
    lora = add_lora(server, "gone.safetensors")
    g = with_lora(workflow(ckpt, steps=1, prefix="gone"), lora)
    (server.base / "models" / "loras" / lora).unlink()
    r = requests.post(server + "/prompt", json={"prompt": g})
    assert r.status_code == 400  # no longer in the COMBO list
    # a name that was never there
    r = requests.post(server + "/prompt", json={"prompt": with_lora(workflow(ckpt), "nope.pt")})
    assert r.status_code == 400
    assert r.json()["node_errors"]["20"]["errors"][0]["type"] == "value_not_in_list"
    # the server keeps working
    add_lora(server)
    g = with_lora(workflow(ckpt, steps=1, prefix="after"), "test-lora.safetensors")
    picture(server, run_ws(server, ws, g)[1])


def test_unsupported_adapter_is_an_error(server, ws_client):
    """A GLoRA key on a weight the model has: a clear error, not a silent skip."""
    need_pack()
    import struct
    ckpt = add_checkpoint(server)
    hdr = {"lora_unet_time_embed_0.a1.weight": {"dtype": "F32", "shape": [1],
                                                 "data_offsets": [0, 4]}}
    h = json.dumps(hdr).encode()
    add_lora(server, "glora.safetensors", struct.pack("<Q", len(h)) + h + b"\0\0\0\0")
    ws = ws_client()
    g = with_lora(workflow(ckpt, steps=1, prefix="glora"), "glora.safetensors")
    err = error_of(run_ws(server, ws, g)[1])
    assert "GLoRA" in err["exception_message"]
    # a LoHa missing one of its matrices
    hdr = {"lora_unet_time_embed_0.hada_w1_a": {"dtype": "F32", "shape": [1],
                                                 "data_offsets": [0, 4]}}
    h = json.dumps(hdr).encode()
    add_lora(server, "loha.safetensors", struct.pack("<Q", len(h)) + h + b"\0\0\0\0")
    g = with_lora(workflow(ckpt, steps=1, prefix="loha"), "loha.safetensors")
    err = error_of(run_ws(server, ws, g)[1])
    assert "LoHa" in err["exception_message"]


def test_lycoris_changes_the_picture(server, ws_client):
    need_pack()
    ckpt = add_checkpoint(server)
    lora = add_lora(server)
    d = server.base / "models" / "loras"
    shutil.copy(DATA / "test-lycoris.safetensors", d / "test-lycoris.safetensors")
    ws = ws_client()
    a = picture(server, run_ws(server, ws, with_lora(workflow(ckpt, steps=2, prefix="ya"),
                                                     lora))[1])
    b = picture(server, run_ws(server, ws, with_lora(workflow(ckpt, steps=2, prefix="yb"),
                                                     "test-lycoris.safetensors"))[1])
    assert a != b


def test_bare_unet_and_no_clip(server, ws_client):
    """LoraLoaderModelOnly on UNETLoader's bare UNet file gives the picture
    it gives on the checkpoint's MODEL; LoraLoader on a checkpoint without
    text encoder passes CLIP None through, as ComfyUI does."""
    need_pack()
    ckpt = add_checkpoint(server)
    lora = add_lora(server)
    models = server.base / "models"
    src = models / "checkpoints" / ckpt
    split_checkpoint(src, models / "diffusion_models" / "lora-unet.safetensors",
                     "model.diffusion_model.")
    ws = ws_client()
    ref = with_lora(workflow(ckpt, steps=2, prefix="ref"), lora, 0.7, model_only=True)
    want = picture(server, run_ws(server, ws, ref)[1])
    g = with_lora(workflow(ckpt, steps=2, prefix="bare"), lora, 0.7, model_only=True)
    g["22"] = {"class_type": "UNETLoader",
               "inputs": {"unet_name": "lora-unet.safetensors", "weight_dtype": "default"}}
    g["20"]["inputs"]["model"] = ["22", 0]
    assert picture(server, run_ws(server, ws, g)[1]) == want

    # a checkpoint of UNet + VAE only: CLIP is None
    split_checkpoint(src, models / "checkpoints" / "noclip.safetensors", "model.", strip=False)
    import struct
    vae = models / "vae-part.safetensors"
    split_checkpoint(src, vae, "first_stage_model.", strip=False)
    # merge the two part files into one checkpoint
    parts = []
    for f in (models / "checkpoints" / "noclip.safetensors", vae):
        b = f.read_bytes()
        n, = struct.unpack("<Q", b[:8])
        parts.append((json.loads(b[8:8 + n]), b[8 + n:]))
    header, body = {}, b""
    for h, data in parts:
        for k, t in h.items():
            a, e = t["data_offsets"]
            header[k] = {"dtype": t["dtype"], "shape": t["shape"],
                         "data_offsets": [len(body) + a, len(body) + e]}
        body += data
    hj = json.dumps(header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    (models / "checkpoints" / "noclip.safetensors").write_bytes(
        struct.pack("<Q", len(hj)) + hj + body)
    g = with_lora(workflow(ckpt, steps=2, prefix="noclip"), lora, 0.7, 1.0)
    g["23"] = {"class_type": "CheckpointLoaderSimple",
               "inputs": {"ckpt_name": "noclip.safetensors"}}
    g["20"]["inputs"]["model"] = ["23", 0]
    g["20"]["inputs"]["clip"] = ["23", 1]
    g["6"]["inputs"]["clip"] = ["4", 1]
    g["7"]["inputs"]["clip"] = ["4", 1]
    assert picture(server, run_ws(server, ws, g)[1]) == want
    # the None CLIP comes out: encoding with it is ComfyUI's error
    g["6"]["inputs"]["clip"] = ["20", 1]
    err = error_of(run_ws(server, ws, g)[1])
    assert err["node_id"] == "6" and "clip input is invalid: None" in err["exception_message"]
