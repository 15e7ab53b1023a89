"""Makes the test ControlNet for a small generated SD checkpoint, with the
standard library only (the comfyd tests and gen/controlnet_ref.py both call
it, so the file is never committed):

    python3 controlnet_file.py CKPT OUT [--plain] [--f32]

The trunk (time_embed, label_emb, input_blocks, middle_block) is the
checkpoint's UNet encoder with each value scaled by 1 + 0.2 (u - 0.5) (as a
trained ControlNet starts as a copy of its UNet); the hint block's 8
convolutions (3 -> 16, 16, 32, 32, 96, 96, 256 -> model_channels) are
uniform with variance 1 / fan_in, the zero convs (one per input block,
middle_block_out) uniform with 0.3 of that (a trained ControlNet's are no
longer zero), biases uniform in +-0.05; u comes from random.Random(1234) in
the file's key order.  Keys carry "control_model." (the original release's
layout) or, with --plain, no prefix (ComfyUI's pruned files).  Weights are
f16 unless --f32."""
import json
import os
import math
import random
import struct
import sys

P = "model.diffusion_model."
TRUNK = ("time_embed.", "label_emb.", "input_blocks.", "middle_block.")
HINT = [16, 16, 32, 32, 96, 96, 256]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = data[a:b]
        if v["dtype"] == "F16":
            vals = struct.unpack("<%de" % (len(raw) // 2), raw)
        elif v["dtype"] == "F32":
            vals = struct.unpack("<%df" % (len(raw) // 4), raw)
        else:
            continue
        out[k] = (v["shape"], vals)
    return out


def make(ckpt, out, plain=False, f32=False):
    src = read_safetensors(ckpt)
    rng = random.Random(1234)
    t = {}
    for k in sorted(src):
        if k.startswith(P) and k[len(P):].startswith(TRUNK):
            shape, vals = src[k]
            t[k[len(P):]] = (shape, [v * (1.0 + 0.2 * (rng.random() - 0.5)) for v in vals])
    mc = src[P + "input_blocks.0.0.weight"][0][0]

    def uni(n, a):
        return [a * (2.0 * rng.random() - 1.0) for _ in range(n)]

    cin = 3
    for i, cout in enumerate(HINT + [mc]):
        a = math.sqrt(3.0 / (cin * 9))
        t["input_hint_block.%d.weight" % (2 * i)] = ([cout, cin, 3, 3], uni(cout * cin * 9, a))
        t["input_hint_block.%d.bias" % (2 * i)] = ([cout], uni(cout, 0.05))
        cin = cout
    n_in = 0
    while "input_blocks.%d.0.weight" % n_in in t or any(
            k.startswith("input_blocks.%d." % n_in) for k in t):
        n_in += 1
    chans = []
    for i in range(n_in):
        w = (t.get("input_blocks.%d.0.out_layers.3.weight" % i) or
             t.get("input_blocks.%d.0.op.weight" % i) or t["input_blocks.%d.0.weight" % i])
        chans.append(w[0][0])
    chans.append(t["middle_block.2.out_layers.3.weight"][0][0]
                 if "middle_block.2.out_layers.3.weight" in t
                 else t["middle_block.1.out_layers.3.weight"][0][0])
    for i, ch in enumerate(chans):
        name = "zero_convs.%d.0" % i if i < n_in else "middle_block_out.0"
        a = 0.3 * math.sqrt(3.0 / ch)
        t[name + ".weight"] = ([ch, ch, 1, 1], uni(ch * ch, a))
        t[name + ".bias"] = ([ch], uni(ch, 0.05))

    pre = "" if plain else "control_model."
    header, blobs, off = {}, [], 0
    for k in sorted(t):
        shape, vals = t[k]
        raw = struct.pack("<%de" % len(vals), *vals)
        if f32:  # the same values as the f16 file, widened
            raw = struct.pack("<%df" % len(vals), *struct.unpack("<%de" % len(vals), raw))
        header[pre + k] = {"dtype": "F32" if f32 else "F16", "shape": shape,
                           "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(out + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    make(args[0], args[1], plain="--plain" in sys.argv, f32="--f32" in sys.argv)
