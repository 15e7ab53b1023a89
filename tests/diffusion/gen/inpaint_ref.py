"""Writes ComfyUI's PNGs for the inpainting cases of inpaint_cases.py into
OUT_DIR (tests/diffusion/data/inpaint), with the input pictures and
object_info.txt (InpaintModelConditioning's /object_info entry, as
aiohttp prints it).  Run outside the repository from a ComfyUI checkout
(/work/ref/ComfyUI, a125cd84) in a venv with its requirements:

    comfyd-mkcheckpoint --arch sd15 --width small --inpaint --seed 0 --out CKPT
    comfyd-mkcheckpoint --arch sdxl --width small --inpaint --seed 0 --out CKPT_XL
    cd <ComfyUI> && python <repo>/tests/diffusion/gen/inpaint_ref.py CKPT CKPT_XL OUT_DIR

ComfyUI's detection only knows the real widths, so CheckpointLoaderSimple
is replaced by objects built from the file as ComfyUI builds them: the
UNet from its detected config with the SD15 / SDXL class (in_channels 9,
so get_model calls set_inpaint: c_concat = mask + masked image), the CLIP
from sd1_clip / sdxl_clip with the small configs (as lora_ref.py and
lora_ref_sdxl.py), the VAE as comfy.sd.VAE with the file's AutoencoderKL
config.  Every other node is ComfyUI's own class, run
by a small topological evaluator; SaveImage is replaced by the same uint8
conversion: <case>_0.png.
"""
import functools
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.getcwd())
ckpt, ckpt_xl, out_dir = sys.argv[1:4]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
# As lora_ref.py: the split attention avoids torch 1.13's baddbmm NaNs.
comfy.cli_args.args.use_split_cross_attention = True
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import comfy.model_detection  # noqa: E402
import comfy.model_patcher  # noqa: E402
import comfy.sd  # noqa: E402
import comfy.sd1_clip  # noqa: E402
import comfy.sdxl_clip  # noqa: E402
import comfy.supported_models  # noqa: E402
import comfy.supported_models_base  # noqa: E402
import comfy_extras.nodes_mask  # noqa: E402
import folder_paths  # noqa: E402
import nodes  # noqa: E402
from comfy_node_info import node_info  # noqa: E402
from inpaint_cases import CKPT, CKPT_XL, INPUTS, cases, make_input  # noqa: E402

torch.set_grad_enabled(False)
torch.set_num_threads(1)
os.makedirs(out_dir, exist_ok=True)
for name, (w, h) in INPUTS.items():
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(make_input(w, h))
folder_paths.set_input_directory(out_dir)

# ---- the checkpoints' objects ---------------------------------------------
P = "model.diffusion_model."
base_cfg = {"bos_token_id": 0, "eos_token_id": 49407, "layer_norm_eps": 1e-05,
            "max_position_embeddings": 77, "model_type": "clip_text_model",
            "num_hidden_layers": 3, "pad_token_id": 1, "vocab_size": 49408}
small_l = dict(base_cfg, hidden_act="quick_gelu", hidden_size=32, intermediate_size=128,
               num_attention_heads=2, projection_dim=32)
small_g = dict(base_cfg, hidden_act="gelu", hidden_size=64, intermediate_size=256,
               num_attention_heads=4, projection_dim=64)


def unet(sd, cls, head_channels=None):
    unet_config = comfy.model_detection.detect_unet_config(sd, P)
    assert unet_config["in_channels"] == 9, unet_config
    mc = cls(unet_config)
    if head_channels:
        mc.unet_config["num_head_channels"] = head_channels  # the small files' head width
    mc.set_inference_dtype(torch.float32, None)
    model = mc.get_model(sd, P, device="cpu")
    assert model.concat_keys == ("mask", "masked_image")
    model.load_model_weights(sd, P)
    return mc, comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"),
                                                offload_device=torch.device("cpu"))


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


def load_sd15(path):
    sd = {k: v.float() for k, v in load_file(path).items()}
    _, patcher = unet(sd, comfy.supported_models.SD15)
    clip_model = functools.partial(comfy.sd1_clip.SD1ClipModel,
                                   clip_model=functools.partial(comfy.sd1_clip.SDClipModel,
                                                                textmodel_json_config=small_l))
    target = comfy.supported_models_base.ClipTarget(comfy.sd1_clip.SD1Tokenizer, clip_model)
    clip = comfy.sd.CLIP(target=target)
    csd = {k[len("cond_stage_model.transformer."):]: v
           for k, v in sd.items() if k.startswith("cond_stage_model.transformer.")}
    csd["text_projection.weight"] = torch.eye(32)
    missing, unexpected = clip.load_sd(csd)
    assert not missing and unexpected == ["text_model.embeddings.position_ids"], (missing,
                                                                                   unexpected)
    return patcher, clip, vae_of(sd)


def load_sdxl(path):
    sd = {k: v.float() for k, v in load_file(path).items()}
    mc, patcher = unet(sd, comfy.supported_models.SDXL, 16)
    clip_sd = mc.process_clip_state_dict(
        {k: v for k, v in sd.items() if k.startswith("conditioner.embedders.")})
    orig_init = comfy.sd1_clip.SDClipModel.__init__

    def small_init(self, *a, **kw):
        g = kw.get("model_options", {}).get("model_name") == "clip_g"
        kw["textmodel_json_config"] = small_g if g else small_l
        orig_init(self, *a, **kw)
    comfy.sd1_clip.SDClipModel.__init__ = small_init
    try:
        target = comfy.supported_models_base.ClipTarget(comfy.sdxl_clip.SDXLTokenizer,
                                                        comfy.sdxl_clip.SDXLClipModel)
        clip = comfy.sd.CLIP(target=target)
    finally:
        comfy.sd1_clip.SDClipModel.__init__ = orig_init
    clip_sd["clip_l.transformer.text_projection.weight"] = torch.eye(32)  # unused by SDXL
    missing, unexpected = clip.load_sd(clip_sd, full_model=True)
    assert not [k for k in missing if "logit_scale" not in k], missing
    return patcher, clip, vae_of(sd)


objects = {CKPT: load_sd15(ckpt), CKPT_XL: load_sdxl(ckpt_xl)}

# ---- the cases --------------------------------------------------------------
classes = dict(nodes.NODE_CLASS_MAPPINGS)
classes.update(comfy_extras.nodes_mask.NODE_CLASS_MAPPINGS)


def call(cls, kw):
    return getattr(cls(), cls.FUNCTION)(**kw)


for name, g in cases().items():
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
            done[nid] = call(classes[ct], kw)
        return done[nid]
    ev("91")
    print(name, "done", flush=True)


# ---- object_info --------------------------------------------------------------
with open(os.path.join(out_dir, "object_info.txt"), "w") as f:
    for name in ("InpaintModelConditioning",):
        f.write(name + "\t" + json.dumps(node_info(nodes, name)) + "\n")
