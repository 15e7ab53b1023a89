"""Makes the UNet and VAE goldens in tests/nets/data from ComfyUI's own
PyTorch modules (run OUTSIDE the repo; nothing here is imported by tests).

    cd <ComfyUI checkout>            # a125cd84 was used
    python <repo>/tests/nets/gen/make_goldens.py <small-ckpt-dir> <out-dir>

<small-ckpt-dir> holds sd15-small, sd21v-small, sdxl-small and
sdxl-refiner-small .safetensors
made by `comfyd-mkcheckpoint --arch A --width small --seed 1` (f16).
Needs torch (Debian python3-torch in a --system-site-packages venv),
einops and safetensors.

The UNet is comfy.ldm.modules.diffusionmodules.openaimodel.UNetModel with
the config comfy.model_detection.detect_unet_config reads from the file,
plus the reduced-width head convention (SD1: 8 heads; SD2/SDXL: 16
channels per head).  The VAE is comfy.ldm.models.autoencoder.AutoencoderKL
(the class comfy.sd.VAE builds for SD VAEs) with ch taken from the file,
wrapped with VAE.process_input / process_output, and comfy.utils.tiled_scale
for the tiled variants exactly as VAE.decode_tiled_ / encode_tiled_.

Each case is a little-endian f32 .bin: the inputs then the outputs, in the
order listed in the case's .json (name, shape).
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
import comfy.utils  # noqa: E402
from comfy.ldm.models.autoencoder import AutoencoderKL  # noqa: E402
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel  # noqa: E402
import comfy.ldm.modules.attention as comfy_attention  # noqa: E402

# On this torch (Debian 1.13, no SDPA) ComfyUI picks attention_sub_quad,
# whose torch.baddbmm(torch.empty(...), beta=0) lets NaN garbage from the
# uninitialised input through on CPU (a torch 1.13 bug), at random.  Use
# ComfyUI's plain attention_basic (softmax(q k^T * scale) v, f32) instead.
comfy_attention.optimized_attention = comfy_attention.attention_basic
comfy_attention.optimized_attention_masked = comfy_attention.attention_basic

src, dst = args
os.makedirs(dst, exist_ok=True)
torch.manual_seed(0)


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


def unet_case(arch, ckpt, h, w, T):
    sd = load_file(os.path.join(src, ckpt))
    prefix = "model.diffusion_model."
    cfg = comfy.model_detection.detect_unet_config(sd, prefix)
    if arch == "sd15":
        cfg["num_heads"], cfg["num_head_channels"] = 8, -1
    else:
        cfg["num_heads"], cfg["num_head_channels"] = -1, 16
    cfg.pop("image_model", None)
    model = UNetModel(**cfg, dtype=torch.float32, device="cpu",
                      operations=comfy.ops.disable_weight_init)
    usd = {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(usd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    B = 2
    x = torch.randn(B, cfg["in_channels"], h, w)
    t = torch.tensor([999.0, 421.0])
    ctx = torch.randn(B, T, cfg["context_dim"])
    ins = [("x", x), ("timesteps", t), ("context", ctx)]
    y = None
    if cfg.get("adm_in_channels"):
        y = torch.randn(B, cfg["adm_in_channels"])
        ins.append(("y", y))
    # run twice: the result must be finite and repeatable
    with torch.no_grad():
        model(x, t, context=ctx, y=y)
        out = model(x, t, context=ctx, y=y)
        again = model(x, t, context=ctx, y=y)
    assert torch.isfinite(out).all() and torch.equal(out, again)
    save("unet_" + arch, ins + [("out", out)])


def vae_model(ckpt):
    sd = load_file(os.path.join(src, ckpt))
    prefix = "first_stage_model."
    vsd = {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}
    ddconfig = {'double_z': True, 'z_channels': 4, 'resolution': 256, 'in_channels': 3,
                'out_ch': 3, 'ch': vsd["encoder.conv_in.weight"].shape[0],
                'ch_mult': [1, 2, 4, 4], 'num_res_blocks': 2, 'attn_resolutions': [],
                'dropout': 0.0}
    ddconfig['z_channels'] = vsd["decoder.conv_in.weight"].shape[1]
    m = AutoencoderKL(ddconfig=ddconfig, embed_dim=vsd['post_quant_conv.weight'].shape[1])
    missing, unexpected = m.load_state_dict(vsd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    m.eval()
    return m


def vae_case(ckpt):
    m = vae_model(ckpt)
    pin = lambda im: im * 2.0 - 1.0
    pout = lambda im: torch.clamp((im + 1.0) / 2.0, min=0.0, max=1.0)
    z = torch.randn(1, 4, 6, 5)
    img = torch.rand(2, 24, 16, 3)
    with torch.no_grad():
        dec = pout(m.decode(z)).movedim(1, -1)
        enc = m.encode(pin(img.movedim(-1, 1)))
        # decode_tiled_(samples, tile_x=4, tile_y=4, overlap=1)
        zt = torch.randn(1, 4, 9, 7)
        fn = lambda a: m.decode(a).float()
        tx, ty, ov = 4, 4, 1
        dt = pout((comfy.utils.tiled_scale(zt, fn, tx // 2, ty * 2, ov, upscale_amount=8, output_device="cpu") +
                   comfy.utils.tiled_scale(zt, fn, tx * 2, ty // 2, ov, upscale_amount=8, output_device="cpu") +
                   comfy.utils.tiled_scale(zt, fn, tx, ty, ov, upscale_amount=8, output_device="cpu")) / 3.0).movedim(1, -1)
        # encode_tiled_(pixels, tile_x=32, tile_y=32, overlap=8)
        it = torch.rand(1, 56, 40, 3).movedim(-1, 1)
        efn = lambda a: m.encode(pin(a)).float()
        px, py, po = 32, 32, 8
        # (ComfyUI adds in place; tiled_scale returns inference tensors here)
        et = comfy.utils.tiled_scale(it, efn, px, py, po, upscale_amount=1 / 8, out_channels=4, output_device="cpu")
        et = et + comfy.utils.tiled_scale(it, efn, px * 2, py // 2, po, upscale_amount=1 / 8, out_channels=4, output_device="cpu")
        et = et + comfy.utils.tiled_scale(it, efn, px // 2, py * 2, po, upscale_amount=1 / 8, out_channels=4, output_device="cpu")
        et = et / 3.0
    save("vae", [("z", z), ("img", img), ("decoded", dec), ("encoded", enc),
                 ("zt", zt), ("decoded_tiled", dt), ("it", it.movedim(1, -1)), ("encoded_tiled", et)])


unet_case("sd15", "sd15-small.safetensors", 12, 10, 24)
unet_case("sd21v", "sd21v-small.safetensors", 8, 8, 16)
unet_case("sdxl", "sdxl-small.safetensors", 12, 10, 24)
vae_case("sd15-small.safetensors")
unet_case("sdxl_refiner", "sdxl-refiner-small.safetensors", 8, 8, 8)
