"""Writes the small .ckpt/.pt fixtures under tests/models/data (run with a
python that has torch; the files are committed, torch is not needed by the
tests).  Values are chosen so the C test can check them exactly.

    python tests/models/gen/make_ckpt.py tests/models/data
"""
import io
import os
import pickle
import sys
import zipfile

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def sd():
    d = {}
    d["model.diffusion_model.input_blocks.0.0.weight"] = torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2) / 8
    d["model.diffusion_model.input_blocks.0.0.bias"] = torch.tensor([1.5, -2.0], dtype=torch.float16)
    d["bf"] = torch.tensor([1.0, -3.0, 0.5], dtype=torch.bfloat16)
    d["ids"] = torch.arange(5, dtype=torch.int64).reshape(1, 5)
    d["scalar"] = torch.tensor(4.25)
    base = torch.arange(12, dtype=torch.float32)
    d["view_offset"] = base[4:10].reshape(2, 3)        # shares storage, offset 4
    d["shared_base"] = base
    d["param"] = torch.nn.Parameter(torch.ones(3))
    return d


# Lightning-style: {"state_dict": ..., "global_step": N}
torch.save({"state_dict": sd(), "global_step": 470000, "epoch": 6}, os.path.join(out, "lightning.ckpt"))
# bare state dict (OrderedDict with _metadata, like module.state_dict())
m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
with torch.no_grad():
    m[0].weight.copy_(torch.tensor([[1., 2., 3.], [4., 5., 6.]]))
    m[0].bias.copy_(torch.tensor([0.5, -0.5]))
torch.save(m.state_dict(), os.path.join(out, "module.pt"))
# a transposed (non-contiguous) tensor: refused with a clear error
torch.save({"t": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()}, os.path.join(out, "noncontig.pt"))


# a pickle that calls os.system: must be refused, never run
class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    z.writestr("archive/version", "3\n")
open(os.path.join(out, "evil.ckpt"), "wb").write(buf.getvalue())
# legacy (pre-1.6) non-zip serialization
torch.save({"a": torch.ones(2)}, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)

# A safetensors file from the reference writer (safetensors.torch), with
# metadata and every dtype the reader converts; read by models_safetensors.
from safetensors.torch import save_file  # noqa: E402

st = {
    "f32": torch.tensor([[1.0, -2.5], [3.25, 1e-8]], dtype=torch.float32),
    "f16": torch.tensor([0.5, -65504.0, 6e-8], dtype=torch.float16),
    "bf16": torch.tensor([1.0, -3.0, 1e30], dtype=torch.bfloat16),
    "i64": torch.tensor([-7, 1 << 40], dtype=torch.int64),
    "u8": torch.tensor([0, 255], dtype=torch.uint8),
    "empty": torch.zeros(0, 3),
}
if hasattr(torch, "float8_e4m3fn"):
    st["e4m3"] = torch.tensor([1.0, -448.0, 0.001953125]).to(torch.float8_e4m3fn)
    st["e5m2"] = torch.tensor([1.0, 57344.0, -2.0]).to(torch.float8_e5m2)
save_file(st, os.path.join(out, "reference.safetensors"), metadata={"format": "pt", "note": "made by safetensors.torch"})

# A Lightning training checkpoint: callbacks hold a ModelCheckpoint object and
# numpy scalars (the extra globals ComfyUI allows); the reader must skip
# them and still find the state dict.
import types  # noqa: E402

import numpy as np  # noqa: E402

mod = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")


class ModelCheckpoint:
    pass


ModelCheckpoint.__module__ = mod.__name__
mod.ModelCheckpoint = ModelCheckpoint
for name in ("pytorch_lightning", "pytorch_lightning.callbacks", mod.__name__):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules[mod.__name__] = mod
cb = ModelCheckpoint()
cb.best_model_score = np.float64(0.125)
cb.monitor = "val/loss"
cb.dirpath = b"/logs/\xff"
torch.save({"state_dict": {"w": torch.tensor([2.0, 4.0])}, "global_step": np.int64(470000),
            "callbacks": {ModelCheckpoint: cb}},
           os.path.join(out, "lightning_callbacks.ckpt"))
