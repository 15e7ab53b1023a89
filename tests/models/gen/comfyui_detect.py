"""Runs ComfyUI's own architecture detection on checkpoints made by
comfyd-mkcheckpoint (verification outside the repo; see
nodepacks/diffusion/model/README.md).

    cd <ComfyUI checkout>
    python <this file> FILE.safetensors [--load | --meta]

Prints the matched supported-model class, the detected unet_config and the
model type.  With --load it also runs comfy.sd.load_checkpoint_guess_config
and reports keys ComfyUI found missing or left over; with --meta only
names, shapes and small tensors are read (for multi-GB SDXL files).  Needs torch, einops,
transformers and safetensors (Debian python3-torch/python3-torchvision in a
--system-site-packages venv works).
"""
import logging
import os
import sys

sys.path.insert(0, os.getcwd())

sys.argv, files = [sys.argv[0], "--cpu"], sys.argv[1:]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import comfy.model_detection  # noqa: E402
import comfy.utils  # noqa: E402

load = "--load" in files
meta = "--meta" in files
files = [f for f in files if f not in ("--load", "--meta")]


def lazy_state_dict(path):
    """Names and shapes of every tensor (meta tensors), with the values of
    the small ones (the detection code reads values only of norm biases)."""
    import torch
    from safetensors import safe_open
    out = {}
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        for k in f.keys():
            shape = f.get_slice(k).get_shape()
            n = 1
            for d in shape:
                n *= d
            out[k] = f.get_tensor(k) if n <= (1 << 16) else torch.empty(shape, device="meta")
    return out, metadata


for path in files:
    if meta:
        sd, metadata = lazy_state_dict(path)
    else:
        sd, metadata = comfy.utils.load_torch_file(path, return_metadata=True)
    prefix = comfy.model_detection.unet_prefix_from_state_dict(sd)
    cfg = comfy.model_detection.model_config_from_unet(sd, prefix, metadata=metadata)
    if cfg is None:
        print(f"{path}: ComfyUI: no match (prefix {prefix!r})")
        continue
    print(f"{path}: ComfyUI class {type(cfg).__name__}, model type "
          f"{cfg.model_type(sd, prefix).name}, prefix {prefix!r}")
    u = cfg.unet_config
    print("  " + ", ".join(f"{k}={u[k]}" for k in (
        "model_channels", "context_dim", "adm_in_channels", "use_linear_in_transformer",
        "transformer_depth", "transformer_depth_output", "transformer_depth_middle",
        "channel_mult", "num_res_blocks") if k in u))
    if load:
        import comfy.sd
        msgs = []

        class Grab(logging.Handler):
            def emit(self, record):
                msgs.append(record.getMessage())
        logging.getLogger().addHandler(Grab())
        logging.getLogger().setLevel(logging.INFO)
        out = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True)
        model, clip, vae = out[0], out[1], out[2]
        print(f"  loaded: model {type(model.model).__name__}, clip "
              f"{type(clip.cond_stage_model).__name__ if clip else None}, vae "
              f"{type(vae.first_stage_model).__name__ if vae else None}")
        bad = [m for m in msgs if "missing" in m.lower() or "unexpected" in m.lower()
               or "left over" in m.lower() or "not loaded" in m.lower()]
        print(f"  load messages about missing/unexpected keys: {len(bad)}")
        for m in bad[:20]:
            print("   ", m[:300])
