"""Makes the TAESD test data (tests/diffusion/data/taesd) with ComfyUI's own
code, run OUTSIDE the repository in the venv with ComfyUI's requirements,
from a ComfyUI checkout (/work/ref/ComfyUI, a125cd84):

    cd <ComfyUI>
    /work/venvs/comfyui/bin/python <repo>/tests/diffusion/gen/taesd_ref.py WORKDIR <repo>/tests/diffusion/data/taesd

The weights are gen/taesd_weights.py's (seed 1; written to WORKDIR, not
committed: the test writes the same files again).  Outputs, raw
little-endian f32 unless said:
  z.f32 [2,4,8,8]        latents (torch.manual_seed(0) randn)
  img.f32 [2,64,64,3]    images in 0..1 (torch.rand after z)
  preview.u8 [64,64,3]   latent_preview's TAESDPreviewerImpl on z (first
                         item: TAESD(None, decoder), preview_to_image)
  dec.f32 [2,64,64,3]    VAELoader("taesd") -> VAE.decode(z)
  enc.f32 [2,4,8,8]      VAELoader("taesd") -> VAE.encode(img)
  dec_tiled.f32          VAE.decode_tiled(z, tile_x=4, tile_y=4, overlap=1)
  enc_tiled.f32          VAE.encode_tiled(img, tile_x=32, tile_y=32, overlap=8)
"""
import os
import sys

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
work, out_dir = sys.argv[1:3]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import torch  # noqa: E402

import comfy.sd  # noqa: E402
import comfy.utils  # noqa: E402
from comfy.taesd.taesd import TAESD  # noqa: E402
import latent_preview  # noqa: E402
import taesd_weights  # noqa: E402

torch.set_grad_enabled(False)
torch.set_num_threads(1)

os.makedirs(work, exist_ok=True)
os.makedirs(out_dir, exist_ok=True)
taesd_weights.write_pair(work, "taesd", 1)
enc_p = os.path.join(work, "taesd_encoder.safetensors")
dec_p = os.path.join(work, "taesd_decoder.safetensors")

torch.manual_seed(0)
z = torch.randn(2, 4, 8, 8)
img = torch.rand(2, 64, 64, 3)


def save(name, t):
    t.detach().contiguous().numpy().tofile(os.path.join(out_dir, name))


save("z.f32", z.float())
save("img.f32", img.float())

# the previewer (scale 1, shift 0), exactly as latent_preview builds it
prev = latent_preview.TAESDPreviewerImpl(TAESD(None, dec_p, latent_channels=4))
pil = prev.decode_latent_to_preview(z)
import numpy as np  # noqa: E402

np.asarray(pil, dtype=np.uint8).tofile(os.path.join(out_dir, "preview.u8"))

# VAELoader's load_taesd state dict -> comfy.sd.VAE
sd = {}
for k, v in comfy.utils.load_torch_file(enc_p).items():
    sd["taesd_encoder." + k] = v
for k, v in comfy.utils.load_torch_file(dec_p).items():
    sd["taesd_decoder." + k] = v
sd["vae_scale"] = torch.tensor(0.18215)
sd["vae_shift"] = torch.tensor(0.0)
vae = comfy.sd.VAE(sd=sd)
save("dec.f32", vae.decode(z).float())
save("enc.f32", vae.encode(img).float())
save("dec_tiled.f32", vae.decode_tiled(z, tile_x=4, tile_y=4, overlap=1).float())
with torch.inference_mode():  # as ComfyUI runs nodes (in-place += in encode_tiled_)
    save("enc_tiled.f32", vae.encode_tiled(img, tile_x=32, tile_y=32, overlap=8).float())
print("preview mean", np.asarray(pil).mean(), "dec range", float(vae.decode(z).min()),
      float(vae.decode(z).max()))
