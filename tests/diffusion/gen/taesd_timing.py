"""Times ComfyUI's own TAESD decode (torch, CPU) for the README's
comparison with `test_diffusion_taesd --bench WEIGHTS_DIR H W`; run in the
venv with ComfyUI's requirements from a ComfyUI checkout:

    cd <ComfyUI>
    /work/venvs/comfyui/bin/python <repo>/tests/diffusion/gen/taesd_timing.py WEIGHTS_DIR [THREADS]

WEIGHTS_DIR holds taesd_decoder.safetensors (gen/taesd_weights.py; the
ctest writes it to <build>/tests/diffusion/taesd-weights).
"""
import os
import sys
import time

sys.path.insert(0, os.getcwd())
wdir = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import torch  # noqa: E402

from comfy.taesd.taesd import TAESD  # noqa: E402

torch.set_num_threads(threads)
t = TAESD(None, os.path.join(wdir, "taesd_decoder.safetensors"))
for s in (64, 128):
    z = torch.zeros(1, 4, s, s)
    best = 1e9
    with torch.no_grad():
        for _ in range(3):
            t0 = time.time()
            t.decode(z)
            best = min(best, time.time() - t0)
    print("torch TAESD decode %dx%d latent -> %dx%d: %.3f s (best of 3, %d threads)"
          % (s, s, 8 * s, 8 * s, best, threads))
