"""Full-width SD1.5 goldens for tests/nets/test_full.c (run OUTSIDE the repo).

    cd <ComfyUI checkout>            # a125cd84 was used
    python <repo>/tests/nets/gen/make_goldens_full.py SD15_FULL.safetensors <out-dir>

SD15_FULL is `comfyd-mkcheckpoint --arch sd15 --width full --seed 1` (f16,
2.1 GB, never committed).  The inputs are closed-form so only the outputs
are stored (the C test rebuilds the same inputs in double, rounded to f32):
    UNet  x[i]   = sin(0.37 i + 0.1),        B=2, 4x16x16 latent
          ctx[i] = 0.8 cos(0.013 i),         2 x 77 x 768
          t      = [999, 421]
    VAE   z[i]   = 2.5 sin(0.21 i + 0.4),    1 x 4 x 8 x 8 -> 64 x 64
          img[i] = 0.5 + 0.45 sin(0.11 i),   1 x 64 x 48 x 3 -> 8 x 6 latent
UNet is ComfyUI's UNetModel with the SD15 config ComfyUI detects for the
file (num_heads 8); VAE is the AutoencoderKL comfy.sd.VAE builds, with
VAE.process_input / process_output.
"""
import json
import os
import sys

sys.path.insert(0, os.getcwd())
sys.argv, args = [sys.argv[0], "--cpu"], sys.argv[1:]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import comfy.model_detection  # noqa: E402
import comfy.ops  # noqa: E402
from comfy.ldm.models.autoencoder import AutoencoderKL  # noqa: E402
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel  # noqa: E402
import comfy.ldm.modules.attention as comfy_attention  # noqa: E402

# On this torch (Debian 1.13, no SDPA) ComfyUI picks attention_sub_quad,
# whose torch.baddbmm(torch.empty(...), beta=0) lets NaN garbage from the
# uninitialised input through on CPU (a torch 1.13 bug), at random.  Use
# ComfyUI's plain attention_basic (softmax(q k^T * scale) v, f32) instead.
comfy_attention.optimized_attention = comfy_attention.attention_basic
comfy_attention.optimized_attention_masked = comfy_attention.attention_basic

ckpt, dst = args
os.makedirs(dst, exist_ok=True)


def closed(n, f):
    i = np.arange(n, dtype=np.float64)
    return torch.from_numpy(f(i).astype(np.float32))


def save(name, tensors):
    for key, t in tensors:
        assert torch.isfinite(t).all(), (name, key)
    meta = []
    with open(os.path.join(dst, name + ".bin"), "wb") as f:
        for key, t in tensors:
            a = t.detach().to(torch.float32).contiguous().numpy().astype("<f4")
            f.write(a.tobytes())
            meta.append({"name": key, "shape": list(a.shape)})
    with open(os.path.join(dst, name + ".json"), "w") as f:
        json.dump({"tensors": meta}, f, indent=1)
    print(name, [(m["name"], m["shape"]) for m in meta])


sd = load_file(ckpt)
prefix = "model.diffusion_model."
cfg = comfy.model_detection.detect_unet_config(sd, prefix)
cfg["num_heads"], cfg["num_head_channels"] = 8, -1
cfg.pop("image_model", None)
model = UNetModel(**cfg, dtype=torch.float32, device="cpu", operations=comfy.ops.disable_weight_init)
usd = {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}
missing, unexpected = model.load_state_dict(usd, strict=False)
assert not missing and not unexpected, (missing, unexpected)
del usd
model.eval()
x = closed(2 * 4 * 16 * 16, lambda i: np.sin(0.37 * i + 0.1)).reshape(2, 4, 16, 16)
ctx = closed(2 * 77 * 768, lambda i: 0.8 * np.cos(0.013 * i)).reshape(2, 77, 768)
t = torch.tensor([999.0, 421.0])
with torch.no_grad():
    out = model(x, t, context=ctx)
del model

vp = "first_stage_model."
vsd = {k[len(vp):]: v.float() for k, v in sd.items() if k.startswith(vp)}
ddconfig = {'double_z': True, 'z_channels': 4, 'resolution': 256, 'in_channels': 3, 'out_ch': 3,
            'ch': 128, 'ch_mult': [1, 2, 4, 4], 'num_res_blocks': 2, 'attn_resolutions': [],
            'dropout': 0.0}
vae = AutoencoderKL(ddconfig=ddconfig, embed_dim=vsd['post_quant_conv.weight'].shape[1])
missing, unexpected = vae.load_state_dict(vsd, strict=False)
assert not missing and not unexpected, (missing, unexpected)
vae.eval()
z = closed(4 * 8 * 8, lambda i: 2.5 * np.sin(0.21 * i + 0.4)).reshape(1, 4, 8, 8)
img = closed(64 * 48 * 3, lambda i: 0.5 + 0.45 * np.sin(0.11 * i)).reshape(1, 64, 48, 3)
with torch.no_grad():
    dec = torch.clamp((vae.decode(z) + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1)
    enc = vae.encode(img.movedim(-1, 1) * 2.0 - 1.0)
save("full_sd15", [("unet_out", out), ("vae_decoded", dec), ("vae_encoded", enc)])
