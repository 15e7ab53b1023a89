"""Imports ComfyUI's sampling modules (comfy/samplers.py, comfy/k_diffusion,
comfy/model_sampling.py, comfy/extra_samplers/uni_pc.py) outside a full
ComfyUI install, for the golden generators in this folder.

COMFYUI_DIR names a directory holding those files (a checkout of
Comfy-Org/ComfyUI, or just the files above plus
comfy/ldm/modules/diffusionmodules/util.py).  The ComfyUI modules they
import only for model management are replaced by empty placeholders; the
maths under test is ComfyUI's own.
"""
import os
import sys
import types

COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "/work/venvs/sampling-ref")


def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    parent, _, leaf = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], leaf, m)
    return m


def load():
    sys.path.insert(0, COMFYUI_DIR)
    import comfy  # noqa: F401  (namespace package from COMFYUI_DIR)

    def set_post_cfg(model_options, fn, disable_cfg1_optimization=False):
        opts = dict(model_options)
        opts["sampler_post_cfg_function"] = opts.get("sampler_post_cfg_function", []) + [fn]
        if disable_cfg1_optimization:
            opts["disable_cfg1_optimization"] = True
        return opts

    for name in ["comfy.model_management", "comfy.sampler_helpers", "comfy.patcher_extension",
                 "comfy.hooks", "comfy.context_windows", "comfy.utils", "comfy.ldm.util"]:
        _module(name)
    sys.modules["comfy.ldm.util"].instantiate_from_config = None
    _module("comfy.model_patcher", set_model_options_post_cfg_function=set_post_cfg)
    import comfy.model_sampling as ms
    import comfy.k_diffusion.sampling as ks
    import comfy.extra_samplers.uni_pc as uni_pc
    import comfy.samplers as samplers
    return ms, ks, uni_pc, samplers
