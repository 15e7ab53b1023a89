"""TAESD through comfyd: --preview-method taesd previews from
models/vae_approx, VAELoader's "taesd" / "taesdxl" choices, bad files.
The weights are tests/diffusion/gen/taesd_weights.py's (random, seed 1);
the numbers themselves are checked against ComfyUI by ctest
diffusion_taesd.  Skipped when the diffusion pack was not built."""
import json
import pathlib
import struct
import sys

import requests

from pngutil import jpeg_size, read_png
from test_diffusion_workflow import add_checkpoint, need_pack, run_ws, workflow

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "diffusion" / "gen"))
import taesd_weights  # noqa: E402

_WEIGHTS = {}


def add_taesd(server, prefix="taesd", halves=("encoder", "decoder")):
    """Copies the generated pair (made once per session) into vae_approx."""
    d = server.base / "models" / "vae_approx"
    d.mkdir(parents=True, exist_ok=True)
    if prefix not in _WEIGHTS:
        src = server.base / ("gen-" + prefix)
        src.mkdir(exist_ok=True)
        taesd_weights.write_pair(str(src), prefix, 1)
        _WEIGHTS[prefix] = {h: (src / f"{prefix}_{h}.safetensors").read_bytes()
                            for h in ("encoder", "decoder")}
    for h in halves:
        (d / f"{prefix}_{h}.safetensors").write_bytes(_WEIGHTS[prefix][h])
    return d


def preview_images(msgs):
    out = []
    for m in msgs:
        if not isinstance(m, bytes):
            continue
        ev = struct.unpack(">I", m[:4])[0]
        if ev == 4:
            n = struct.unpack(">I", m[4:8])[0]
            meta = json.loads(m[8:8 + n])
            assert meta["image_type"] == "image/jpeg"
            out.append(m[8 + n:])
        else:
            assert ev == 1 and m[4:8] == b"\x00\x00\x00\x01"
            out.append(m[8:])
    return out


def sample_previews(srv, ws_client, **kw):
    ckpt = add_checkpoint(srv)
    ws = ws_client(srv=srv)
    _, msgs = run_ws(srv, ws, workflow(ckpt, steps=2, prefix="tprev", **kw))
    assert "execution_success" in [m["type"] for m in msgs if isinstance(m, dict)], msgs
    return preview_images(msgs)


def test_taesd_previews(make_server, ws_client):
    need_pack()
    l2r = make_server("--preview-method", "latent2rgb", "--preview-size", "64")
    ref = sample_previews(l2r, ws_client)

    srv = make_server("--preview-method", "taesd", "--preview-size", "64")
    add_taesd(srv)
    frames = sample_previews(srv, ws_client)
    assert len(frames) == 2 and len(ref) == 2
    # a 64x64 image: the TAESD preview is full size (64x64, fits
    # --preview-size 64 as it is); latent2rgb's 8x8 is enlarged to 64x64 by
    # the server's "contain" fit, as ComfyUI's does (runtime/preview.h)
    assert all(jpeg_size(f) == (64, 64) for f in frames)
    assert all(jpeg_size(f) == (64, 64) for f in ref)
    assert frames != ref, "TAESD previews equal the latent2rgb ones"
    log = srv.log.read_text()
    assert "could not find models/vae_approx" not in log

    # the cached decoder serves the next prompt (another seed: the executor
    # would reuse the cached outputs of the same prompt)
    again = sample_previews(srv, ws_client, seed=43)
    assert len(again) == 2 and again != frames
    assert all(jpeg_size(f) == (64, 64) for f in again)

    # a changed decoder file is loaded again (the cache keys on path, mtime
    # and size); "free_memory" drops the executor's cached outputs so the
    # same prompt samples again
    d = srv.base / "models" / "vae_approx"
    gen2 = srv.base / "gen-seed2"
    gen2.mkdir()
    taesd_weights.write_pair(str(gen2), "taesd", 2)
    (d / "taesd_decoder.safetensors").write_bytes(
        (gen2 / "taesd_decoder.safetensors").read_bytes())
    assert requests.post(srv + "/free", json={"free_memory": True}).status_code == 200
    other = sample_previews(srv, ws_client)
    assert len(other) == 2 and other != frames
    add_taesd(srv)  # back to the seed-1 decoder: the first frames again
    assert requests.post(srv + "/free", json={"free_memory": True}).status_code == 200
    assert sample_previews(srv, ws_client) == frames

    # without the files: ComfyUI's warning, then latent2rgb previews
    bare = make_server("--preview-method", "taesd", "--preview-size", "64")
    frames = sample_previews(bare, ws_client)
    assert frames == ref
    assert ("Warning: TAESD previews enabled, but could not find "
            "models/vae_approx/taesd_decoder") in bare.log.read_text()


def vae_choices(srv):
    r = requests.get(srv + "/object_info/VAELoader")
    assert r.status_code == 200
    return r.json()["VAELoader"]["input"]["required"]["vae_name"][0]


def test_vae_loader_lists_taesd(make_server):
    need_pack()
    srv = make_server()
    assert vae_choices(srv) == ["pixel_space"]
    add_taesd(srv, halves=("decoder",))
    assert vae_choices(srv) == ["pixel_space"]          # both halves needed
    add_taesd(srv, halves=("encoder",))
    assert vae_choices(srv) == ["taesd", "pixel_space"]
    add_taesd(srv, "taesdxl")
    assert vae_choices(srv) == ["taesd", "taesdxl", "pixel_space"]


def taesd_workflow(ckpt, vae="taesd", prefix="tvae", size=64, tiled=False):
    p = workflow(ckpt, steps=2, prefix=prefix, size=size)
    p["10"] = {"class_type": "VAELoader", "inputs": {"vae_name": vae}}
    p["8"]["inputs"]["vae"] = ["10", 0]
    # and an encode / decode round trip of the decoded image
    p["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["10", 0]}}
    p["12"] = {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["10", 0]}}
    p["13"] = {"class_type": "SaveImage",
               "inputs": {"filename_prefix": prefix + "rt", "images": ["12", 0]}}
    if tiled:  # several tiles at 128x128 (latent tile 8, overlap 2; pixel tile 64)
        p["8"] = {"class_type": "VAEDecodeTiled",
                  "inputs": {"samples": ["3", 0], "vae": ["10", 0], "tile_size": 64,
                             "overlap": 32, "temporal_size": 64, "temporal_overlap": 8}}
        p["11"] = {"class_type": "VAEEncodeTiled",
                   "inputs": {"pixels": ["8", 0], "vae": ["10", 0], "tile_size": 64,
                              "overlap": 0, "temporal_size": 64, "temporal_overlap": 8}}
    return p


def test_vae_loader_loads_taesd(make_server, ws_client):
    need_pack()
    srv = make_server()
    add_taesd(srv)
    ckpt = add_checkpoint(srv)
    ws = ws_client(srv=srv)
    for size, tiled in ((64, False), (128, True)):
        _, msgs = run_ws(srv, ws, taesd_workflow(ckpt, size=size, tiled=tiled,
                                                 prefix="tvae%d" % size))
        js = [m for m in msgs if isinstance(m, dict)]
        assert "execution_success" in [m["type"] for m in js], js
        outs = [m["data"]["output"]["images"][0] for m in js if m["type"] == "executed"]
        assert len(outs) == 2
        for img in outs:
            r = requests.get(srv + "/view",
                             params={"filename": img["filename"], "type": "output"})
            w, h = read_png(r.content)[:2]
            assert (w, h) == (size, size)


def test_corrupt_taesd_file(make_server, ws_client):
    need_pack()
    srv = make_server("--preview-method", "taesd")
    d = add_taesd(srv)
    dec = d / "taesd_decoder.safetensors"
    dec.write_bytes(dec.read_bytes()[:100000])           # truncated
    ckpt = add_checkpoint(srv)
    ws = ws_client(srv=srv)
    pid, msgs = run_ws(srv, ws, taesd_workflow(ckpt, prefix="tbad"))
    errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
    assert errs and errs[0]["node_id"] == "10", msgs
    assert "taesd_decoder.safetensors" in errs[0]["exception_message"]
    # sampling with the truncated decoder fails the sampler node (ComfyUI's
    # get_previewer raises while loading it), with the file named
    ws = ws_client(srv=srv)
    pid, msgs = run_ws(srv, ws, workflow(ckpt, steps=2, prefix="tbadprev"))
    errs = [m["data"] for m in msgs if isinstance(m, dict) and m["type"] == "execution_error"]
    assert errs and errs[0]["node_id"] == "3", msgs
    assert "vae_approx/taesd_decoder.safetensors" in errs[0]["exception_message"]
    assert not preview_images(msgs)
    # a good file again: the same prompt runs (errors are not cached)
    add_taesd(srv)
    _, msgs = run_ws(srv, ws, workflow(ckpt, steps=2, prefix="tbadprev"))
    assert "execution_success" in [m["type"] for m in msgs if isinstance(m, dict)], msgs
    assert len(preview_images(msgs)) == 2


def test_taesdxl_previews_for_sdxl(make_server, ws_client):
    """An SDXL model previews with taesdxl_decoder*, never taesd_decoder*."""
    need_pack()
    srv = make_server("--preview-method", "taesd", "--preview-size", "64")
    add_checkpoint(srv, "tiny-sdxl.safetensors", arch="sdxl")
    add_taesd(srv)  # SD1's decoder only: not used for SDXL
    ws = ws_client(srv=srv)
    p = workflow("tiny-sdxl.safetensors", steps=2, prefix="txl")
    _, msgs = run_ws(srv, ws, p)
    assert "execution_success" in [m["type"] for m in msgs if isinstance(m, dict)], msgs
    ref = preview_images(msgs)
    assert len(ref) == 2
    assert ("Warning: TAESD previews enabled, but could not find "
            "models/vae_approx/taesdxl_decoder") in srv.log.read_text()
    add_taesd(srv, "taesdxl", halves=("decoder",))
    assert requests.post(srv + "/free", json={"free_memory": True}).status_code == 200
    _, msgs = run_ws(srv, ws, p)
    frames = preview_images(msgs)
    assert len(frames) == 2 and frames != ref
    assert all(jpeg_size(f) == (64, 64) for f in frames)
