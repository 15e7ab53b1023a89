"""The standard 7-node ComfyUI workflow (CheckpointLoaderSimple ->
CLIPTextEncode x2 -> EmptyLatentImage -> KSampler -> VAEDecode -> SaveImage)
through POST /prompt and /ws, on a small SD1.5-shaped checkpoint made by
comfyd-mkcheckpoint --width small.  Skipped when the diffusion pack or the
tool was not built."""
import json
import subprocess

import pytest
import requests

from conftest import BUILD, new_id, queue
from pngutil import jpeg_size, read_png

MKCKPT = BUILD / "comfyd-mkcheckpoint"
PACK = BUILD / "nodepacks" / "diffusion.so"


def need_pack():
    if not PACK.exists() or not MKCKPT.exists():
        pytest.skip("diffusion pack or comfyd-mkcheckpoint not built")


def add_checkpoint(server, name="tiny-sd15.safetensors", arch="sd15"):
    d = server.base / "models" / "checkpoints"
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    if not path.exists():
        subprocess.run([str(MKCKPT), "--arch", arch, "--width", "small", "--out", str(path)],
                       check=True, capture_output=True)
    return name


def workflow(ckpt, seed=42, steps=3, sampler="euler", scheduler="normal", prefix="diff",
             size=64, cfg=7.0, denoise=1.0, text="a photo of a cat"):
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode",
              "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                         "scheduler": scheduler, "denoise": denoise, "model": ["4", 0],
                         "positive": ["6", 0], "negative": ["7", 0],
                         "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage",
              "inputs": {"filename_prefix": prefix, "images": ["8", 0]}},
    }


def run_ws(server, ws, prompt, timeout=300, **extra):
    r = queue(server, prompt, ws.sid, **extra)
    assert r.status_code == 200, r.text
    pid = r.json()["prompt_id"]
    return pid, ws.until_done(pid, timeout=timeout)


def test_object_info_diffusion(server):
    need_pack()
    info = requests.get(server + "/object_info").json()
    for cls in ("CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
                "KSamplerAdvanced", "VAEDecode", "VAEEncode", "CLIPSetLastLayer",
                "ConditioningCombine", "LatentFlip"):
        assert cls in info, cls
    ks = info["KSampler"]
    assert ks["python_module"] == "nodes" and ks["category"] == "sampling"
    req = ks["input"]["required"]
    assert list(req) == ["model", "seed", "steps", "cfg", "sampler_name", "scheduler",
                         "positive", "negative", "latent_image", "denoise"]
    assert req["sampler_name"][0][:3] == ["euler", "euler_cfg_pp", "euler_ancestral"]
    assert req["scheduler"][0][:3] == ["simple", "sgm_uniform", "karras"]
    assert req["cfg"][1] == {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1,
                             "round": 0.01, "tooltip": req["cfg"][1]["tooltip"]}
    assert ks["output"] == ["LATENT"] and ks["output_tooltips"] == ["The denoised latent."]
    ck = info["CheckpointLoaderSimple"]
    assert ck["display_name"] == "Load Checkpoint"
    assert ck["output"] == ["MODEL", "CLIP", "VAE"]
    el = info["EmptyLatentImage"]["input"]["required"]
    assert el["width"][1]["default"] == 512 and el["width"][1]["step"] == 8


def test_seven_node_workflow(server, ws_client):
    need_pack()
    ckpt = add_checkpoint(server)
    info = requests.get(server + "/object_info/CheckpointLoaderSimple").json()
    assert ckpt in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    ws = ws_client()
    extra = {"extra_data": {"extra_pnginfo": {"workflow": {"nodes": [], "tag": "bb"}}}}
    prompt = workflow(ckpt, steps=3, prefix="seven")
    pid, msgs = run_ws(server, ws, prompt, **extra)
    js = [m for m in msgs if isinstance(m, dict)]
    types = [m["type"] for m in js]
    assert "execution_error" not in types, js
    assert "execution_success" in types
    progress = [m["data"] for m in js if m["type"] == "progress"]
    ks = [p for p in progress if p["node"] == "3"]
    assert [p["value"] for p in ks] == [1, 2, 3]
    assert all(p["max"] == 3 and p["prompt_id"] == pid for p in ks)
    executed = [m["data"] for m in js if m["type"] == "executed"]
    assert executed and executed[-1]["node"] == "9"
    img = executed[-1]["output"]["images"][0]
    assert img["type"] == "output" and img["filename"].startswith("seven_")
    r = requests.get(server + "/view", params={"filename": img["filename"], "type": "output"})
    assert r.status_code == 200
    w, h, ctype, pixels, texts = read_png(r.content)
    assert (w, h, ctype) == (64, 64, 2)
    assert len(set(pixels)) > 16          # a real picture, not a constant
    assert json.loads(texts["prompt"])["3"]["class_type"] == "KSampler"
    assert json.loads(texts["workflow"])["tag"] == "bb"

    # Same seed, new file: the KSampler output is cached, the decode too;
    # a new seed samples again and gives another picture.
    prompt2 = workflow(ckpt, seed=43, steps=3, prefix="seven2")
    _, msgs2 = run_ws(server, ws, prompt2)
    ex2 = [m["data"] for m in msgs2 if isinstance(m, dict) and m["type"] == "executed"]
    img2 = ex2[-1]["output"]["images"][0]
    r2 = requests.get(server + "/view", params={"filename": img2["filename"], "type": "output"})
    assert read_png(r2.content)[3] != pixels


def test_determinism_and_samplers(server, ws_client):
    need_pack()
    ckpt = add_checkpoint(server)
    ws = ws_client()
    outs = {}
    # "a" and "b" differ only by a trailing space in the prompt, which
    # tokenizes the same: everything from CLIPTextEncode on runs again and
    # must give the same pixels.
    for key, sampler, sched, text in (("a", "euler", "normal", "a red car"),
                                      ("b", "euler", "normal", "a red car "),
                                      ("c", "dpmpp_2m", "karras", "a red car"),
                                      ("d", "euler_ancestral", "simple", "a red car")):
        p = workflow(ckpt, seed=7, steps=2, sampler=sampler, scheduler=sched,
                     prefix="det" + key, text=text)
        _, msgs = run_ws(server, ws, p)
        js = [m for m in msgs if isinstance(m, dict)]
        assert "execution_error" not in [m["type"] for m in js], js
        img = [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"][0]
        r = requests.get(server + "/view", params={"filename": img["filename"], "type": "output"})
        outs[key] = read_png(r.content)[3]
    assert outs["a"] == outs["b"]
    assert outs["c"] != outs["a"] and outs["d"] != outs["a"]


def test_previews(make_server, ws_client):
    need_pack()
    srv = make_server("--preview-method", "latent2rgb")
    ckpt = add_checkpoint(srv)
    ws = ws_client(srv=srv)
    _, msgs = run_ws(srv, ws, workflow(ckpt, steps=2, prefix="prev"))
    frames = [m for m in msgs if isinstance(m, bytes)]
    assert len(frames) >= 2
    assert all(f[:4] in (b"\x00\x00\x00\x01", b"\x00\x00\x00\x04") for f in frames)
    # the 8x8 latent2rgb image goes out fitted into --preview-size (512),
    # as ComfyUI's server does (spec nodes-and-models.md §15.2)
    # type 1: [1][image type][jpeg]; type 4: [4][meta length][meta][jpeg]
    jpegs = [f[8:] if f[3] == 1 else f[8 + int.from_bytes(f[4:8], "big"):] for f in frames]
    assert all(jpeg_size(j) == (512, 512) for j in jpegs)


def test_bad_checkpoints(server, ws_client):
    need_pack()
    d = server.base / "models" / "checkpoints"
    d.mkdir(parents=True, exist_ok=True)
    (d / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}....")
    ws = ws_client()
    pid, msgs = run_ws(server, ws, workflow("corrupt.safetensors", prefix="bad"))
    errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
    assert errs and errs[0]["node_id"] == "4"
    assert "corrupt.safetensors" in errs[0]["exception_message"]

    # The server keeps serving afterwards.
    ckpt = add_checkpoint(server)
    p = workflow(ckpt, steps=1, prefix="after")
    _, msgs = run_ws(server, ws, p)
    assert "execution_success" in [m["type"] for m in msgs if isinstance(m, dict)]


def test_missing_checkpoint_is_a_validation_error(server):
    need_pack()
    r = queue(server, workflow("no-such.safetensors"), new_id())
    assert r.status_code == 400
    body = r.json()
    assert body["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"


def split_checkpoint(src, dst, prefix, strip=True):
    """Writes the tensors of safetensors file src whose names start with
    prefix to dst (prefix removed when strip), as standalone model files
    (a bare UNet, a VAE, a text encoder) are."""
    import struct
    data = src.read_bytes()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out_header, chunks, off = {}, [], 0
    for name, t in header.items():
        if name == "__metadata__" or not name.startswith(prefix):
            continue
        a, b = t["data_offsets"]
        new = name[len(prefix):] if strip else name
        out_header[new] = {"dtype": t["dtype"], "shape": t["shape"],
                           "data_offsets": [off, off + (b - a)]}
        chunks.append(body[a:b])
        off += b - a
    h = json.dumps(out_header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def test_separate_loaders(server, ws_client):
    """UNETLoader + CLIPLoader + VAELoader on the parts of the checkpoint
    give CheckpointLoaderSimple's picture."""
    need_pack()
    ckpt = add_checkpoint(server)
    models = server.base / "models"
    src = models / "checkpoints" / ckpt
    split_checkpoint(src, models / "diffusion_models" / "tiny-unet.safetensors",
                     "model.diffusion_model.")
    split_checkpoint(src, models / "vae" / "tiny-vae.safetensors", "first_stage_model.")
    split_checkpoint(src, models / "text_encoders" / "tiny-clip-l.safetensors",
                     "cond_stage_model.transformer.")
    info = requests.get(server + "/object_info/VAELoader").json()
    assert info["VAELoader"]["input"]["required"]["vae_name"][0] == ["tiny-vae.safetensors",
                                                                     "pixel_space"]
    ws = ws_client()
    base = workflow(ckpt, seed=11, steps=2, prefix="whole", text="a blue house")
    _, msgs = run_ws(server, ws, base)
    whole = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "executed"]
    parts = workflow(ckpt, seed=11, steps=2, prefix="parts", text="a blue house")
    parts["4"] = {"class_type": "UNETLoader",
                  "inputs": {"unet_name": "tiny-unet.safetensors", "weight_dtype": "default"}}
    parts["40"] = {"class_type": "CLIPLoader",
                   "inputs": {"clip_name": "tiny-clip-l.safetensors", "type": "stable_diffusion"}}
    parts["41"] = {"class_type": "VAELoader", "inputs": {"vae_name": "tiny-vae.safetensors"}}
    parts["6"]["inputs"]["clip"] = ["40", 0]
    parts["7"]["inputs"]["clip"] = ["40", 0]
    parts["8"]["inputs"]["vae"] = ["41", 0]
    _, msgs = run_ws(server, ws, parts)
    js = [m for m in msgs if isinstance(m, dict)]
    assert "execution_error" not in [m["type"] for m in js], js
    sep = [m["data"] for m in js if m["type"] == "executed"]
    imgs = []
    for ex in (whole, sep):
        img = ex[-1]["output"]["images"][0]
        r = requests.get(server + "/view", params={"filename": img["filename"], "type": "output"})
        imgs.append(read_png(r.content)[3])
    assert imgs[0] == imgs[1]

    # pixel_space: VAEEncode then VAEDecode gives the picture back.
    g = {"1": {"class_type": "EmptyImage",
               "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0x336699}},
         "2": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
         "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["2", 0]}},
         "4": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["2", 0]}},
         "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0],
                                                     "filename_prefix": "pix"}}}
    _, msgs = run_ws(server, ws, g)
    ex = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "executed"]
    img = ex[-1]["output"]["images"][0]
    r = requests.get(server + "/view", params={"filename": img["filename"], "type": "output"})
    w, h, _, px, _ = read_png(r.content)
    assert (w, h) == (16, 8)
    # 2x-1 then (x+1)/2 in float32, truncated to 8 bits as SaveImage does.
    assert all(abs(a - b) <= 1 for a, b in zip(px[:3], (0x33, 0x66, 0x99)))


def test_interrupt_while_sampling(server, ws_client):
    need_pack()
    ckpt = add_checkpoint(server)
    ws = ws_client()
    r = queue(server, workflow(ckpt, steps=500, prefix="intr", text="an interrupted cat"),
              ws.sid)
    assert r.status_code == 200
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
             if isinstance(m, dict) and m["type"] == "progress"]
    assert not steps or max(steps) < 500


def test_basic_guider_equals_cfg1(server, ws_client):
    """SamplerCustomAdvanced with BasicGuider is KSampler at cfg 1 (the
    negative prompt is not evaluated); SamplerCustom gives KSampler's
    picture at any cfg."""
    need_pack()
    ckpt = add_checkpoint(server)
    ws = ws_client()

    def pixels(g):
        _, msgs = run_ws(server, ws, g)
        js = [m for m in msgs if isinstance(m, dict)]
        assert "execution_error" not in [m["type"] for m in js], js
        img = [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"][0]
        r = requests.get(server + "/view", params={"filename": img["filename"], "type": "output"})
        return read_png(r.content)[3]

    ks1 = pixels(workflow(ckpt, seed=9, steps=2, cfg=1.0, prefix="ks1", text="a boat"))
    g = workflow(ckpt, seed=9, steps=2, prefix="bg", text="a boat")
    g["10"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 9}}
    g["11"] = {"class_type": "BasicGuider", "inputs": {"model": ["4", 0],
                                                       "conditioning": ["6", 0]}}
    g["12"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}
    g["13"] = {"class_type": "BasicScheduler", "inputs": {"model": ["4", 0],
                                                          "scheduler": "normal", "steps": 2,
                                                          "denoise": 1.0}}
    g["3"] = {"class_type": "SamplerCustomAdvanced",
              "inputs": {"noise": ["10", 0], "guider": ["11", 0], "sampler": ["12", 0],
                         "sigmas": ["13", 0], "latent_image": ["5", 0]}}
    assert pixels(g) == ks1

    ks7 = pixels(workflow(ckpt, seed=9, steps=2, cfg=7.0, prefix="ks7", text="a boat"))
    g["3"] = {"class_type": "SamplerCustom",
              "inputs": {"model": ["4", 0], "add_noise": True, "noise_seed": 9, "cfg": 7.0,
                         "positive": ["6", 0], "negative": ["7", 0], "sampler": ["12", 0],
                         "sigmas": ["13", 0], "latent_image": ["5", 0]}}
    g["9"]["inputs"]["filename_prefix"] = "sc"
    assert pixels(g) == ks7
