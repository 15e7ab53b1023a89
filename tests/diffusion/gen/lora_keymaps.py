"""Writes tests/diffusion/data/lora/keymaps.txt: for the small generated
checkpoints of each family (`comfyd-mkcheckpoint --arch ARCH --width small
--seed 0`), the number of LoRA names ComfyUI's key map has for the model and
its CLIP (comfy.lora.model_lora_keys_unet + model_lora_keys_clip, as
load_lora_for_models builds it) and the FNV-1a 64 hash of the sorted
"name<TAB>target\\n" lines.  The UNet side runs on ComfyUI's real model
objects (built from the detected config with the family's class, as
lora_ref.py does); the CLIP side on the state-dict names of ComfyUI's
CLIPTextModel (a real small SDClipModel's, under clip_l / clip_h / clip_g
as the family has them).  Run from a ComfyUI checkout in its venv:

    cd <ComfyUI>
    python <repo>/tests/diffusion/gen/lora_keymaps.py CKPT_DIR <repo>/tests/diffusion/data/lora

CKPT_DIR holds sd15.safetensors, sd21v.safetensors, sdxl.safetensors and
sdxl-refiner.safetensors made as above.
"""
import os
import sys

sys.path.insert(0, os.getcwd())
ckpt_dir, out_dir = sys.argv[1:3]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import comfy.lora  # noqa: E402
import comfy.model_detection  # noqa: E402
import comfy.sd1_clip  # noqa: E402
import comfy.supported_models as sm  # noqa: E402

torch.set_grad_enabled(False)
small = {"hidden_act": "quick_gelu", "hidden_size": 32, "intermediate_size": 128,
         "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
         "num_attention_heads": 2, "num_hidden_layers": 3, "projection_dim": 32,
         "vocab_size": 49408, "bos_token_id": 0, "eos_token_id": 49407, "pad_token_id": 1}
text_keys = list(comfy.sd1_clip.SDClipModel(textmodel_json_config=small).state_dict().keys())


class FakeClip:
    def __init__(self, encs):
        self.keys = ["{}.{}".format(e, k) for e in encs for k in text_keys]

    def state_dict(self):
        return dict.fromkeys(self.keys)


FAMILIES = {"sd15": (sm.SD15, ["clip_l"]), "sd21v": (sm.SD20, ["clip_h"]),
            "sdxl": (sm.SDXL, ["clip_l", "clip_g"]), "sdxl-refiner": (sm.SDXLRefiner, ["clip_g"])}
with open(os.path.join(out_dir, "keymaps.txt"), "w") as f:
    for arch, (cls, encs) in FAMILIES.items():
        sd = load_file(os.path.join(ckpt_dir, arch + ".safetensors"))
        prefix = comfy.model_detection.unet_prefix_from_state_dict(sd)
        mc = cls(comfy.model_detection.detect_unet_config(sd, prefix))
        mc.set_inference_dtype(torch.float32, None)
        model = mc.get_model(sd, prefix, device="cpu")
        key_map = comfy.lora.model_lora_keys_unet(model, {})
        key_map = comfy.lora.model_lora_keys_clip(FakeClip(encs), key_map)
        lines = sorted("{}\t{}\n".format(k, v) for k, v in key_map.items())
        h = 1469598103934665603
        for c in "".join(lines).encode():
            h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        f.write("%s %d %016x\n" % (arch, len(lines), h))
        print(arch, len(lines), flush=True)
