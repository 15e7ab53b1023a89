"""The latent-node parity cases shared by node_ops_ref.py (ComfyUI) and
tests/blackbox/test_diffusion_nodes.py (comfyd): API-format graphs over a
pixel_space VAE, whose latent is the picture itself (2x - 1, channels
first), so every latent node's result is visible as a PNG.  "input.png" is
the uploaded 24x16 test picture (make_input() writes it)."""
import struct
import zlib


def make_input():
    """A deterministic 24x16 RGB PNG with smooth and sharp structure."""
    w, h = 24, 16
    rows = []
    for y in range(h):
        row = bytearray([0])
        for x in range(w):
            r = (x * 11 + y * 3) % 256
            g = (y * 17 + (x // 4) * 40) % 256
            b = 255 if (x // 3 + y // 3) % 2 else (x * y * 5) % 256
            row += bytes([r, g, b])
        rows.append(bytes(row))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def _base():
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "input.png"}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
        "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["2", 0]}},
    }


def _out(g, latent):
    g["90"] = {"class_type": "VAEDecode", "inputs": {"samples": latent, "vae": ["2", 0]}}
    g["91"] = {"class_type": "SaveImage", "inputs": {"images": ["90", 0],
                                                     "filename_prefix": "ops"}}
    return g


def cases():
    out = {}
    for m in ("nearest-exact", "bilinear", "area", "bicubic", "bislerp"):
        g = _base()
        g["4"] = {"class_type": "LatentUpscaleBy",
                  "inputs": {"samples": ["3", 0], "upscale_method": m, "scale_by": 1.5}}
        out["upscale_by_" + m] = _out(g, ["4", 0])
        g = _base()
        g["4"] = {"class_type": "LatentUpscale",
                  "inputs": {"samples": ["3", 0], "upscale_method": m, "width": 64,
                             "height": 128, "crop": "center"}}
        out["upscale_crop_" + m] = _out(g, ["4", 0])
    g = _base()
    g["4"] = {"class_type": "LatentRotate", "inputs": {"samples": ["3", 0],
                                                       "rotation": "90 degrees"}}
    g["5"] = {"class_type": "LatentBlend", "inputs": {"samples1": ["3", 0], "samples2": ["4", 0],
                                                      "blend_factor": 0.3}}
    out["rotate_blend"] = _out(g, ["5", 0])
    g = _base()
    g["4"] = {"class_type": "LatentFlip", "inputs": {"samples": ["3", 0],
                                                     "flip_method": "x-axis: vertically"}}
    g["5"] = {"class_type": "LatentComposite",
              "inputs": {"samples_to": ["3", 0], "samples_from": ["4", 0], "x": 64, "y": 32,
                         "feather": 16}}
    out["flip_composite_feather"] = _out(g, ["5", 0])
    g = _base()
    g["4"] = {"class_type": "LatentFlip", "inputs": {"samples": ["3", 0],
                                                     "flip_method": "y-axis: horizontally"}}
    g["5"] = {"class_type": "LatentRotate", "inputs": {"samples": ["4", 0],
                                                       "rotation": "270 degrees"}}
    g["6"] = {"class_type": "LatentCrop", "inputs": {"samples": ["5", 0], "width": 64,
                                                     "height": 64, "x": 8, "y": 40}}
    out["flip_rotate_crop"] = _out(g, ["6", 0])
    g = _base()
    g["4"] = {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["3", 0], "amount": 3}}
    g["5"] = {"class_type": "LatentFromBatch", "inputs": {"samples": ["4", 0],
                                                          "batch_index": 1, "length": 2}}
    g["6"] = {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["5", 0],
                                                          "upscale_method": "bislerp",
                                                          "scale_by": 0.5}}
    out["batch_ops"] = _out(g, ["6", 0])
    g = _base()
    g["4"] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 24, "height": 16}}
    g["5"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 9, "height": 7}}
    g["6"] = {"class_type": "MaskComposite",
              "inputs": {"destination": ["4", 0], "source": ["5", 0], "x": 5, "y": 4,
                         "operation": "add"}}
    g["7"] = {"class_type": "VAEEncodeForInpaint",
              "inputs": {"pixels": ["1", 0], "vae": ["2", 0], "mask": ["6", 0],
                         "grow_mask_by": 6}}
    out["encode_for_inpaint"] = _out(g, ["7", 0])
    return out
