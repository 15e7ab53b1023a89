"""Writes ComfyUI's PNGs for the latent-node cases of node_cases.py into
OUT_DIR (tests/diffusion/data/node-ops), with input.png.  Run outside the
repository from a ComfyUI checkout, in a venv with its requirements:

    cd <ComfyUI> && python <repo>/tests/diffusion/gen/node_ops_ref.py OUT_DIR

Each graph is run by a small topological evaluator over ComfyUI's own node
classes; SaveImage is replaced by the same uint8 conversion, one PNG per
batch item: <case>_<i>.png.
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.getcwd())
out_dir = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import folder_paths  # noqa: E402
import nodes  # noqa: E402
import comfy_extras.nodes_mask as nodes_mask  # noqa: E402
from node_cases import cases, make_input  # noqa: E402

torch.set_grad_enabled(False)
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "input.png"), "wb") as f:
    f.write(make_input())
folder_paths.set_input_directory(out_dir)
classes = dict(nodes.NODE_CLASS_MAPPINGS)
classes.update(nodes_mask.NODE_CLASS_MAPPINGS)


def call(cls, kw):
    if hasattr(cls, "FUNCTION"):
        return getattr(cls(), cls.FUNCTION)(**kw)
    r = cls.execute(**kw)          # V3 schema nodes
    return r.result if hasattr(r, "result") else r


for name, g in cases().items():
    done = {}

    def ev(nid):
        if nid in done:
            return done[nid]
        node = g[nid]
        kw = {k: (ev(v[0])[v[1]] if isinstance(v, list) else v)
              for k, v in node["inputs"].items()}
        if node["class_type"] == "SaveImage":
            for i, img in enumerate(kw["images"]):
                a = np.clip(255.0 * img.cpu().numpy(), 0, 255).astype(np.uint8)
                Image.fromarray(a).save(os.path.join(out_dir, f"{name}_{i}.png"))
            done[nid] = ()
        else:
            done[nid] = call(classes[node["class_type"]], kw)
        return done[nid]
    ev("91")
    print(name, "done", flush=True)
