"""Writes tests/diffusion/data/upscale: ComfyUI's upscale-model results on
the random RRDBNet models of gen/esrgan_weights.py, and the /object_info
entries of UpscaleModelLoader / ImageUpscaleWithModel.

Per case: the model is loaded as UpscaleModelLoader does
(comfy.utils.load_torch_file + spandrel's ModelLoader), the image goes
through comfy.utils.tiled_scale exactly as ImageUpscaleWithModel calls it
(lambda a: upscale_model(a), upscale_amount = model.scale, then
clamp(movedim)), with the case's tile / overlap (the node's 512 / 32 is
used as is, through the node's own execute, for the one-tile case).
Output: <case>.out.f32, [H*scale, W*scale, 3] f32; node.out.u8: the
ImageUpscaleWithModel node itself (tile 512, overlap 32) on NODE_IMAGE as
LoadImage and SaveImage see it, the saved PNG's pixels.

Run from a ComfyUI checkout (a125cd84) with torch 1.13 and spandrel 0.4.2:

    cd <ComfyUI>
    PYTHONPATH=<venv with spandrel>/lib/python3.11/site-packages \\
      <comfyui venv>/bin/python <repo>/tests/diffusion/gen/upscale_ref.py <repo>/tests/diffusion/data/upscale
"""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.getcwd())
out_dir = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import numpy as np  # noqa: E402
import torch  # noqa: E402

import esrgan_weights as ew  # noqa: E402
import folder_paths  # noqa: E402

wdir = tempfile.mkdtemp()
folder_paths.folder_names_and_paths["upscale_models"] = ([wdir], folder_paths.supported_pt_extensions)
import comfy.utils  # noqa: E402
from comfy_extras import nodes_upscale_model as nu  # noqa: E402

os.makedirs(out_dir, exist_ok=True)
ew.main.__globals__["sys"].argv = ["", wdir]
ew.main()

for name, c in ew.CASES.items():
    model = nu.UpscaleModelLoader.execute(name + ".safetensors").result[0]
    img = np.fromfile(os.path.join(wdir, name + ".img.f32"), dtype=np.float32)
    image = torch.from_numpy(img.reshape(1, c["H"], c["W"], 3).copy())
    if c["tile"] >= 512:
        s = nu.ImageUpscaleWithModel.execute(model, image).result[0]
    else:
        in_img = image.movedim(-1, -3)
        with torch.no_grad():
            s = comfy.utils.tiled_scale(in_img, lambda a: model(a), tile_x=c["tile"],
                                        tile_y=c["tile"], overlap=c["overlap"],
                                        upscale_amount=model.scale)
        s = torch.clamp(s.movedim(-3, -1), min=0, max=1.0)
    print(name, "scale", model.scale, "tags", model.tags, "out", tuple(s.shape),
          "min %.4f max %.4f" % (s.min().item(), s.max().item()))
    s[0].contiguous().numpy().astype(np.float32).tofile(os.path.join(out_dir, name + ".out.f32"))

# ImageUpscaleWithModel as the server test runs it: LoadImage's /255, the
# node (tile 512, overlap 32), SaveImage's clip(255 x).astype(uint8)
nc = ew.NODE_IMAGE
model = nu.UpscaleModelLoader.execute(nc["model"] + ".safetensors").result[0]
u8 = np.frombuffer(ew.node_image_u8(), dtype=np.uint8).reshape(1, nc["H"], nc["W"], 3)
image = torch.from_numpy(u8.astype(np.float32) / 255.0)
s = nu.ImageUpscaleWithModel.execute(model, image).result[0]
png = np.clip(255. * s[0].numpy(), 0, 255).astype(np.uint8)
print("node", tuple(s.shape))
png.tofile(os.path.join(out_dir, "node.out.u8"))

# /object_info (server.py's node_info: V3 classes print GET_NODE_INFO_V1)
odir = tempfile.mkdtemp()
open(os.path.join(odir, "test-esrgan.safetensors"), "wb").close()
folder_paths.folder_names_and_paths["upscale_models"] = ([odir], folder_paths.supported_pt_extensions)
folder_paths.filename_list_cache.clear()
with open(os.path.join(out_dir, "object_info.txt"), "w") as f:
    for cls in (nu.UpscaleModelLoader, nu.ImageUpscaleWithModel):
        # as nodes.load_custom_node sets it for comfy_extras modules
        cls.RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_upscale_model"
        info = cls.GET_NODE_INFO_V1()
        f.write("%s\t%s\n" % (info["name"], json.dumps(info)))
