"""ControlNetLoader / ControlNetApplyAdvanced / ControlNetApply through a
real comfyd (ctest diffusion_controlnet_nodes): the graphs of
gen/controlnet_cases.py on the small generated SD1.5 checkpoint and
gen/controlnet_file.py's ControlNets give ComfyUI's pictures
(data/controlnet/*_0.png, made by gen/controlnet_ref.py with ComfyUI's own
nodes) within one 8-bit step; the nodes' object_info equals ComfyUI's byte
for byte; missing, corrupt and non-ControlNet files are clear node
errors."""
import pathlib
import subprocess
import sys

import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "blackbox"))
sys.path.insert(0, str(HERE / "gen"))
from conftest import make_server, server, ws_client  # noqa: E402,F401
from controlnet_cases import (CKPT, CKPT_XL, CN, CN_DIFF, CN_SHUFFLE, CN_XL, INPUTS,  # noqa: E402
                              cases)
from pngutil import read_png  # noqa: E402
from test_diffusion_workflow import MKCKPT, need_pack, run_ws  # noqa: E402

DATA = HERE / "data" / "controlnet"
MAKE_CN = HERE / "gen" / "controlnet_file.py"


def setup_inputs(srv):
    ck = srv.base / "models" / "checkpoints"
    cn = srv.base / "models" / "controlnet"
    ck.mkdir(parents=True, exist_ok=True)
    cn.mkdir(parents=True, exist_ok=True)
    for name, arch in ((CKPT, "sd15"), (CKPT_XL, "sdxl")):
        if not (ck / name).exists():
            subprocess.run([str(MKCKPT), "--arch", arch, "--width", "small", "--seed", "0",
                            "--out", str(ck / name)], check=True, capture_output=True)
    if not (cn / CN).exists():
        subprocess.run([sys.executable, str(MAKE_CN), str(ck / CKPT), str(cn / CN)],
                       check=True)
        subprocess.run([sys.executable, str(MAKE_CN), str(ck / CKPT), str(cn / CN_SHUFFLE),
                        "--plain", "--f32"], check=True)
        subprocess.run([sys.executable, str(MAKE_CN), str(ck / CKPT_XL), str(cn / CN_XL)],
                       check=True)
        subprocess.run([sys.executable, str(MAKE_CN), str(ck / CKPT), str(cn / CN_DIFF),
                        "--difference"], check=True)
    for img in INPUTS:
        with open(DATA / img, "rb") as f:
            r = requests.post(srv + "/upload/image", files={"image": (img, f)},
                              data={"overwrite": "true"})
            assert r.status_code == 200, r.text
    return cn


def pictures(srv, msgs):
    js = [m for m in msgs if isinstance(m, dict)]
    errs = [m for m in js if m["type"] == "execution_error"]
    assert not errs, errs
    out = []
    for img in [m["data"] for m in js if m["type"] == "executed"][-1]["output"]["images"]:
        r = requests.get(srv + "/view", params={"filename": img["filename"], "type": "output"})
        out.append(read_png(r.content))
    return out


def error_of(msgs):
    errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
    assert errs
    return errs[0]


def test_object_info(server):
    """Byte for byte, with the four ControlNet files ComfyUI's folder held."""
    need_pack()
    setup_inputs(server)
    for line in (DATA / "object_info.txt").read_text().splitlines():
        name, ref = line.split("\t")
        r = requests.get(server + "/object_info/" + name)
        assert r.status_code == 200
        assert r.text == '{"%s": %s}' % (name, ref), name


def test_controlnet_parity(server, ws_client):
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
            print("%-22s max|diff| %d, %d of %d values differ" %
                  ("%s_%d" % (name, i), diff, ndiff, len(px)))
            assert diff <= 1, (name, diff)
            assert ndiff <= len(px) // 200, (name, ndiff)
        got[name] = bytes(pics[0][3])
    # the ControlNet changes the picture: the same graph without it differs
    g = cases()["cn_advanced"]
    g["10"]["inputs"]["positive"] = ["3", 0]
    g["10"]["inputs"]["negative"] = ["4", 0]
    plain = pictures(server, run_ws(server, ws, g)[1])[0][3]
    diff = max(abs(a - b) for a, b in zip(plain, got["cn_advanced"]))
    print("cn_advanced against no ControlNet: max|diff| %d" % diff)
    assert diff > 8
    # the difference file needs the model's weights: read as a plain
    # ControlNet it gives another picture
    g = cases()["cn_diff"]
    g["6"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CN_DIFF}}
    other = pictures(server, run_ws(server, ws, g)[1])[0][3]
    assert max(abs(a - b) for a, b in zip(other, got["cn_diff"])) > 8
    # strength 0 returns the conditioning as it is
    g = cases()["cn_advanced"]
    g["20"]["inputs"]["strength"] = 0.0
    assert pictures(server, run_ws(server, ws, g)[1])[0][3] == plain


def test_diffusers_and_bad_files(server, ws_client):
    need_pack()
    cn = setup_inputs(server)
    ws = ws_client()
    ck = server.base / "models" / "checkpoints" / CKPT
    (cn / "not-a-controlnet.safetensors").write_bytes(ck.read_bytes())
    (cn / "corrupt.safetensors").write_bytes((cn / CN).read_bytes()[:5000])
    for name, want in (("not-a-controlnet.safetensors", "does not contain controlnet"),
                       ("corrupt.safetensors", "corrupt or invalid")):
        g = cases()["cn_advanced"]
        g["6"]["inputs"]["control_net_name"] = name
        err = error_of(run_ws(server, ws, g)[1])
        assert err["node_type"] == "ControlNetLoader", err
        assert want in err["exception_message"], err
    # a name that is not in the folder is refused before the prompt runs
    g = cases()["cn_advanced"]
    g["6"]["inputs"]["control_net_name"] = "missing.safetensors"
    r = requests.post(server + "/prompt", json={"prompt": g})
    assert r.status_code == 400
    assert r.json()["node_errors"]["6"]["errors"][0]["type"] == "value_not_in_list"
    # the same ControlNet in diffusers' layout gives the same picture
    subprocess.run([sys.executable, str(MAKE_CN), str(ck), str(cn / "diffusers-cn.safetensors"),
                    "--diffusers"], check=True)
    want = pictures(server, run_ws(server, ws, cases()["cn_advanced"])[1])[0][3]
    g = cases()["cn_advanced"]
    g["6"]["inputs"]["control_net_name"] = "diffusers-cn.safetensors"
    assert pictures(server, run_ws(server, ws, g)[1])[0][3] == want
    # an SD1.5 ControlNet on the SDXL model: a clear sampler error
    g = cases()["cn_sdxl"]
    g["6"]["inputs"]["control_net_name"] = CN
    err = error_of(run_ws(server, ws, g)[1])
    assert err["node_type"] == "KSampler", err
    assert "does not fit the model" in err["exception_message"], err
    # the server keeps working
    pictures(server, run_ws(server, ws, cases()["cn_old_apply"])[1])
