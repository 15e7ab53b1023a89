"""Makes the LoRA test data: a small deterministic LoRA for the small SD1.5
checkpoint (`comfyd-mkcheckpoint --arch sd15 --width small --seed 0`,
f16) in every format test_lora.c exercises, and ComfyUI's own results with
it applied, run OUTSIDE the repository in a venv with ComfyUI's
requirements, from a ComfyUI checkout (/work/ref/ComfyUI, a125cd84):

    cd <ComfyUI>
    python <repo>/tests/diffusion/gen/lora_ref.py CKPT <repo>/tests/diffusion/data/lora

Writes test-lora.safetensors and the f32 arrays (raw little-endian):
  x.f32 [1,4,8,8], ctx.f32 [1,77,32]        UNet inputs (timestep 500)
  eps_base.f32                               UNet output, no LoRA
  eps_lora.f32                               LoraLoader strength_model 0.8
  eps_chain.f32                              the same LoRA applied again at -0.5
  test-lycoris.safetensors, eps_lyco.f32,    a LoHa / LoKr file at strength_model 0.7,
  cond_lyco.f32                              strength_clip 0.8
  cond_base.f32 [77,32]                      CLIPTextEncode("a photo of a cat")
  cond.f32 [77,32], pooled.f32 [32]          the same with strength_clip 0.9
ComfyUI's detection only knows the real widths, so the model objects are
built from the checkpoint's detected UNet config with the SD15 class, and
the CLIP from sd1_clip with the small config; the LoRA goes through
comfy.sd.load_lora_for_models and the patched weights through
ModelPatcher.patch_model, i.e. ComfyUI's key maps and weight maths.
"""
import functools
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
import comfy.supported_models  # noqa: E402

torch.set_grad_enabled(False)
torch.set_num_threads(1)
os.makedirs(out_dir, exist_ok=True)
sd = {k: v.float() for k, v in load_file(ckpt).items()}
P = "model.diffusion_model."
rng = np.random.RandomState(1234)


def rnd(*shape, scale=0.2):
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def w(key):
    return sd[P + key]


# ---- the LoRA ---------------------------------------------------------
L = {}
R = 4


def lin(name, target, alpha=None, up="{}.lora_up.weight", down="{}.lora_down.weight"):
    o, i = target.shape[0], target.shape[1]
    L[up.format(name)] = rnd(o, R)
    L[down.format(name)] = rnd(R, i)
    if alpha is not None:
        L[name + ".alpha"] = torch.tensor(float(alpha))


def conv(name, target, alpha=None, mid=False):
    o, i, kh, kw = target.shape
    if mid:
        L[name + ".lora_down.weight"] = rnd(R, i, 1, 1)
        L[name + ".lora_mid.weight"] = rnd(R, R, kh, kw)
    else:
        L[name + ".lora_down.weight"] = rnd(R, i, kh, kw)
    L[name + ".lora_up.weight"] = rnd(o, R, 1, 1)
    if alpha is not None:
        L[name + ".alpha"] = torch.tensor(float(alpha))


tb = "transformer_blocks.0."
# kohya, diffusers block names: linear, 1x1 conv, 3x3 LoCon, LoCon + mid
lin("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q",
    w("input_blocks.1.1." + tb + "attn1.to_q.weight"), alpha=2)
lin("lora_unet_up_blocks_1_attentions_2_transformer_blocks_0_attn2_to_k",
    w("output_blocks.5.1." + tb + "attn2.to_k.weight"))
conv("lora_unet_mid_block_attentions_0_proj_in", w("middle_block.1.proj_in.weight"), alpha=4)
conv("lora_unet_down_blocks_1_resnets_0_conv1", w("input_blocks.4.0.in_layers.2.weight"), alpha=1)
conv("lora_unet_up_blocks_2_resnets_1_conv2", w("output_blocks.7.0.out_layers.3.weight"),
     alpha=3, mid=True)
# kohya, LDM names
lin("lora_unet_time_embed_0", w("time_embed.0.weight"), alpha=8)
conv("lora_unet_input_blocks_4_1_proj_out", w("input_blocks.4.1.proj_out.weight"))
conv("lora_unet_out_2", w("out.2.weight"), alpha=2)
# diffusers / peft
lin("unet.down_blocks.0.attentions.1.transformer_blocks.0.attn2.processor.to_out",
    w("input_blocks.2.1." + tb + "attn2.to_out.0.weight"),
    up="{}.lora_B.weight", down="{}.lora_A.weight")
lin("down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj",
    w("input_blocks.4.1." + tb + "ff.net.0.proj.weight"),
    up="{}.lora.up.weight", down="{}.lora.down.weight")
# plain LDM keys
lin("diffusion_model.output_blocks.3.0.emb_layers.1", w("output_blocks.3.0.emb_layers.1.weight"),
    alpha=1)
# DoRA
ff2 = w("input_blocks.7.1." + tb + "ff.net.2.weight")
lin("lora_unet_down_blocks_2_attentions_0_transformer_blocks_0_ff_net_2", ff2, alpha=2)
L["lora_unet_down_blocks_2_attentions_0_transformer_blocks_0_ff_net_2.dora_scale"] = (
    ff2.norm(dim=1, keepdim=True) * (1.0 + rnd(ff2.shape[0], 1, scale=0.1)))
# a plain bias difference
L["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.diff_b"] = rnd(
    w("input_blocks.1.1." + tb + "attn1.to_out.0.bias").shape[0])
# text encoder: kohya te / te1, diffusers (transformers) spelling
T = "cond_stage_model.transformer.text_model.encoder.layers."
lin("lora_te_text_model_encoder_layers_0_self_attn_q_proj", sd[T + "0.self_attn.q_proj.weight"])
lin("lora_te_text_model_encoder_layers_2_mlp_fc1", sd[T + "2.mlp.fc1.weight"], alpha=2)
lin("lora_te1_text_model_encoder_layers_1_self_attn_v_proj", sd[T + "1.self_attn.v_proj.weight"])
lin("text_encoder.text_model.encoder.layers.1.self_attn.out_proj",
    sd[T + "1.self_attn.out_proj.weight"],
    up="{}.lora_linear_layer.up.weight", down="{}.lora_linear_layer.down.weight")
# keys that map to nothing ("lora key not loaded")
L["lora_unet_no_such_layer.lora_up.weight"] = rnd(4, R)
L["lora_unet_no_such_layer.lora_down.weight"] = rnd(R, 4)
L["lora_te_no_such_layer.alpha"] = torch.tensor(1.0)
lora_path = os.path.join(out_dir, "test-lora.safetensors")
save_file({k: v.contiguous() for k, v in sorted(L.items())}, lora_path)
lora = comfy.utils.load_torch_file(lora_path, safe_load=True)

# ---- ComfyUI's model and CLIP -------------------------------------------
unet_config = comfy.model_detection.detect_unet_config(sd, P)
mc = comfy.supported_models.SD15(unet_config)
mc.set_inference_dtype(torch.float32, None)
model = mc.get_model(sd, P, device="cpu")
model.load_model_weights(sd, P)
patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"),
                                           offload_device=torch.device("cpu"))

small = {"attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 49407,
         "hidden_act": "quick_gelu", "hidden_size": 32, "initializer_factor": 1.0,
         "initializer_range": 0.02, "intermediate_size": 128, "layer_norm_eps": 1e-05,
         "max_position_embeddings": 77, "model_type": "clip_text_model",
         "num_attention_heads": 2, "num_hidden_layers": 3, "pad_token_id": 1,
         "projection_dim": 32, "torch_dtype": "float32", "vocab_size": 49408}
clip_model = functools.partial(comfy.sd1_clip.SD1ClipModel,
                               clip_model=functools.partial(comfy.sd1_clip.SDClipModel,
                                                            textmodel_json_config=small))
target = comfy.supported_models_base.ClipTarget(comfy.sd1_clip.SD1Tokenizer, clip_model)
clip = comfy.sd.CLIP(target=target)
csd = {k[len("cond_stage_model.transformer."):]: v
       for k, v in sd.items() if k.startswith("cond_stage_model.transformer.")}
csd["text_projection.weight"] = torch.eye(32)  # SD1 files have none; pooled is unprojected
missing, unexpected = clip.load_sd(csd)
assert not missing and unexpected == ["text_model.embeddings.position_ids"], (missing, unexpected)

x = rnd(1, 4, 8, 8, scale=1.0)
ctx = rnd(1, 77, 32, scale=1.0)
t = torch.tensor([500.0])


def eps(p):
    p.patch_model()
    out = p.model.diffusion_model(x, timesteps=t, context=ctx)
    again = p.model.diffusion_model(x, timesteps=t, context=ctx)
    p.unpatch_model()
    assert torch.isfinite(out).all() and torch.equal(out, again)
    return out


def save(name, a):
    a.detach().float().contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, name))


save("x.f32", x)
save("ctx.f32", ctx)
save("eps_base.f32", eps(patcher))
m1, c1 = comfy.sd.load_lora_for_models(patcher, clip, lora, 0.8, 0.9)
save("eps_lora.f32", eps(m1))
m2, _ = comfy.sd.load_lora_for_models(m1, None, lora, -0.5, 0)
save("eps_chain.f32", eps(m2))
cond, pooled = clip.encode_from_tokens(clip.tokenize("a photo of a cat"), return_pooled=True)
save("cond_base.f32", cond[0])
cond, pooled = c1.encode_from_tokens(c1.tokenize("a photo of a cat"), return_pooled=True)
save("cond.f32", cond[0])
save("pooled.f32", pooled[0])
print("wrote", out_dir, "eps |lora - base| max",
      float((eps(m1) - eps(patcher)).abs().max()))

# ---- LyCORIS: LoHa and LoKr (test-lycoris.safetensors) -------------------
# Made after the arrays above so that they stay the same.
Y = {}


def loha(name, target, alpha=None, cp=False):
    o, i = target.shape[0], target.shape[1]
    k = target.shape[2:] if target.ndim == 4 else ()
    for n in ("1", "2"):
        if cp:
            Y[name + ".hada_t" + n] = rnd(R, R, *k, scale=0.5)
            Y[name + ".hada_w%s_a" % n] = rnd(R, o, scale=0.5)
            Y[name + ".hada_w%s_b" % n] = rnd(R, i, scale=0.5)
        else:
            Y[name + ".hada_w%s_a" % n] = rnd(o, R, scale=0.5)
            Y[name + ".hada_w%s_b" % n] = rnd(R, i * int(np.prod(k or (1,))), scale=0.5)
    if alpha is not None:
        Y[name + ".alpha"] = torch.tensor(float(alpha))


def lokr(name, target, f1, alpha=None, w1_lr=False, w2_lr=False, cp=False):
    """kron(w1 [f1], w2 [target / f1]); w1 / w2 as products of rank R when asked."""
    a, b = f1
    c, d = target.shape[0] // a, target.shape[1] // b
    k = tuple(target.shape[2:])
    if w1_lr:
        Y[name + ".lokr_w1_a"] = rnd(a, R, scale=0.5)
        Y[name + ".lokr_w1_b"] = rnd(R, b, scale=0.5)
    else:
        Y[name + ".lokr_w1"] = rnd(a, b, scale=0.5)
    if cp:
        Y[name + ".lokr_t2"] = rnd(R, R, *k, scale=0.5)
        Y[name + ".lokr_w2_a"] = rnd(R, c, scale=0.5)
        Y[name + ".lokr_w2_b"] = rnd(R, d, scale=0.5)
    elif w2_lr:
        Y[name + ".lokr_w2_a"] = rnd(c, R, scale=0.5)
        Y[name + ".lokr_w2_b"] = rnd(R, d * int(np.prod(k or (1,))), scale=0.5)
    else:
        Y[name + ".lokr_w2"] = rnd(c, d, *k, scale=0.5)
    if alpha is not None:
        Y[name + ".alpha"] = torch.tensor(float(alpha))


model_sd = {k[len("diffusion_model."):]: v for k, v in model.state_dict().items()
            if k.startswith("diffusion_model.")}
ws = model_sd.__getitem__
loha("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v",
     ws("input_blocks.1.1." + tb + "attn2.to_v.weight"), alpha=2)
loha("lora_unet_down_blocks_1_resnets_1_conv2", ws("input_blocks.5.0.out_layers.3.weight"),
     alpha=1, cp=True)
loha("lora_unet_up_blocks_1_resnets_0_conv1", ws("output_blocks.3.0.in_layers.2.weight"))
lokr("lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_2",
     ws("middle_block.1." + tb + "ff.net.2.weight"), (4, 8), alpha=3)
lokr("lora_unet_up_blocks_2_attentions_1_transformer_blocks_0_attn1_to_q",
     ws("output_blocks.7.1." + tb + "attn1.to_q.weight"), (8, 8), alpha=2, w2_lr=True)
# (lokr_t2, the CP form, fails inside ComfyUI on torch 1.13: kron of the
# einsum's non-contiguous result; left out)
lokr("lora_unet_down_blocks_2_resnets_0_conv1", ws("input_blocks.7.0.in_layers.2.weight"),
     (4, 2), alpha=3, w1_lr=True, w2_lr=True)
lokr("lora_unet_up_blocks_3_resnets_2_conv2", ws("output_blocks.11.0.out_layers.3.weight"),
     (2, 2), w2_lr=True)
loha("lora_te_text_model_encoder_layers_1_mlp_fc2",
     c1.cond_stage_model.clip_l.transformer.text_model.encoder.layers[1].mlp.fc2.weight, alpha=2)
lyco_path = os.path.join(out_dir, "test-lycoris.safetensors")
save_file({k: v.contiguous() for k, v in sorted(Y.items())}, lyco_path)
lyco = comfy.utils.load_torch_file(lyco_path, safe_load=True)
m3, c3 = comfy.sd.load_lora_for_models(patcher, clip, lyco, 0.7, 0.8)
save("eps_lyco.f32", eps(m3))
cond, pooled = c3.encode_from_tokens(c3.tokenize("a photo of a cat"), return_pooled=True)
save("cond_lyco.f32", cond[0])
print("lycoris eps moved", float((eps(m3) - eps(patcher)).abs().max()))
