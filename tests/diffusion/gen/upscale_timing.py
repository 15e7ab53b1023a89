"""Timing of a full-size ESRGAN (RealESRGAN_x4plus's shape: nf 64, nb 23,
x4, random weights) through spandrel + ComfyUI's tiled_scale (tile 512,
overlap 32) on CPU, and through comfyd's nets/esrgan.c
(test_diffusion_esrgan --bench).  Run from a ComfyUI checkout in a venv
with torch and spandrel:

    cd <ComfyUI>
    PYTHONPATH=<venv with spandrel>/lib/python3.11/site-packages \\
      <comfyui venv>/bin/python <repo>/tests/diffusion/gen/upscale_timing.py \\
      <build>/tests/diffusion/test_diffusion_esrgan WORKDIR [H W]
"""
import os
import subprocess
import sys
import time

bench, work = sys.argv[1], sys.argv[2]
H, W = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (128, 128)
sys.path.insert(0, os.getcwd())
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from spandrel import ModelLoader  # noqa: E402

import comfy.utils  # noqa: E402
from spandrel.architectures.ESRGAN import ESRGAN  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(os.cpu_count() or 1)  # as comfyd's pool (every core)
net = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
os.makedirs(work, exist_ok=True)
path = os.path.join(work, "esrgan-x4-full.safetensors")
save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
model = ModelLoader().load_from_state_dict(comfy.utils.load_torch_file(path)).eval()
img = torch.rand(1, 3, H, W)
best = 1e30
with torch.no_grad():
    for _ in range(3):
        t0 = time.perf_counter()
        comfy.utils.tiled_scale(img, lambda a: model(a), tile_x=512, tile_y=512, overlap=32,
                                upscale_amount=model.scale)
        best = min(best, time.perf_counter() - t0)
print("torch %s (%d threads) %dx%d -> %dx%d: %.0f ms (best of 3)"
      % (torch.__version__, torch.get_num_threads(), W, H, 4 * W, 4 * H, best * 1e3))
subprocess.run([bench, "--bench", path, str(H), str(W)], check=True)
