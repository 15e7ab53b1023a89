"""ComfyUI server.py's node_info() for V1 node classes: the /object_info
entry of one class, for the reference scripts that write object_info
goldens (controlnet_ref.py, inpaint_ref.py, lora_object_info.py).  Run in
the ComfyUI venv, after `import nodes`."""


def node_info(nodes, name):
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
    if getattr(c, "DEPRECATED", False):
        info["deprecated"] = True
    if getattr(c, "EXPERIMENTAL", False):
        info["experimental"] = True
    return info
