"""Deterministic random TAESD weights with ComfyUI's key names (the
nn.Sequential indices of comfy/taesd/taesd.py's Encoder / Decoder), written
as f32 .safetensors with the standard library only (the tests run it with
the system python; gen/taesd_ref.py imports it for the reference).

    python3 taesd_weights.py OUT_DIR [PREFIX [SEED [LATENT_CHANNELS]]]

writes OUT_DIR/PREFIX_encoder.safetensors and OUT_DIR/PREFIX_decoder.safetensors
(PREFIX "taesd" by default).  Weights: uniform in ±1.2/sqrt(fan_in) from a
32-bit LCG, biases uniform in ±0.1; the decoder's last bias is +0.5 so the
output sits around mid grey.
"""
import json
import struct
import sys

W = 64
LAT = 4


def _conv(name, cin, cout, bias):
    out = [(name + ".weight", [cout, cin, 3, 3])]
    if bias:
        out.append((name + ".bias", [cout]))
    return out


def _block(i):
    out = []
    for j in (0, 2, 4):
        out += _conv("%d.conv.%d" % (i, j), W, W, True)
    return out


def decoder_keys(lat=LAT):
    k = _conv("1", lat, W, True)
    for i in (3, 4, 5):
        k += _block(i)
    k += _conv("7", W, W, False)
    for i in (8, 9, 10):
        k += _block(i)
    k += _conv("12", W, W, False)
    for i in (13, 14, 15):
        k += _block(i)
    k += _conv("17", W, W, False)
    k += _block(18)
    k += _conv("19", W, 3, True)
    return k


def encoder_keys(lat=LAT):
    k = _conv("0", 3, W, True) + _block(1)
    for s, blocks in ((2, (3, 4, 5)), (6, (7, 8, 9)), (10, (11, 12, 13))):
        k += _conv(str(s), W, W, False)
        for i in blocks:
            k += _block(i)
    k += _conv("14", W, lat, True)
    return k


def make(keys, seed, last_bias=None):
    """{name: (shape, list of floats)} in key order."""
    x = seed & 0xFFFFFFFF
    out = {}
    for name, shape in keys:
        n = 1
        for d in shape:
            n *= d
        if name.endswith(".weight"):
            a = 1.2 / (shape[1] * shape[2] * shape[3]) ** 0.5
        else:
            a = 0.1
        vals = []
        for _ in range(n):
            x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
            vals.append(((x >> 8) / 16777216.0 * 2.0 - 1.0) * a)
        if last_bias is not None and name == last_bias:
            vals = [v + 0.5 for v in vals]
        out[name] = (shape, vals)
    return out


def write_safetensors(path, tensors):
    header = {}
    off = 0
    blobs = []
    for name, (shape, vals) in tensors.items():
        b = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_pair(out_dir, prefix="taesd", seed=1, lat=LAT):
    enc = make(encoder_keys(lat), seed)
    dec = make(decoder_keys(lat), seed + 1, last_bias="19.bias")
    write_safetensors("%s/%s_encoder.safetensors" % (out_dir, prefix), enc)
    write_safetensors("%s/%s_decoder.safetensors" % (out_dir, prefix), dec)


if __name__ == "__main__":
    a = sys.argv[1:]
    write_pair(a[0], a[1] if len(a) > 1 else "taesd", int(a[2]) if len(a) > 2 else 1,
               int(a[3]) if len(a) > 3 else LAT)
