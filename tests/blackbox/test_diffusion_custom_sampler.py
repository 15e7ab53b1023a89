"""The SDK example pack sdk/examples/custom-sampler: its ExampleHeunSampler
runs through SamplerCustomAdvanced on a small generated SD1.5 checkpoint;
in Euler mode it gives the built-in euler's picture."""
import pytest
import requests

from conftest import BUILD
from pngutil import read_png
from test_diffusion_workflow import add_checkpoint, need_pack, run_ws

PACKDIR = BUILD / "test-packs" / "customsampler"


def graph(ckpt, sampler_node, prefix):
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode",
              "inputs": {"text": "a photo of a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}},
        "11": {"class_type": "CFGGuider", "inputs": {"model": ["4", 0], "positive": ["6", 0],
                                                     "negative": ["7", 0], "cfg": 6.0}},
        "12": sampler_node,
        "13": {"class_type": "BasicScheduler", "inputs": {"model": ["4", 0],
                                                          "scheduler": "karras", "steps": 3,
                                                          "denoise": 1.0}},
        "3": {"class_type": "SamplerCustomAdvanced",
              "inputs": {"noise": ["10", 0], "guider": ["11", 0], "sampler": ["12", 0],
                         "sigmas": ["13", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix,
                                                    "images": ["8", 0]}},
    }


def pixels(srv, msgs):
    js = [m for m in msgs if isinstance(m, dict)]
    assert "execution_error" not in [m["type"] for m in js], js
    img = [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"][0]
    r = requests.get(srv + "/view", params={"filename": img["filename"], "type": "output"})
    return read_png(r.content)[3], js


def test_example_sampler(make_server, ws_client):
    need_pack()
    if not (PACKDIR / "customsampler.so").exists():
        pytest.skip("custom-sampler example not built")
    srv = make_server("--nodepack-dir", str(PACKDIR))
    info = requests.get(srv + "/object_info/ExampleHeunSampler").json()
    assert info["ExampleHeunSampler"]["output"] == ["SAMPLER"]
    ckpt = add_checkpoint(srv)
    ws = ws_client(srv=srv)

    euler_builtin = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}
    euler_example = {"class_type": "ExampleHeunSampler", "inputs": {"second_order": False}}
    heun_example = {"class_type": "ExampleHeunSampler", "inputs": {"second_order": True}}
    a, _ = pixels(srv, run_ws(srv, ws, graph(ckpt, euler_builtin, "builtin"))[1])
    b, js = pixels(srv, run_ws(srv, ws, graph(ckpt, euler_example, "example"))[1])
    prog = [m["data"]["value"] for m in js if m["type"] == "progress" and m["data"]["node"] == "3"]
    assert prog == [1, 2, 3]
    diff = max(abs(x - y) for x, y in zip(a, b))
    assert diff <= 1, diff             # same maths, same picture (8-bit rounding at most)
    c, _ = pixels(srv, run_ws(srv, ws, graph(ckpt, heun_example, "heun"))[1])
    assert c != b
