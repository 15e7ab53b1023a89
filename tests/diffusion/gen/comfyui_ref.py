"""Runs the cases of cases.json through ComfyUI's own nodes (CPU, f32) and
writes one PNG per case, the reference comfyd's output is compared with
(compare.py).  Run OUTSIDE the repository, from a ComfyUI checkout, in a
venv with ComfyUI's requirements (torch, transformers, safetensors,
einops, torchsde, ...):

    cd <ComfyUI>   # the checkout /work/ref/ComfyUI was used
    python <repo>/tests/diffusion/gen/comfyui_ref.py CASES.json CKPT_DIR OUT_DIR

CKPT_DIR holds the checkpoint named in CASES.json, made by
`comfyd-mkcheckpoint --arch sd15 --width full --out CKPT_DIR/sd15-full.safetensors`
(ComfyUI only recognises real widths).  Nothing here is imported by tests.

Each case is the 7-node workflow (CheckpointLoaderSimple, CLIPTextEncode x2,
EmptyLatentImage, KSampler, VAEDecode, SaveImage's uint8 conversion); a case
with "img2img_from" starts from VAEEncode of that case's PNG (read as
LoadImage does) instead of
an empty latent, and "mask": "left_half" adds SetLatentNoiseMask with the
left half of the image selected.
"""
import json
import os
import sys

sys.path.insert(0, os.getcwd())
cases_path, ckpt_dir, out_dir = sys.argv[1:4]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import folder_paths  # noqa: E402

folder_paths.add_model_folder_path("checkpoints", ckpt_dir, is_default=True)
import nodes  # noqa: E402

torch.set_grad_enabled(False)


def run(cls, **kw):
    c = cls()
    return getattr(c, cls.FUNCTION)(**kw)


spec = json.load(open(cases_path))
os.makedirs(out_dir, exist_ok=True)
model, clip, vae = run(nodes.CheckpointLoaderSimple, ckpt_name=spec["checkpoint"])[:3]
pos = run(nodes.CLIPTextEncode, clip=clip, text=spec["positive"])[0]
neg = run(nodes.CLIPTextEncode, clip=clip, text=spec["negative"])[0]
images = {}
for case in spec["cases"]:
    if "img2img_from" in case:
        latent = run(nodes.VAEEncode, pixels=images[case["img2img_from"]], vae=vae)[0]
    else:
        latent = run(nodes.EmptyLatentImage, width=spec["width"], height=spec["height"],
                     batch_size=1)[0]
    if case.get("mask") == "left_half":
        m = torch.zeros((1, spec["height"], spec["width"]))
        m[:, :, : spec["width"] // 2] = 1.0
        latent = run(nodes.SetLatentNoiseMask, samples=latent, mask=m)[0]
    out = run(nodes.KSampler, model=model, seed=case["seed"], steps=case["steps"],
              cfg=case["cfg"], sampler_name=case["sampler"], scheduler=case["scheduler"],
              positive=pos, negative=neg, latent_image=latent,
              denoise=case.get("denoise", 1.0))[0]
    img = run(nodes.VAEDecode, samples=out, vae=vae)[0]
    a = np.clip(255.0 * img[0].detach().cpu().numpy(), 0, 255).astype(np.uint8)
    # Later cases start from the saved PNG, as LoadImage reads it.
    images[case["name"]] = torch.from_numpy(a.astype(np.float32) / 255.0)[None]
    Image.fromarray(a).save(os.path.join(out_dir, case["name"] + ".png"))
    print(case["name"], "done", flush=True)
