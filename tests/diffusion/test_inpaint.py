"""Inpainting models (UNet in_channels 9) and InpaintModelConditioning
through a real comfyd (ctest diffusion_inpaint): the graphs of
gen/inpaint_cases.py on the small generated SD1.5 and SDXL inpainting
checkpoints give ComfyUI's pictures (data/inpaint/*_0.png, made by gen/inpaint_ref.py
with ComfyUI's own nodes and c_concat) within one 8-bit step; the node's
object_info equals ComfyUI's byte for byte; bad inputs are clear errors."""
import pathlib
import subprocess
import sys

import pytest
import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "blackbox"))
sys.path.insert(0, str(HERE / "gen"))
from conftest import make_server, server, ws_client  # noqa: E402,F401
from inpaint_cases import CKPT, CKPTS, INPUTS, cases  # noqa: E402
from pngutil import read_png  # noqa: E402
from test_diffusion_workflow import MKCKPT, need_pack, run_ws, workflow  # noqa: E402

DATA = HERE / "data" / "inpaint"


def setup_inputs(srv):
    d = srv.base / "models" / "checkpoints"
    d.mkdir(parents=True, exist_ok=True)
    for name, arch in CKPTS.items():
        if not (d / name).exists():
            subprocess.run([str(MKCKPT), "--arch", arch, "--width", "small", "--inpaint",
                            "--seed", "0", "--out", str(d / name)], check=True,
                           capture_output=True)
    for img in INPUTS:
        with open(DATA / img, "rb") as f:
            r = requests.post(srv + "/upload/image", files={"image": (img, f)},
                              data={"overwrite": "true"})
            assert r.status_code == 200, r.text
    return CKPT


def pictures(srv, msgs):
    js = [m for m in msgs if isinstance(m, dict)]
    errs = [m for m in js if m["type"] == "execution_error"]
    assert not errs, errs
    out = []
    for img in [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"]:
        r = requests.get(srv + "/view", params={"filename": img["filename"], "type": "output"})
        out.append(read_png(r.content))
    return out


def picture(srv, msgs):
    return pictures(srv, msgs)[0]


def error_of(msgs):
    errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
    assert errs
    return errs[0]


def test_object_info(server):
    need_pack()
    for line in (DATA / "object_info.txt").read_text().splitlines():
        name, ref = line.split("\t")
        r = requests.get(server + "/object_info/" + name)
        assert r.status_code == 200
        assert r.text == '{"%s": %s}' % (name, ref)


def test_inpaint_parity(server, ws_client):
    need_pack()
    setup_inputs(server)
    ws = ws_client()
    got = {}
    for name, g in sorted(cases().items()):
        pics = pictures(server, run_ws(server, ws, g)[1])
        refs = sorted(DATA.glob(name + "_*.png"))
        assert len(pics) == len(refs) > 0, name
        for i, ((w, h, _, px, _), ref) in enumerate(zip(pics, refs)):
            rw, rh, _, rpx, _ = read_png(ref.read_bytes())
            assert (w, h) == (rw, rh), name
            diff = max(abs(a - b) for a, b in zip(px, rpx))
            ndiff = sum(a != b for a, b in zip(px, rpx))
            print("%-26s max|diff| %d, %d of %d values differ" %
                  ("%s_%d" % (name, i), diff, ndiff, len(px)))
            # torch and C agree to float rounding: at most one 8-bit step,
            # on a handful of values (scaling the masked-image latent of
            # c_concat by 1.02 changes 900-4100 values of these pictures).
            assert diff <= 1, (name, diff)
            assert ndiff <= len(px) // 200, (name, ndiff)
        got[name] = bytes(pics[0][3])
    # The cases differ from one another (the mask and the image matter).
    assert len(set(got.values())) == len(got)


def test_bad_inputs(server, ws_client):
    need_pack()
    ckpt = setup_inputs(server)
    ws = ws_client()
    # A mask batch that matches neither 1 nor the image batch.
    g = cases()["imc_noise_mask"]
    g["22"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["2", 0], "amount": 3}}
    g["23"] = {"class_type": "MaskToImage", "inputs": {"mask": ["2", 1]}}
    g["24"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["23", 0], "amount": 2}}
    g["25"] = {"class_type": "ImageToMask", "inputs": {"image": ["24", 0], "channel": "red"}}
    g["5"]["inputs"]["pixels"] = ["22", 0]
    g["5"]["inputs"]["mask"] = ["25", 0]
    err = error_of(run_ws(server, ws, g)[1])
    assert err["node_type"] == "InpaintModelConditioning", err
    assert "mask batch (2) does not match the image batch (3)" in err["exception_message"]
    # No vae connected: the prompt is refused before it runs.
    g = cases()["imc_noise_mask"]
    del g["5"]["inputs"]["vae"]
    r = requests.post(server + "/prompt", json={"prompt": g})
    assert r.status_code == 400
    assert r.json()["node_errors"]["5"]["errors"][0]["type"] == "required_input_missing"
    # An inpainting model given a latent of another channel count.
    g = workflow(ckpt, steps=1, prefix="bad-ch")
    g["5"] = {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    g["30"] = {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}}
    g["31"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["32", 0], "vae": ["30", 0]}}
    g["32"] = {"class_type": "LoadImage", "inputs": {"image": "inpaint-64.png"}}
    g["3"]["inputs"]["latent_image"] = ["31", 0]
    err = error_of(run_ws(server, ws, g)[1])
    assert err["node_type"] == "KSampler", err
    assert "the latent has 3 channels but the model takes 4" in err["exception_message"]
    # The server keeps working.
    picture(server, run_ws(server, ws, cases()["no_mask"])[1])


def test_plain_models_unchanged(server, ws_client):
    """InpaintModelConditioning's keys on a plain (in_channels 4) model are
    ignored, as ComfyUI's BaseModel without concat keys ignores them."""
    need_pack()
    setup_inputs(server)
    plain = "plain-sd15.safetensors"
    d = server.base / "models" / "checkpoints"
    subprocess.run([str(MKCKPT), "--arch", "sd15", "--width", "small", "--seed", "0",
                    "--out", str(d / plain)], check=True, capture_output=True)
    ws = ws_client()
    g = cases()["imc_no_noise_mask"]
    g["1"]["inputs"]["ckpt_name"] = plain
    a = picture(server, run_ws(server, ws, g)[1])
    g = cases()["imc_no_noise_mask"]
    g["1"]["inputs"]["ckpt_name"] = plain
    g["10"]["inputs"]["positive"] = ["3", 0]
    g["10"]["inputs"]["negative"] = ["4", 0]
    b = picture(server, run_ws(server, ws, g)[1])
    assert a[3] == b[3]


def test_custom_sampling_equals_ksampler(server, ws_client):
    """SamplerCustomAdvanced (CFGGuider) on an inpainting model gives
    KSampler's picture: the same c_concat from the latent's noise mask and
    the conditioning's concat keys."""
    need_pack()
    setup_inputs(server)
    ws = ws_client()
    want = picture(server, run_ws(server, ws, cases()["imc_area"])[1])[3]
    g = cases()["imc_area"]
    ks = g["10"]["inputs"]
    g["11"] = {"class_type": "CFGGuider",
               "inputs": {"model": ["1", 0], "positive": ks["positive"],
                          "negative": ks["negative"], "cfg": ks["cfg"]}}
    g["12"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": ks["seed"]}}
    g["13"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": ks["sampler_name"]}}
    g["14"] = {"class_type": "BasicScheduler",
               "inputs": {"model": ["1", 0], "scheduler": ks["scheduler"],
                          "steps": ks["steps"], "denoise": 1.0}}
    g["10"] = {"class_type": "SamplerCustomAdvanced",
               "inputs": {"noise": ["12", 0], "guider": ["11", 0], "sampler": ["13", 0],
                          "sigmas": ["14", 0], "latent_image": ks["latent_image"]}}
    assert picture(server, run_ws(server, ws, g)[1])[3] == want


def test_sd2_inpaint_checkpoint(server, ws_client):
    """A small SD2 inpainting file (in_channels 9: eps prediction, as
    ComfyUI's detection runs its v-prediction test on 4-channel UNets
    only) loads and samples through InpaintModelConditioning."""
    need_pack()
    setup_inputs(server)
    d = server.base / "models" / "checkpoints"
    subprocess.run([str(MKCKPT), "--arch", "sd21v", "--width", "small", "--inpaint",
                    "--seed", "0", "--out", str(d / "inpaint-sd2.safetensors")], check=True,
                   capture_output=True)
    ws = ws_client()
    g = cases()["imc_noise_mask"]
    g["1"]["inputs"]["ckpt_name"] = "inpaint-sd2.safetensors"
    w, h, _, px, _ = picture(server, run_ws(server, ws, g)[1])
    assert (w, h) == (64, 64) and len(set(px)) > 16
