"""Makes the ControlNet test data with ComfyUI's own code, run OUTSIDE the
repository in a venv with ComfyUI's requirements, from a ComfyUI checkout
(/work/ref/ComfyUI, a125cd84):

    comfyd-mkcheckpoint --arch sd15 --width small --seed 0 --out CKPT
    comfyd-mkcheckpoint --arch sdxl --width small --seed 0 --out CKPT_XL
    cd <ComfyUI> && python <repo>/tests/diffusion/gen/controlnet_ref.py CKPT OUT_DIR [CKPT_XL]

The ControlNet is gen/controlnet_file.py's (made from CKPT into OUT_DIR's
scratch, not kept).  ComfyUI's detection only knows the real widths, so
model_config_from_unet is pointed at the SD15 class with the file's
detected config (the small files' heads as for the UNet); everything else
is comfy.controlnet.load_controlnet and comfy.cldm's ControlNet.

Net level (raw little-endian f32):
  x.f32 [1,4,8,8], ctx.f32 [1,77,32], hint.f32 [1,3,64,64] (timestep 500)
  ctrl.f32       the 13 raw outputs (input blocks 0..11, middle), NCHW each,
                 concatenated
  eps_ctrl.f32   UNet output with the outputs at strength 0.7 as control
and with CKPT_XL the same for SDXL in OUT_DIR/sdxl (10 outputs; y.f32 the
ADM vector, ctx 77 x the file's context width).
Workflow level: the graphs of controlnet_cases.py through ComfyUI's nodes
(<case>_0.png), and object_info.txt (the nodes' /object_info entries).
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.getcwd())
ckpt, out_dir = sys.argv[1:3]
ckpt_xl = sys.argv[3] if len(sys.argv) > 3 else None
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
comfy.cli_args.args.use_split_cross_attention = True  # as lora_ref.py
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import comfy.controlnet  # noqa: E402
import comfy.model_detection  # noqa: E402
import comfy.model_patcher  # noqa: E402
import comfy.supported_models  # noqa: E402
from controlnet_file import make  # noqa: E402

torch.set_grad_enabled(False)
torch.set_num_threads(1)
os.makedirs(out_dir, exist_ok=True)

XL = {"cls": None}


def small_from_unet(state_dict, prefix, use_base_if_no_match=False, metadata=None):
    cfg = comfy.model_detection.detect_unet_config(state_dict, prefix)
    if cfg.get("adm_in_channels"):
        mc = comfy.supported_models.SDXL(cfg)
        mc.unet_config["num_head_channels"] = 16  # the small files' head width
    else:
        mc = comfy.supported_models.SD15(cfg)
    mc.set_inference_dtype(torch.float32, None)
    return mc


comfy.model_detection.model_config_from_unet = small_from_unet


def save_in(d, name, a):
    a.detach().float().contiguous().numpy().astype("<f4").tofile(os.path.join(d, name))


def net_level(ckpt, d):
    """The raw outputs of the ControlNet made from ckpt and the UNet with
    them at 0.7, for fixed inputs, into directory d; returns the model."""
    os.makedirs(d, exist_ok=True)
    sd = {k: v.float() for k, v in load_file(ckpt).items()}
    cn_path = os.path.join(d, "scratch-control.safetensors")
    make(ckpt, cn_path)
    cnet = comfy.controlnet.load_controlnet(cn_path)
    assert isinstance(cnet, comfy.controlnet.ControlNet)
    cm = cnet.control_model.float()
    mc = small_from_unet(sd, P)
    ucfg = dict(mc.unet_config)  # before load_model_weights takes the UNet keys out of sd
    model = mc.get_model(sd, P, device="cpu")
    model.load_model_weights(sd, P)
    cfg = mc.unet_config
    rng = np.random.RandomState(99)
    x = torch.from_numpy(rng.standard_normal((1, 4, 8, 8)).astype(np.float32))
    ctx = torch.from_numpy(rng.standard_normal((1, 77, cfg["context_dim"])).astype(np.float32))
    hint = torch.from_numpy(rng.uniform(0, 1, (1, 3, 64, 64)).astype(np.float32))
    y = None
    if cfg.get("adm_in_channels"):
        y = torch.from_numpy(rng.standard_normal((1, cfg["adm_in_channels"])).astype(np.float32))
    t = torch.tensor([500.0])
    ctrl = cm(x=x, hint=hint, timesteps=t, context=ctx, y=y)
    outs = list(ctrl["output"]) + list(ctrl["middle"])
    # the same weights under diffusers' names load to the same net
    # (ComfyUI matches diffusers configs against the real widths only, so
    # unet_config_from_diffusers_unet is pointed at the checkpoint's)
    orig_diff = comfy.model_detection.unet_config_from_diffusers_unet
    comfy.model_detection.unet_config_from_diffusers_unet = \
        lambda sd_, dtype=None: dict(ucfg)
    try:
        make(ckpt, cn_path, diffusers=True)
        dm = comfy.controlnet.load_controlnet(cn_path).control_model.float()
    finally:
        comfy.model_detection.unet_config_from_diffusers_unet = orig_diff
    dctrl = dm(x=x, hint=hint, timesteps=t, context=ctx, y=y)
    for a, b in zip(outs, list(dctrl["output"]) + list(dctrl["middle"])):
        assert torch.equal(a, b)
    save_in(d, "x.f32", x)
    save_in(d, "ctx.f32", ctx)
    save_in(d, "hint.f32", hint)
    if y is not None:
        save_in(d, "y.f32", y)
    save_in(d, "ctrl.f32", torch.cat([o.flatten() for o in outs]))
    control = {"output": [o * 0.7 for o in ctrl["output"]],
               "middle": [m * 0.7 for m in ctrl["middle"]]}
    eps = model.diffusion_model(x, timesteps=t, context=ctx, y=y, control=control)
    base = model.diffusion_model(x, timesteps=t, context=ctx, y=y)
    print(d, len(outs), "outputs; control moves eps by", float((eps - base).abs().max()))
    save_in(d, "eps_ctrl.f32", eps)
    os.remove(cn_path)
    return sd, model


P = "model.diffusion_model."
if ckpt_xl:
    net_level(ckpt_xl, os.path.join(out_dir, "sdxl"))
sd, model = net_level(ckpt, out_dir)
if os.environ.get("CN_NET_ONLY"):
    sys.exit(0)

# ---- workflow cases through ComfyUI's nodes --------------------------------
import functools  # noqa: E402
import tempfile  # noqa: E402

from PIL import Image  # noqa: E402

import comfy.sd  # noqa: E402
import comfy.sd1_clip  # noqa: E402
import comfy.supported_models_base  # noqa: E402
import folder_paths  # noqa: E402
import nodes  # noqa: E402
from comfy_node_info import node_info  # noqa: E402
import comfy.sdxl_clip  # noqa: E402
from controlnet_cases import (CKPT, CKPT_XL, CN, CN_DIFF, CN_SHUFFLE, CN_XL, INPUTS,  # noqa: E402
                              cases, make_input)

work = tempfile.mkdtemp()
for name, (w, h) in INPUTS.items():
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(make_input(w, h))
folder_paths.set_input_directory(out_dir)
make(ckpt, os.path.join(work, CN))
make(ckpt, os.path.join(work, CN_SHUFFLE), plain=True, f32=True)
make(ckpt, os.path.join(work, CN_DIFF), difference=True)
if ckpt_xl:
    make(ckpt_xl, os.path.join(work, CN_XL))
folder_paths.folder_names_and_paths["controlnet"] = ([work], {".safetensors"})

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
clip = comfy.sd.CLIP(target=comfy.supported_models_base.ClipTarget(comfy.sd1_clip.SD1Tokenizer,
                                                                   clip_model))
csd = {k[len("cond_stage_model.transformer."):]: v
       for k, v in sd.items() if k.startswith("cond_stage_model.transformer.")}
csd["text_projection.weight"] = torch.eye(32)
clip.load_sd(csd)


def vae_of(sd):
    vpre = "first_stage_model."
    vsd = {k[len(vpre):]: v for k, v in sd.items() if k.startswith(vpre)}
    ddconfig = {"double_z": True, "z_channels": vsd["decoder.conv_in.weight"].shape[1],
                "resolution": 256, "in_channels": 3, "out_ch": 3,
                "ch": vsd["encoder.conv_in.weight"].shape[0], "ch_mult": [1, 2, 4, 4],
                "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
    return comfy.sd.VAE(sd=vsd, config={"params": {
        "ddconfig": ddconfig, "embed_dim": vsd["post_quant_conv.weight"].shape[1]}},
        dtype=torch.float32)


vae = vae_of(sd)
objects = {CKPT: (patcher, clip, vae)}
if ckpt_xl:  # as inpaint_ref.py's load_sdxl: the small CLIP-L / CLIP-G configs
    xsd = {k: v.float() for k, v in load_file(ckpt_xl).items()}
    xmc = small_from_unet(xsd, P)
    xmodel = xmc.get_model(xsd, P, device="cpu")
    xmodel.load_model_weights(xsd, P)
    xpatcher = comfy.model_patcher.ModelPatcher(xmodel, load_device=torch.device("cpu"),
                                                offload_device=torch.device("cpu"))
    small_g = dict(small, hidden_act="gelu", hidden_size=64, intermediate_size=256,
                   num_attention_heads=4, projection_dim=64)
    clip_sd = xmc.process_clip_state_dict(
        {k: v for k, v in xsd.items() if k.startswith("conditioner.embedders.")})
    orig_init = comfy.sd1_clip.SDClipModel.__init__

    def small_init(self, *a, **kw):
        gg = kw.get("model_options", {}).get("model_name") == "clip_g"
        kw["textmodel_json_config"] = small_g if gg else small
        orig_init(self, *a, **kw)
    comfy.sd1_clip.SDClipModel.__init__ = small_init
    try:
        xclip = comfy.sd.CLIP(target=comfy.supported_models_base.ClipTarget(
            comfy.sdxl_clip.SDXLTokenizer, comfy.sdxl_clip.SDXLClipModel))
    finally:
        comfy.sd1_clip.SDClipModel.__init__ = orig_init
    clip_sd["clip_l.transformer.text_projection.weight"] = torch.eye(32)
    missing, unexpected = xclip.load_sd(clip_sd, full_model=True)
    assert not [k for k in missing if "logit_scale" not in k], missing
    objects[CKPT_XL] = (xpatcher, xclip, vae_of(xsd))


def call(cls, kw):
    return getattr(cls(), cls.FUNCTION)(**kw)


for name, g in cases().items():
    if g["1"]["inputs"]["ckpt_name"] not in objects:
        continue
    done = {}

    def ev(nid):
        if nid in done:
            return done[nid]
        node = g[nid]
        kw = {k: (ev(v[0])[v[1]] if isinstance(v, list) else v)
              for k, v in node["inputs"].items()}
        ct = node["class_type"]
        if ct == "CheckpointLoaderSimple":
            done[nid] = objects[kw["ckpt_name"]]
        elif ct == "SaveImage":
            for i, img in enumerate(kw["images"]):
                a = np.clip(255.0 * img.cpu().numpy(), 0, 255).astype(np.uint8)
                Image.fromarray(a).save(os.path.join(out_dir, f"{name}_{i}.png"))
            done[nid] = ()
        else:
            done[nid] = call(nodes.NODE_CLASS_MAPPINGS[ct], kw)
        return done[nid]
    ev("91")
    print(name, "done", flush=True)


with open(os.path.join(out_dir, "object_info.txt"), "w") as f:
    for name in ("ControlNetLoader", "DiffControlNetLoader", "ControlNetApplyAdvanced",
                 "ControlNetApply"):
        f.write(name + "\t" + json.dumps(node_info(nodes, name)) + "\n")
