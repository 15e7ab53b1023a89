#!/usr/bin/env python3
"""Writes tests/core/data/object_info.txt: the /object_info definition
ComfyUI (commit a125cd84) prints for each class of the core pack, one
"Name<TAB>json" line per class, in registration order.

The definitions below restate each node's INPUT_TYPES / RETURN_TYPES /
schema as read from ComfyUI's nodes.py and comfy_extras (nodes_images,
nodes_mask, nodes_post_processing, nodes_rebatch, nodes_primitive), and are
rendered with
the two server-side formats (server.py node_info for V1 classes,
Schema.get_v1_info for V3 classes).  The test's input folder holds a.png
and b.txt, which is what the file COMBOs list.
Run: python3 tests/core/gen/object_info.py   (standard library only)
"""
import json
import os
import sys

MAX = 16384
METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
IMAGE_FILES = ["a.png"]
ALL_FILES = ["a.png", "b.txt"]
SAVE_DESC = "Saves the input images to your ComfyUI output directory."
LOAD_OUTPUT_DESC = ("Load an image from the output folder. When the refresh "
                    "button is clicked, the node will update the image list "
                    "and automatically select the first image, allowing for "
                    "easy iteration.")
PREFIX_TIP = ("The prefix for the file to save. This may include formatting "
              "information such as %date:yyyy-MM-dd% or %Empty Latent "
              "Image.width% to include values from nodes.")


def v1(name, display, category, module, required, returns, hidden=None,
       output_node=False, description="", optional=None, names=None):
    inp = {"required": required}
    if optional:
        inp["optional"] = optional
    if hidden:
        inp["hidden"] = hidden
    return {
        "input": inp,
        "input_order": {k: list(v.keys()) for k, v in inp.items()},
        "output": list(returns),
        "output_is_list": [False] * len(returns),
        "output_name": list(names) if names else list(returns),
        "name": name,
        "display_name": display if display else name,
        "description": description,
        "python_module": module,
        "category": category,
        "output_node": output_node,
    }


def v3(name, display, category, module, required, returns, is_list=False):
    inp = {"required": required}
    return {
        "input": inp,
        "input_order": {k: list(v.keys()) for k, v in inp.items()},
        "output": list(returns),
        "output_is_list": [is_list] * len(returns),
        "output_name": list(returns),
        "output_tooltips": [None] * len(returns),
        "name": name,
        "display_name": display,
        "description": "",
        "python_module": module,
        "category": category,
        "output_node": False,
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    }


def integer(default, lo, hi, step=None, **extra):
    d = {"default": default, "min": lo, "max": hi}
    if step is not None:
        d["step"] = step
    d.update(extra)
    return ("INT", d)


def flt(default, lo, hi, step):
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step})


def v3combo(options):
    return ("COMBO", {"multiselect": False, "options": options})


def v3float(default, lo, hi, step):
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step})


def v3int(default, lo, hi, step):
    return ("INT", {"default": default, "min": lo, "max": hi, "step": step})


IMG = ("IMAGE",)
V3IMG = ("IMAGE", {})
MASK = ("MASK",)
HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
WH = integer(512, 1, MAX, 1)
XY = integer(0, 0, MAX, 1)
PAD = integer(0, 0, MAX, 8)
MASKS = "comfy_extras.nodes_mask"
PP = "comfy_extras.nodes_post_processing"
PRIM = "comfy_extras.nodes_primitive"
IMAGES = "comfy_extras.nodes_images"
SYS_MAXSIZE = sys.maxsize if sys.maxsize == 2**63 - 1 else 2**63 - 1

CLASSES = [
    v1("SaveImage", "Save Image", "image", "nodes",
       {"images": ("IMAGE", {"tooltip": "The images to save."}),
        "filename_prefix": ("STRING", {"default": "ComfyUI",
                                       "tooltip": PREFIX_TIP})},
       [], HIDDEN, True, SAVE_DESC),
    v1("PreviewImage", "Preview Image", "image", "nodes",
       {"images": IMG}, [], HIDDEN, True, SAVE_DESC),
    v1("LoadImage", "Load Image", "image", "nodes",
       {"image": (IMAGE_FILES, {"image_upload": True})}, ["IMAGE", "MASK"]),
    v1("LoadImageMask", "Load Image (as Mask)", "mask", "nodes",
       {"image": (ALL_FILES, {"image_upload": True}),
        "channel": (["alpha", "red", "green", "blue"],)}, ["MASK"]),
    # EXPERIMENTAL = True: server.py appends "experimental": true
    dict(v1("LoadImageOutput", "Load Image (from Outputs)", "image", "nodes",
            {"image": ("COMBO", {
                "image_upload": True, "image_folder": "output",
                "remote": {"route": "/internal/files/output",
                           "refresh_button": True,
                           "control_after_refresh": "first"}})},
            ["IMAGE", "MASK"], description=LOAD_OUTPUT_DESC),
         experimental=True),
    v1("ImageScale", "Upscale Image", "image/upscaling", "nodes",
       {"image": IMG, "upscale_method": (METHODS,),
        "width": integer(512, 0, MAX, 1), "height": integer(512, 0, MAX, 1),
        "crop": (["disabled", "center"],)}, ["IMAGE"]),
    v1("ImageScaleBy", "Upscale Image By", "image/upscaling", "nodes",
       {"image": IMG, "upscale_method": (METHODS,),
        "scale_by": flt(1.0, 0.01, 8.0, 0.01)}, ["IMAGE"]),
    v1("ImageInvert", "Invert Image", "image", "nodes", {"image": IMG},
       ["IMAGE"]),
    v1("ImageBatch", "Batch Images", "image", "nodes",
       {"image1": IMG, "image2": IMG}, ["IMAGE"]),
    v1("ImagePadForOutpaint", "Pad Image for Outpainting", "image", "nodes",
       {"image": IMG, "left": PAD, "top": PAD, "right": PAD, "bottom": PAD,
        "feathering": integer(40, 0, MAX, 1)}, ["IMAGE", "MASK"]),
    v1("EmptyImage", None, "image", "nodes",
       {"width": WH, "height": WH, "batch_size": integer(1, 1, 4096),
        "color": integer(0, 0, 0xFFFFFF, 1, display="color")}, ["IMAGE"]),
    v3("ImageBlend", None, "image/postprocessing", PP,
       {"image1": V3IMG, "image2": V3IMG,
        "blend_factor": v3float(0.5, 0.0, 1.0, 0.01),
        "blend_mode": v3combo(["normal", "multiply", "screen", "overlay",
                               "soft_light", "difference"])}, ["IMAGE"]),
    v3("ImageBlur", None, "image/postprocessing", PP,
       {"image": V3IMG, "blur_radius": v3int(1, 1, 31, 1),
        "sigma": v3float(1.0, 0.1, 10.0, 0.1)}, ["IMAGE"]),
    v3("ImageSharpen", None, "image/postprocessing", PP,
       {"image": V3IMG, "sharpen_radius": v3int(1, 1, 31, 1),
        "sigma": v3float(1.0, 0.1, 10.0, 0.01),
        "alpha": v3float(1.0, 0.0, 5.0, 0.01)}, ["IMAGE"]),
    v3("ImageScaleToTotalPixels", None, "image/upscaling", PP,
       {"image": V3IMG, "upscale_method": v3combo(METHODS),
        "megapixels": v3float(1.0, 0.01, 16.0, 0.01)}, ["IMAGE"]),
    v1("ImageCompositeMasked", None, "image", MASKS,
       {"destination": IMG, "source": IMG, "x": XY, "y": XY,
        "resize_source": ("BOOLEAN", {"default": False})}, ["IMAGE"],
       optional={"mask": MASK}),
    v1("MaskToImage", "Convert Mask to Image", "mask", MASKS, {"mask": MASK},
       ["IMAGE"]),
    v1("ImageToMask", "Convert Image to Mask", "mask", MASKS,
       {"image": IMG, "channel": (["red", "green", "blue", "alpha"],)},
       ["MASK"]),
    v1("ImageColorToMask", None, "mask", MASKS,
       {"image": IMG, "color": integer(0, 0, 0xFFFFFF, 1, display="color")},
       ["MASK"]),
    v1("SolidMask", None, "mask", MASKS,
       {"value": flt(1.0, 0.0, 1.0, 0.01), "width": WH, "height": WH},
       ["MASK"]),
    v1("InvertMask", None, "mask", MASKS, {"mask": MASK}, ["MASK"]),
    v1("CropMask", None, "mask", MASKS,
       {"mask": MASK, "x": XY, "y": XY, "width": WH, "height": WH}, ["MASK"]),
    v1("MaskComposite", None, "mask", MASKS,
       {"destination": MASK, "source": MASK, "x": XY, "y": XY,
        "operation": (["multiply", "add", "subtract", "and", "or", "xor"],)},
       ["MASK"]),
    v1("FeatherMask", None, "mask", MASKS,
       {"mask": MASK, "left": XY, "top": XY, "right": XY, "bottom": XY},
       ["MASK"]),
    v1("GrowMask", None, "mask", MASKS,
       {"mask": MASK, "expand": integer(0, -MAX, MAX, 1),
        "tapered_corners": ("BOOLEAN", {"default": True})}, ["MASK"]),
    v1("ThresholdMask", None, "mask", MASKS,
       {"mask": MASK, "value": flt(0.5, 0.0, 1.0, 0.01)}, ["MASK"]),
    v1("MaskPreview", None, "mask", MASKS, {"mask": MASK}, [], HIDDEN, True,
       SAVE_DESC),
    v3("RebatchImages", "Rebatch Images", "image/batch",
       "comfy_extras.nodes_rebatch",
       {"images": V3IMG, "batch_size": ("INT", {"default": 1, "min": 1,
                                                "max": 4096})},
       ["IMAGE"], is_list=True),
    v1("ImageCrop", "Image Crop", "image/transform", IMAGES,
       {"image": IMG, "width": WH, "height": WH, "x": XY, "y": XY},
       ["IMAGE"]),
    v1("RepeatImageBatch", None, "image/batch", IMAGES,
       {"image": IMG, "amount": integer(1, 1, 4096)}, ["IMAGE"]),
    v1("ImageFromBatch", None, "image/batch", IMAGES,
       {"image": IMG, "batch_index": integer(0, 0, 4095),
        "length": integer(1, 1, 4096)}, ["IMAGE"]),
    v1("SaveAnimatedWEBP", None, "image/animation", IMAGES,
       {"images": IMG, "filename_prefix": ("STRING", {"default": "ComfyUI"}),
        "fps": flt(6.0, 0.01, 1000.0, 0.01),
        "lossless": ("BOOLEAN", {"default": True}),
        "quality": integer(80, 0, 100),
        "method": (["default", "fastest", "slowest"],)},
       [], HIDDEN, True),
    v1("SaveAnimatedPNG", None, "image/animation", IMAGES,
       {"images": IMG, "filename_prefix": ("STRING", {"default": "ComfyUI"}),
        "fps": flt(6.0, 0.01, 1000.0, 0.01),
        "compress_level": integer(4, 0, 9)},
       [], HIDDEN, True),
    v1("ImageStitch", None, "image/transform", IMAGES,
       {"image1": IMG,
        "direction": (["right", "down", "left", "up"], {"default": "right"}),
        "match_image_size": ("BOOLEAN", {"default": True}),
        "spacing_width": integer(0, 0, 1024, 2),
        "spacing_color": (["white", "black", "red", "green", "blue"],
                          {"default": "white"})},
       ["IMAGE"], optional={"image2": IMG},
       description="\nStitches image2 to image1 in the specified "
                   "direction.\nIf image2 is not provided, returns image1 "
                   "unchanged.\nOptional spacing can be added between "
                   "images.\n"),
    v1("ResizeAndPadImage", None, "image/transform", IMAGES,
       {"image": IMG, "target_width": WH, "target_height": WH,
        "padding_color": (["white", "black"],),
        "interpolation": (["area", "bicubic", "nearest-exact", "bilinear",
                           "lanczos"],)}, ["IMAGE"]),
    v1("GetImageSize", "Get Image Size", "image", IMAGES, {"image": IMG},
       ["INT", "INT", "INT"], {"unique_id": "UNIQUE_ID"},
       description="Returns width and height of the image, and passes it "
                   "through unchanged.",
       names=["width", "height", "batch_size"]),
    v1("ImageRotate", None, "image/transform", IMAGES,
       {"image": IMG, "rotation": (["none", "90 degrees", "180 degrees",
                                    "270 degrees"],)}, ["IMAGE"]),
    v1("ImageFlip", None, "image/transform", IMAGES,
       {"image": IMG, "flip_method": (["x-axis: vertically",
                                       "y-axis: horizontally"],)}, ["IMAGE"]),
    v1("ImageScaleToMaxDimension", None, "image/upscaling", IMAGES,
       {"image": IMG,
        "upscale_method": (["area", "lanczos", "bilinear", "nearest-exact",
                            "bilinear", "bicubic"],),
        "largest_size": integer(512, 0, MAX, 1)}, ["IMAGE"]),
    v3("PrimitiveString", "String", "utils/primitive", PRIM,
       {"value": ("STRING", {"multiline": False})}, ["STRING"]),
    v3("PrimitiveStringMultiline", "String (Multiline)", "utils/primitive",
       PRIM, {"value": ("STRING", {"multiline": True})}, ["STRING"]),
    v3("PrimitiveInt", "Int", "utils/primitive", PRIM,
       {"value": ("INT", {"min": -SYS_MAXSIZE, "max": SYS_MAXSIZE,
                          "control_after_generate": True})}, ["INT"]),
    v3("PrimitiveFloat", "Float", "utils/primitive", PRIM,
       {"value": ("FLOAT", {"min": -SYS_MAXSIZE, "max": SYS_MAXSIZE})},
       ["FLOAT"]),
    v3("PrimitiveBoolean", "Boolean", "utils/primitive", PRIM,
       {"value": ("BOOLEAN", {})}, ["BOOLEAN"]),
]


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "data", "object_info.txt")
    with open(out, "w") as f:
        for c in CLASSES:
            f.write(c["name"] + "\t" + json.dumps(c) + "\n")


if __name__ == "__main__":
    main()
