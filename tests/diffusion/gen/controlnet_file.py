"""Makes the test ControlNet for a small generated SD checkpoint, with the
standard library only (the comfyd tests and gen/controlnet_ref.py both call
it, so the file is never committed):

    python3 controlnet_file.py CKPT OUT [--plain | --diffusers | --difference] [--f32]

The trunk (time_embed, label_emb, input_blocks, middle_block) is the
checkpoint's UNet encoder with each value scaled by 1 + 0.2 (u - 0.5) (as a
trained ControlNet starts as a copy of its UNet); the hint block's 8
convolutions (3 -> 16, 16, 32, 32, 96, 96, 256 -> model_channels) are
uniform with variance 1 / fan_in, the zero convs (one per input block,
middle_block_out) uniform with 0.3 of that (a trained ControlNet's are no
longer zero), biases uniform in +-0.05; u comes from random.Random(1234) in
the file's key order.  Keys carry "control_model." (the original release's
layout) or, with --plain, no prefix (ComfyUI's pruned files); --diffusers
writes the same weights under diffusers' ControlNetModel names (conv_in,
time_embedding, down_blocks, mid_block, controlnet_cond_embedding,
controlnet_down_blocks, controlnet_mid_block); --difference writes a
"difference" ControlNet (DiffControlNetLoader's): each trunk tensor as the
f16 ControlNet value minus the checkpoint's, and a "difference" key.
Weights are f16 unless --f32."""
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


RES = [("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."), ("emb_layers.1.", "time_emb_proj."),
       ("out_layers.0.", "norm2."), ("out_layers.3.", "conv2."),
       ("skip_connection.", "conv_shortcut.")]


def diffusers_names(t):
    """LDM name -> diffusers ControlNetModel name for the tensors of t."""
    names = {}
    n_hint = sum(1 for k in t if k.startswith("input_hint_block.") and k.endswith(".weight"))
    # input block index -> (level, kind, index), walking the levels
    blocks, level, r = {}, 0, 0
    i = 1
    while any(k.startswith("input_blocks.%d." % i) for k in t):
        if "input_blocks.%d.0.op.weight" % i in t:
            blocks[i] = (level, "down", 0)
            level, r = level + 1, 0
        else:
            blocks[i] = (level, "res", r)
            r += 1
        i += 1

    def res(rest):
        for a, b in RES:
            if rest.startswith(a):
                return b + rest[len(a):]
        raise KeyError(rest)
    for k in t:
        p = k.split(".")
        if k.startswith("time_embed."):
            n = "time_embedding.linear_%d.%s" % (1 if p[1] == "0" else 2, p[2])
        elif k.startswith("label_emb.0."):
            n = "add_embedding.linear_%d.%s" % (1 if p[2] == "0" else 2, p[3])
        elif k.startswith("input_blocks.0.0."):
            n = "conv_in." + p[3]
        elif k.startswith("input_blocks."):
            lv, kind, idx = blocks[int(p[1])]
            rest = ".".join(p[3:])
            if kind == "down":
                n = "down_blocks.%d.downsamplers.0.conv.%s" % (lv, p[-1])
            elif p[2] == "0":
                n = "down_blocks.%d.resnets.%d.%s" % (lv, idx, res(rest))
            else:
                n = "down_blocks.%d.attentions.%d.%s" % (lv, idx, rest)
        elif k.startswith("middle_block."):
            rest = ".".join(p[2:])
            if p[1] == "1" and "middle_block.1.proj_in.weight" in t:
                n = "mid_block.attentions.0." + rest
            else:
                n = "mid_block.resnets.%d.%s" % (0 if p[1] == "0" else 1, res(rest))
        elif k.startswith("input_hint_block."):
            j = int(p[1]) // 2
            n = ("controlnet_cond_embedding.conv_in." if j == 0 else
                 "controlnet_cond_embedding.conv_out." if j == n_hint - 1 else
                 "controlnet_cond_embedding.blocks.%d." % (j - 1)) + p[2]
        elif k.startswith("zero_convs."):
            n = "controlnet_down_blocks.%s.%s" % (p[1], p[3])
        elif k.startswith("middle_block_out.0."):
            n = "controlnet_mid_block." + p[2]
        else:
            raise KeyError(k)
        names[k] = n
    return names


def make(ckpt, out, plain=False, f32=False, diffusers=False, difference=False):
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

    if difference:
        for k in list(t):
            if P + k in src:
                shape, vals = t[k]
                r16 = struct.unpack("<%de" % len(vals), struct.pack("<%de" % len(vals), *vals))
                t[k] = (shape, [a - b for a, b in zip(r16, src[P + k][1])])
        t["difference"] = ([1], [0.0])
    pre = "" if plain or diffusers else "control_model."
    if diffusers:
        dn = diffusers_names(t)
        t = {dn[k]: v for k, v in t.items()}
        # diffusers keeps the zero convs and the 1x1 projections as convs,
        # linear layers as [out, in]; the shapes are the LDM ones already
    header, blobs, off = {}, [], 0
    for k in sorted(t):
        shape, vals = t[k]
        raw = struct.pack("<%de" % len(vals), *vals)
        name = k if k == "difference" else pre + k
        if f32:  # the same values as the f16 file, widened
            raw = struct.pack("<%df" % len(vals), *struct.unpack("<%de" % len(vals), raw))
        header[name] = {"dtype": "F32" if f32 else "F16", "shape": shape,
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
    make(args[0], args[1], plain="--plain" in sys.argv, f32="--f32" in sys.argv,
         diffusers="--diffusers" in sys.argv, difference="--difference" in sys.argv)
