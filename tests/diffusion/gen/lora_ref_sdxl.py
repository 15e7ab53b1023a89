"""The SDXL half of the LoRA test data (see lora_ref.py): a LoRA for the
small SDXL checkpoint (`comfyd-mkcheckpoint --arch sdxl --width small
--seed 0`, f16) with linear proj_in/out, ADM (label_emb / add_embedding),
te1 / te2 (CLIP-L and the OpenCLIP bigG, whose q/k/v are one packed array
in comfyd), text_encoder_2 and text_projection keys, and ComfyUI's results
with it.  Run like lora_ref.py:

    cd <ComfyUI>
    python <repo>/tests/diffusion/gen/lora_ref_sdxl.py CKPT <repo>/tests/diffusion/data/lora/sdxl

Writes sdxl-lora.safetensors and (raw little-endian f32):
  x.f32 [1,4,8,8], ctx.f32 [1,77,96], y.f32 [1,1600]    UNet inputs (t 500)
  eps_base.f32, eps_lora.f32 (strength_model 0.6)
  cond_base.f32 [77,96], cond.f32 [77,96], pooled.f32 [64]
                   CLIPTextEncode("a photo of a cat"), LoRA strength_clip 1.3
The small widths need ComfyUI's classes told their sizes: the UNet gets the
small files' 16 channels per head, the text encoders small configs.
"""
import os
import sys

sys.path.insert(0, os.getcwd())
ckpt, out_dir = sys.argv[1:3]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
# The default CPU attention (sub-quadratic) calls baddbmm(torch.empty(...),
# beta=0), which on the venv's torch 1.13 sometimes lets NaNs of the empty
# tensor through; the split attention computes the same without it.
comfy.cli_args.args.use_split_cross_attention = True
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

import comfy.model_detection  # noqa: E402
import comfy.model_patcher  # noqa: E402
import comfy.sd  # noqa: E402
import comfy.sd1_clip  # noqa: E402
import comfy.sdxl_clip  # noqa: E402
import comfy.supported_models  # noqa: E402
import comfy.supported_models_base  # noqa: E402

torch.set_grad_enabled(False)
torch.set_num_threads(1)
os.makedirs(out_dir, exist_ok=True)
sd = {k: v.float() for k, v in load_file(ckpt).items()}
P = "model.diffusion_model."
rng = np.random.RandomState(4321)


def rnd(*shape, scale=0.2):
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


L = {}
R = 4


def lin(name, target, alpha=None, up="{}.lora_up.weight", down="{}.lora_down.weight"):
    L[up.format(name)] = rnd(target.shape[0], R)
    L[down.format(name)] = rnd(R, target.shape[1])
    if alpha is not None:
        L[name + ".alpha"] = torch.tensor(float(alpha))


def w(key):
    return sd[P + key]


tb = "transformer_blocks.0."
lin("lora_unet_input_blocks_4_1_proj_in", w("input_blocks.4.1.proj_in.weight"), alpha=2)
lin("lora_unet_down_blocks_2_attentions_1_proj_out", w("input_blocks.8.1.proj_out.weight"))
lin("lora_unet_input_blocks_7_1_transformer_blocks_1_attn2_to_k",
    w("input_blocks.7.1.transformer_blocks.1.attn2.to_k.weight"), alpha=1)
lin("lora_unet_label_emb_0_0", w("label_emb.0.0.weight"), alpha=4)
lin("lora_unet_add_embedding_linear_2", w("label_emb.0.2.weight"))
lin("unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_v",
    w("middle_block.1." + tb + "attn1.to_v.weight"), up="{}.lora_B.weight",
    down="{}.lora_A.weight")
# text encoders: CLIP-L is te1, bigG te2 (q/k/v of one packed in_proj)
T1 = "conditioner.embedders.0.transformer.text_model.encoder.layers."
G = "conditioner.embedders.1.model.transformer.resblocks."
lin("lora_te1_text_model_encoder_layers_0_self_attn_k_proj", sd[T1 + "0.self_attn.k_proj.weight"])
lin("lora_te2_text_model_encoder_layers_1_mlp_fc2", sd[G + "1.mlp.c_proj.weight"], alpha=2)
inproj = sd[G + "2.attn.in_proj_weight"]
lin("lora_te2_text_model_encoder_layers_2_self_attn_q_proj", inproj[:64])
lin("lora_te2_text_model_encoder_layers_0_self_attn_v_proj", inproj[128:])
lin("text_encoder_2.text_model.encoder.layers.0.self_attn.out_proj",
    sd[G + "0.attn.out_proj.weight"], up="{}.lora_B.weight", down="{}.lora_A.weight")
lin("lora_te2_text_projection", sd["conditioner.embedders.1.model.text_projection"], alpha=1)
lora_path = os.path.join(out_dir, "sdxl-lora.safetensors")
save_file({k: v.contiguous() for k, v in sorted(L.items())}, lora_path)
lora = comfy.utils.load_torch_file(lora_path, safe_load=True)

# ---- ComfyUI's model and CLIP ---------------------------------------------
mc = comfy.supported_models.SDXL(comfy.model_detection.detect_unet_config(sd, P))
mc.unet_config["num_head_channels"] = 16  # the small files' head width
mc.set_inference_dtype(torch.float32, None)
clip_sd = mc.process_clip_state_dict(
    {k: v for k, v in sd.items() if k.startswith("conditioner.embedders.")})
model = mc.get_model(sd, P, device="cpu")
model.load_model_weights(sd, P)
patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"),
                                           offload_device=torch.device("cpu"))

base_cfg = {"bos_token_id": 0, "eos_token_id": 49407, "layer_norm_eps": 1e-05,
            "max_position_embeddings": 77, "model_type": "clip_text_model",
            "num_hidden_layers": 3, "pad_token_id": 1, "vocab_size": 49408}
small_l = dict(base_cfg, hidden_act="quick_gelu", hidden_size=32, intermediate_size=128,
               num_attention_heads=2, projection_dim=32)
small_g = dict(base_cfg, hidden_act="gelu", hidden_size=64, intermediate_size=256,
               num_attention_heads=4, projection_dim=64)
orig_init = comfy.sd1_clip.SDClipModel.__init__


def small_init(self, *a, **kw):
    g = kw.get("model_options", {}).get("model_name") == "clip_g"
    kw["textmodel_json_config"] = small_g if g else small_l
    orig_init(self, *a, **kw)


comfy.sd1_clip.SDClipModel.__init__ = small_init
target = comfy.supported_models_base.ClipTarget(comfy.sdxl_clip.SDXLTokenizer,
                                                comfy.sdxl_clip.SDXLClipModel)
clip = comfy.sd.CLIP(target=target)
clip_sd["clip_l.transformer.text_projection.weight"] = torch.eye(32)  # unused by SDXL
missing, unexpected = clip.load_sd(clip_sd, full_model=True)
assert not [k for k in missing if "logit_scale" not in k], missing

x = rnd(1, 4, 8, 8, scale=1.0)
ctx = rnd(1, 77, 96, scale=1.0)
y = rnd(1, 1600, scale=1.0)
t = torch.tensor([500.0])


def eps(p):
    p.patch_model()
    out = p.model.diffusion_model(x, timesteps=t, context=ctx, y=y)
    again = p.model.diffusion_model(x, timesteps=t, context=ctx, y=y)
    p.unpatch_model()
    assert torch.isfinite(out).all() and torch.equal(out, again)
    return out


def save(name, a):
    a.detach().float().contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, name))


save("x.f32", x)
save("ctx.f32", ctx)
save("y.f32", y)
save("eps_base.f32", eps(patcher))
m1, c1 = comfy.sd.load_lora_for_models(patcher, clip, lora, 0.6, 1.3)
save("eps_lora.f32", eps(m1))
cond, _ = clip.encode_from_tokens(clip.tokenize("a photo of a cat"), return_pooled=True)
save("cond_base.f32", cond[0])
cond, pooled = c1.encode_from_tokens(c1.tokenize("a photo of a cat"), return_pooled=True)
save("cond.f32", cond[0])
save("pooled.f32", pooled[0])
print("wrote", out_dir, "eps moved", float((eps(m1) - eps(patcher)).abs().max()))
