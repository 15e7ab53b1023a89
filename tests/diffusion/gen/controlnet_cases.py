"""The ControlNet cases shared by controlnet_ref.py (ComfyUI) and
tests/diffusion/test_controlnet_nodes.py (comfyd): API-format graphs over
the small SD1.5 checkpoint (`comfyd-mkcheckpoint --arch sd15 --width small
--seed 0`, CKPT) with gen/controlnet_file.py's ControlNet for it, in two
files: CN ("control_model." prefix, f16) and CN_SHUFFLE (no prefix, f32;
its name ends in _shuffle, so ComfyUI's loader turns on
global_average_pooling).  Hint pictures: inpaint_cases.make_input's RGB
(LoadImage drops the alpha), 64x64 and 76x68 (center-cropped and resized
nearest-exact to the latent's 8x)."""
from inpaint_cases import make_input  # noqa: F401

CKPT = "cn-sd15.safetensors"
CN = "cn-test.safetensors"
CN_SHUFFLE = "cn-test_shuffle.safetensors"
CKPT_XL = "cn-sdxl.safetensors"       # --arch sdxl --width small --seed 0
CN_XL = "cn-test-sdxl.safetensors"    # controlnet_file.py of CKPT_XL
CN_DIFF = "cn-test-diff.safetensors"  # controlnet_file.py --difference of CKPT
INPUTS = {"cn-hint-64.png": (64, 64), "cn-hint-odd.png": (76, 68)}


def _base(w=64, h=64, batch=1, ckpt=CKPT, cn=CN):
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "cn-hint-64.png"}},
        "3": {"class_type": "CLIPTextEncode",
              "inputs": {"text": "a photo of a cat", "clip": ["1", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": w, "height": h, "batch_size": batch}},
        "6": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": cn}},
        "7": {"class_type": "LoadImage", "inputs": {"image": "cn-hint-odd.png"}},
    }


def _sample(g, pos, neg, sampler="euler", scheduler="normal", steps=2, cfg=6.0, seed=5):
    g["10"] = {"class_type": "KSampler",
               "inputs": {"model": ["1", 0], "seed": seed, "steps": steps, "cfg": cfg,
                          "sampler_name": sampler, "scheduler": scheduler, "positive": pos,
                          "negative": neg, "latent_image": ["5", 0], "denoise": 1.0}}
    g["90"] = {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["1", 2]}}
    g["91"] = {"class_type": "SaveImage", "inputs": {"images": ["90", 0],
                                                     "filename_prefix": "cn"}}
    return g


def _adv(g, nid, pos, neg, net, image, strength, start=0.0, end=1.0):
    g[nid] = {"class_type": "ControlNetApplyAdvanced",
              "inputs": {"positive": pos, "negative": neg, "control_net": net, "image": image,
                         "strength": strength, "start_percent": start, "end_percent": end}}
    return [nid, 0], [nid, 1]


def cases():
    out = {}
    # (a) ControlNetApplyAdvanced on both lists (one shared copy: cond and
    # uncond batched together).
    g = _base()
    p, n = _adv(g, "20", ["3", 0], ["4", 0], ["6", 0], ["2", 0], 0.9)
    out["cn_advanced"] = _sample(g, p, n)
    # (b) A chain: the first ControlNet on the odd-sized hint for the first
    # 60 %, the _shuffle file on top from 20 % on; 3 steps of dpmpp_2m.
    g = _base()
    g["8"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CN_SHUFFLE}}
    p, n = _adv(g, "20", ["3", 0], ["4", 0], ["6", 0], ["7", 0], 0.7, 0.0, 0.6)
    p, n = _adv(g, "21", p, n, ["8", 0], ["2", 0], 1.3, 0.2, 1.0)
    out["cn_chain_range"] = _sample(g, p, n, sampler="dpmpp_2m", scheduler="karras", steps=3)
    # (c) The deprecated ControlNetApply on the positive list only: its
    # control goes to the negative entry too (control_apply_to_uncond).
    g = _base()
    g["20"] = {"class_type": "ControlNetApply",
               "inputs": {"conditioning": ["3", 0], "control_net": ["6", 0], "image": ["2", 0],
                          "strength": 0.8}}
    out["cn_old_apply"] = _sample(g, ["20", 0], ["4", 0], cfg=5.0)
    # (d) A latent batch of 2 at 80x48 (the hint center-cropped), and an
    # area entry whose ControlNet runs on its crop (hint resized to it).
    g = _base(80, 48, 2)
    p, n = _adv(g, "20", ["3", 0], ["4", 0], ["6", 0], ["7", 0], 1.0)
    g["22"] = {"class_type": "ConditioningSetAreaPercentage",
               "inputs": {"conditioning": p, "width": 0.5, "height": 1.0, "x": 0.5, "y": 0.0,
                          "strength": 0.8}}
    g["23"] = {"class_type": "ConditioningCombine",
               "inputs": {"conditioning_1": p, "conditioning_2": ["22", 0]}}
    out["cn_batch_area"] = _sample(g, ["23", 0], n, sampler="euler_ancestral")
    # A batch of 2 hints on a latent batch of 2 (cond and uncond batched:
    # broadcast_image_to gives item b hint b in both halves).
    g = _base(batch=2)
    g["8"] = {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["7", 0]}}
    p, n = _adv(g, "20", ["3", 0], ["4", 0], ["6", 0], ["8", 0], 1.0)
    out["cn_hint_batch"] = _sample(g, p, n)
    # (e) DiffControlNetLoader: a "difference" file plus the model's weights.
    g = _base()
    g["6"] = {"class_type": "DiffControlNetLoader",
              "inputs": {"model": ["1", 0], "control_net_name": CN_DIFF}}
    p, n = _adv(g, "20", ["3", 0], ["4", 0], ["6", 0], ["2", 0], 1.1)
    out["cn_diff"] = _sample(g, p, n)
    # (f) SDXL: the ADM vector y goes to the ControlNet too.
    g = _base(ckpt=CKPT_XL, cn=CN_XL)
    p, n = _adv(g, "20", ["3", 0], ["4", 0], ["6", 0], ["7", 0], 0.8)
    out["cn_sdxl"] = _sample(g, p, n)
    return out
