"""Writes tests/diffusion/data/lora/object_info.txt: ComfyUI's /object_info
entry of LoraLoader and LoraLoaderModelOnly ("Name<TAB>json" lines, json as
aiohttp's json_response prints it), with the loras folder holding
test-lora.safetensors.  Built with server.py's node_info logic on the real
classes of nodes.py.  Run from a ComfyUI checkout (a125cd84) in its venv:

    cd <ComfyUI>
    python <repo>/tests/diffusion/gen/lora_object_info.py <repo>/tests/diffusion/data/lora
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.getcwd())
out_dir = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import folder_paths  # noqa: E402

d = tempfile.mkdtemp()
open(os.path.join(d, "test-lora.safetensors"), "wb").close()
folder_paths.folder_names_and_paths["loras"] = ([d], folder_paths.supported_pt_extensions)
import nodes  # noqa: E402
from comfy_node_info import node_info  # noqa: E402


with open(os.path.join(out_dir, "object_info.txt"), "w") as f:
    for name in ("LoraLoader", "LoraLoaderModelOnly"):
        f.write(name + "\t" + json.dumps(node_info(nodes, name)) + "\n")
