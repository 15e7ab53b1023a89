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


def node_info(name):  # server.py's node_info for V1 classes
    c = nodes.NODE_CLASS_MAPPINGS[name]
    info = {"input": c.INPUT_TYPES(),
            "input_order": {k: list(v.keys()) for k, v in c.INPUT_TYPES().items()},
            "output": c.RETURN_TYPES}
    info["output_is_list"] = getattr(c, "OUTPUT_IS_LIST", [False] * len(c.RETURN_TYPES))
    info["output_name"] = getattr(c, "RETURN_NAMES", info["output"])
    info["name"] = name
    info["display_name"] = nodes.NODE_DISPLAY_NAME_MAPPINGS.get(name, name)
    info["description"] = getattr(c, "DESCRIPTION", "")
    info["python_module"] = getattr(c, "RELATIVE_PYTHON_MODULE", "nodes")
    info["category"] = "sd"
    info["output_node"] = bool(getattr(c, "OUTPUT_NODE", False))
    if hasattr(c, "CATEGORY"):
        info["category"] = c.CATEGORY
    if hasattr(c, "OUTPUT_TOOLTIPS"):
        info["output_tooltips"] = c.OUTPUT_TOOLTIPS
    return info


with open(os.path.join(out_dir, "object_info.txt"), "w") as f:
    for name in ("LoraLoader", "LoraLoaderModelOnly"):
        f.write(name + "\t" + json.dumps(node_info(name)) + "\n")
