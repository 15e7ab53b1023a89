"""The inpainting cases shared by inpaint_ref.py (ComfyUI) and
tests/diffusion/test_inpaint.py (comfyd): API-format graphs over the small
SD1.5 and SDXL inpainting checkpoints (`comfyd-mkcheckpoint --arch sd15|sdxl
--width small --inpaint --seed 0`, named CKPTS here), each ending in
VAEDecode + SaveImage of a KSampler latent.  The input pictures are RGBA PNGs whose alpha marks
the region to repaint (LoadImage's MASK is 1 - alpha): "inpaint-64.png"
(64x64) and "inpaint-odd.png" (76 wide, 68 high: InpaintModelConditioning
crops it to 72x64)."""
import struct
import zlib

CKPT = "inpaint-sd15.safetensors"
CKPT_XL = "inpaint-sdxl.safetensors"
CKPTS = {CKPT: "sd15", CKPT_XL: "sdxl"}


def make_input(w, h):
    """A deterministic RGBA PNG: smooth colours, a checker, and an alpha
    hole (0 inside a rectangle, a soft ramp at its left and top edges)."""
    rows = []
    for y in range(h):
        row = bytearray([0])
        for x in range(w):
            r = (x * 7 + y * 3) % 256
            g = (y * 5 + (x // 8) * 30) % 256
            b = 230 if (x // 6 + y // 6) % 2 else (x * y * 3) % 256
            a = 255
            x0, y0, x1, y1 = w // 4, h // 3, (3 * w) // 4, (5 * h) // 6
            if x0 - 6 <= x < x1 and y0 - 6 <= y < y1:
                a = max(0, min(255, 255 - 40 * min(x - x0 + 6, y - y0 + 6)))
            row += bytes([r, g, b, a])
        rows.append(bytes(row))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


INPUTS = {"inpaint-64.png": (64, 64), "inpaint-odd.png": (76, 68)}


def _base(image="inpaint-64.png", ckpt=CKPT):
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "LoadImage", "inputs": {"image": image}},
        "3": {"class_type": "CLIPTextEncode",
              "inputs": {"text": "a photo of a cat", "clip": ["1", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    }


def _sample(g, pos, neg, latent, sampler="euler", scheduler="normal", steps=3, cfg=6.0,
            seed=3, denoise=1.0):
    g["10"] = {"class_type": "KSampler",
               "inputs": {"model": ["1", 0], "seed": seed, "steps": steps, "cfg": cfg,
                          "sampler_name": sampler, "scheduler": scheduler, "positive": pos,
                          "negative": neg, "latent_image": latent, "denoise": denoise}}
    g["90"] = {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["1", 2]}}
    g["91"] = {"class_type": "SaveImage", "inputs": {"images": ["90", 0],
                                                     "filename_prefix": "inpaint"}}
    return g


def _imc(g, noise_mask):
    g["5"] = {"class_type": "InpaintModelConditioning",
              "inputs": {"positive": ["3", 0], "negative": ["4", 0], "vae": ["1", 2],
                         "pixels": ["2", 0], "mask": ["2", 1], "noise_mask": noise_mask}}
    return g


def cases():
    out = {}
    # (a) VAEEncodeForInpaint: the sampler's latent and noise mask feed c_concat.
    g = _base()
    g["5"] = {"class_type": "VAEEncodeForInpaint",
              "inputs": {"pixels": ["2", 0], "vae": ["1", 2], "mask": ["2", 1],
                         "grow_mask_by": 6}}
    out["encode_for_inpaint"] = _sample(g, ["3", 0], ["4", 0], ["5", 0])
    # (b) InpaintModelConditioning with and without the noise mask.
    g = _imc(_base(), True)
    out["imc_noise_mask"] = _sample(g, ["5", 0], ["5", 1], ["5", 2], sampler="ddim",
                                    scheduler="normal")
    g = _imc(_base(), False)
    out["imc_no_noise_mask"] = _sample(g, ["5", 0], ["5", 1], ["5", 2], sampler="dpmpp_2m",
                                       scheduler="karras", denoise=0.8)
    # An image InpaintModelConditioning crops (76x68 -> 72x64, latent 9x8).
    g = _imc(_base("inpaint-odd.png"), True)
    out["imc_odd_size"] = _sample(g, ["5", 0], ["5", 1], ["5", 2], steps=2)
    # An area entry: c_concat cropped to the area with the latent.
    g = _imc(_base(), True)
    g["6"] = {"class_type": "ConditioningSetAreaPercentage",
              "inputs": {"conditioning": ["5", 0], "width": 0.5, "height": 0.625, "x": 0.25,
                         "y": 0.125, "strength": 0.8}}
    g["7"] = {"class_type": "ConditioningCombine",
              "inputs": {"conditioning_1": ["5", 0], "conditioning_2": ["6", 0]}}
    out["imc_area"] = _sample(g, ["7", 0], ["5", 1], ["5", 2], steps=2)
    # No mask anywhere: c_concat is ones and the grey "blank" latent.
    g = _base()
    g["5"] = {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    out["no_mask"] = _sample(g, ["3", 0], ["4", 0], ["5", 0], steps=2)
    # A batch of 2 pictures with one mask: concat_mask batch-resized.
    g = _imc(_base(), True)
    g["6"] = {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["2", 0]}}
    g["5"]["inputs"]["pixels"] = ["6", 0]
    out["imc_batch2"] = _sample(g, ["5", 0], ["5", 1], ["5", 2], steps=2)
    # Conditioning made for 2 pictures and masks [m, 1 - m] sampled on a
    # latent of 1 x 10 x 6: concat_mask and concat_latent_image center-cropped,
    # resized and cut to the latent's batch (the first of each).
    g = _imc(_base(), True)
    g["6"] = {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["2", 0]}}
    g["7"] = {"class_type": "InvertMask", "inputs": {"mask": ["2", 1]}}
    g["8"] = {"class_type": "MaskToImage", "inputs": {"mask": ["2", 1]}}
    g["9"] = {"class_type": "MaskToImage", "inputs": {"mask": ["7", 0]}}
    g["11"] = {"class_type": "ImageBatch", "inputs": {"image1": ["8", 0], "image2": ["9", 0]}}
    g["12"] = {"class_type": "ImageToMask", "inputs": {"image": ["11", 0], "channel": "red"}}
    g["13"] = {"class_type": "EmptyLatentImage",
               "inputs": {"width": 80, "height": 48, "batch_size": 1}}
    g["5"]["inputs"]["pixels"] = ["6", 0]
    g["5"]["inputs"]["mask"] = ["12", 0]
    out["imc_other_latent"] = _sample(g, ["5", 0], ["5", 1], ["13", 0], steps=2)
    # SDXL (ADM vectors, its latent scale in process_in).
    g = _imc(_base(ckpt=CKPT_XL), True)
    out["sdxl_imc_noise_mask"] = _sample(g, ["5", 0], ["5", 1], ["5", 2], steps=2)
    g = _base(ckpt=CKPT_XL)
    g["5"] = {"class_type": "VAEEncodeForInpaint",
              "inputs": {"pixels": ["2", 0], "vae": ["1", 2], "mask": ["2", 1],
                         "grow_mask_by": 0}}
    out["sdxl_encode_for_inpaint"] = _sample(g, ["3", 0], ["4", 0], ["5", 0], steps=2,
                                             sampler="euler_ancestral")
    return out
