"""Latent-node parity with ComfyUI: the graphs of
tests/diffusion/gen/node_cases.py (pixel_space VAE, so a latent is the
picture) run through comfyd and each PNG is compared with ComfyUI's
(tests/diffusion/data/node-ops, made by node_ops_ref.py).  Also the
SD2 (v-prediction), SDXL and SDXL-refiner checkpoints through the 7-node
workflow, CLIPTextEncodeSDXL and the conditioning nodes."""
import pathlib
import sys

import pytest
import requests

from conftest import REPO
from pngutil import read_png
from test_diffusion_workflow import add_checkpoint, need_pack, run_ws, workflow

sys.path.insert(0, str(REPO / "tests" / "diffusion" / "gen"))
from node_cases import cases  # noqa: E402

DATA = REPO / "tests" / "diffusion" / "data" / "node-ops"


def images(srv, msgs):
    js = [m for m in msgs if isinstance(m, dict)]
    errs = [m for m in js if m["type"] == "execution_error"]
    assert not errs, errs
    out = []
    for ex in [m["data"] for m in js if m["type"] == "executed"]:
        for img in ex["output"]["images"]:
            r = requests.get(srv + "/view", params={"filename": img["filename"],
                                                    "type": "output"})
            out.append(read_png(r.content))
    return out


@pytest.mark.parametrize("name", sorted(cases()))
def test_latent_node_parity(server, ws_client, name):
    need_pack()
    with open(DATA / "input.png", "rb") as f:
        requests.post(server + "/upload/image", files={"image": ("input.png", f)},
                      data={"overwrite": "true"})
    ws = ws_client()
    got = images(server, run_ws(server, ws, cases()[name])[1])
    refs = sorted(DATA.glob(name + "_*.png"))
    assert len(got) == len(refs)
    for (w, h, _, px, _), ref in zip(got, refs):
        rw, rh, _, rpx, _ = read_png(ref.read_bytes())
        assert (w, h) == (rw, rh)
        # torch and C agree to float rounding: at most one 8-bit step.
        diff = max(abs(a - b) for a, b in zip(px, rpx))
        assert diff <= 1, (name, diff)


@pytest.mark.parametrize("arch", ["sd21v", "sdxl", "sdxl-refiner"])
def test_other_families(server, ws_client, arch):
    need_pack()
    ckpt = add_checkpoint(server, f"tiny-{arch}.safetensors", arch)
    ws = ws_client()
    g = workflow(ckpt, steps=2, prefix="fam-" + arch)
    if arch == "sdxl":
        g["6"] = {"class_type": "CLIPTextEncodeSDXL",
                  "inputs": {"clip": ["4", 1], "width": 1024, "height": 1024, "crop_w": 0,
                             "crop_h": 0, "target_width": 1024, "target_height": 1024,
                             "text_g": "a castle", "text_l": "a castle, oil painting"}}
    if arch == "sdxl-refiner":
        g["6"] = {"class_type": "CLIPTextEncodeSDXLRefiner",
                  "inputs": {"ascore": 6.0, "width": 1024, "height": 1024, "text": "a castle",
                             "clip": ["4", 1]}}
    (w, h, _, px, _), = images(server, run_ws(server, ws, g)[1])
    assert (w, h) == (64, 64) and len(set(px)) > 16


def test_conditioning_nodes(server, ws_client):
    """Area / mask / timestep-range / combine / average / concat / zero-out
    conditioning and CLIPSetLastLayer all sample, and change the picture."""
    need_pack()
    ckpt = add_checkpoint(server)
    ws = ws_client()
    base = workflow(ckpt, steps=2, prefix="cond-base", text="a tree", size=128)
    (_, _, _, ref, _), = images(server, run_ws(server, ws, base)[1])
    variants = {
        "area": {"class_type": "ConditioningSetArea",
                 "inputs": {"conditioning": ["6", 0], "width": 64, "height": 128, "x": 64,
                            "y": 0, "strength": 1.0}},
        "area_pct": {"class_type": "ConditioningSetAreaPercentage",
                     "inputs": {"conditioning": ["6", 0], "width": 0.5, "height": 1.0,
                                "x": 0.0, "y": 0.0, "strength": 1.5}},
        "range": {"class_type": "ConditioningSetTimestepRange",
                  "inputs": {"conditioning": ["6", 0], "start": 0.5, "end": 1.0}},
        "zero": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["6", 0]}},
        "average": {"class_type": "ConditioningAverage",
                    "inputs": {"conditioning_to": ["6", 0], "conditioning_from": ["7", 0],
                               "conditioning_to_strength": 0.25}},
        "concat": {"class_type": "ConditioningConcat",
                   "inputs": {"conditioning_to": ["6", 0], "conditioning_from": ["7", 0]}},
        "combine": {"class_type": "ConditioningCombine",
                    "inputs": {"conditioning_1": ["6", 0], "conditioning_2": ["7", 0]}},
    }
    for key, node in variants.items():
        g = workflow(ckpt, steps=2, prefix="cond-" + key, text="a tree", size=128)
        g["30"] = node
        g["3"]["inputs"]["positive"] = ["30", 0]
        (_, _, _, px, _), = images(server, run_ws(server, ws, g)[1])
        assert px != ref, key
    g = workflow(ckpt, steps=2, prefix="cond-mask", text="a tree", size=128)
    g["33"] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 128, "height": 128}}
    g["34"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 80}}
    g["31"] = {"class_type": "MaskComposite",
               "inputs": {"destination": ["33", 0], "source": ["34", 0], "x": 16, "y": 8,
                          "operation": "add"}}
    g["30"] = {"class_type": "ConditioningSetMask",
               "inputs": {"conditioning": ["6", 0], "mask": ["31", 0], "strength": 1.0,
                          "set_cond_area": "mask bounds"}}
    g["3"]["inputs"]["positive"] = ["30", 0]
    (_, _, _, px, _), = images(server, run_ws(server, ws, g)[1])
    assert px != ref
    g = workflow(ckpt, steps=2, prefix="cond-skip", text="a tree", size=128)
    g["32"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["4", 1],
                                                            "stop_at_clip_layer": -2}}
    g["6"]["inputs"]["clip"] = ["32", 0]
    (_, _, _, px, _), = images(server, run_ws(server, ws, g)[1])
    assert px != ref


def test_prompt_embeddings(server, ws_client):
    """embedding:NAME in a prompt reads models/embeddings/NAME.safetensors."""
    import json
    import struct
    need_pack()
    ckpt = add_checkpoint(server)
    data = (server.base / "models" / "checkpoints" / ckpt).read_bytes()
    n, = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    width = hdr["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"][
        "shape"][1]
    vals = struct.pack("<%df" % (2 * width), *[((i * 37) % 17 - 8) / 8.0
                                                for i in range(2 * width)])
    h = json.dumps({"emb_params": {"dtype": "F32", "shape": [2, width],
                                   "data_offsets": [0, len(vals)]}}).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    d = server.base / "models" / "embeddings"
    d.mkdir(parents=True, exist_ok=True)
    (d / "myemb.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + vals)
    ws = ws_client()
    out = {}
    for key, text in (("plain", "a cat"), ("emb", "a cat embedding:myemb"),
                      ("missing", "a cat embedding:nosuch")):
        g = workflow(ckpt, steps=2, prefix="emb-" + key, text=text)
        (_, _, _, px, _), = images(server, run_ws(server, ws, g)[1])
        out[key] = px
    assert out["emb"] != out["plain"]
    assert out["missing"] != out["emb"]
    assert "embedding:nosuch does not exist" in server.log.read_text()
