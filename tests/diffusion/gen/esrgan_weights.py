"""Deterministic random ESRGAN / RRDBNet upscale models (the key layouts
spandrel's ESRGAN architecture detects) and test images, written with the
standard library only (the tests run it with the system python;
gen/upscale_ref.py imports it for the reference).

    python3 esrgan_weights.py OUT_DIR

writes OUT_DIR/<case>.safetensors for every case of CASES (and
OUT_DIR/prefixed.safetensors: new_x2 with every key under "module.") and
OUT_DIR/<case>.img.f32 (the input image [H, W, 3], f32, values in 0..1).
Weights: uniform in +-1.2/sqrt(fan_in) from a 32-bit LCG, biases uniform in
+-0.1, PReLU slopes 0.25 +- 0.1; the last bias of an RRDBNet is +0.5 so
the output sits around mid grey (and some values fall outside 0..1, where
the per-tile clamp matters; Compact models add their input).
"""
import json
import struct
import sys

GC = 32  # spandrel's RRDB growth channels (fixed)

# name: layout, nf, nb, upconvs, in_nc, plus, image H, W, tile, overlap, seed
CASES = {
    # old layout (model.0 ...), x4, tiled
    "old_x4": dict(layout="old", nf=16, nb=2, up=2, in_nc=3, plus=False,
                   H=24, W=20, tile=12, overlap=4, seed=11),
    # new layout (conv_first / body / conv_body / conv_up1 ...), x2
    "new_x2": dict(layout="new", nf=8, nb=1, up=1, in_nc=3, plus=False,
                   H=21, W=17, tile=10, overlap=3, seed=12),
    # Real-ESRGAN x2 (pixel-unshuffle by 2, 2 upconvs), new layout
    "unshuffle_x2": dict(layout="new", nf=8, nb=1, up=2, in_nc=12, plus=False,
                         H=18, W=15, tile=9, overlap=2, seed=13),
    # ESRGAN+ (conv1x1), old layout, x1
    "plus_x1": dict(layout="old", nf=8, nb=2, up=0, in_nc=3, plus=True,
                    H=13, W=11, tile=8, overlap=4, seed=14),
    # BSRGAN / RealSR layout (RRDB_trunk / trunk_conv / upconvU / HRconv), x4
    "bsrgan_x4": dict(layout="bsr", nf=8, nb=1, up=2, in_nc=3, plus=False,
                      H=10, W=14, tile=8, overlap=2, seed=16),
    # Real-ESRGAN Compact (SRVGGNetCompact: body.N conv / PReLU, pixel
    # shuffle + nearest input), x4 and x3 (nc = body convs)
    "compact_x4": dict(layout="compact", nf=8, nc=2, scale=4, H=11, W=9, tile=6,
                       overlap=2, seed=17),
    "compact_x3": dict(layout="compact", nf=6, nc=1, scale=3, H=7, W=10, tile=5,
                       overlap=2, seed=18),
    # one tile (image fits), old layout x2
    "single_x2": dict(layout="old", nf=8, nb=1, up=1, in_nc=3, plus=False,
                      H=9, W=7, tile=512, overlap=32, seed=15),
}


def _conv(name, cin, cout, k=3, bias=True):
    out = [(name + ".weight", [cout, cin, k, k])]
    if bias:
        out.append((name + ".bias", [cout]))
    return out


def keys(c):
    if c["layout"] == "compact":
        nf, s = c["nf"], c["scale"]
        k = _conv("body.0", 3, nf) + [("body.1.weight", [nf])]
        for i in range(c["nc"]):
            k += _conv("body.%d" % (2 * i + 2), nf, nf) + [("body.%d.weight" % (2 * i + 3), [nf])]
        k += _conv("body.%d" % (2 * c["nc"] + 2), nf, 3 * s * s)
        return k
    nf, nb, up, plus = c["nf"], c["nb"], c["up"], c["plus"]
    in_nc, out_nc = c["in_nc"], 3
    k = []
    if c["layout"] == "old":
        k += _conv("model.0", in_nc, nf)
        for b in range(nb):
            for r in (1, 2, 3):
                base = "model.1.sub.%d.RDB%d" % (b, r)
                if plus:
                    k += _conv(base + ".conv1x1", nf, GC, k=1, bias=False)
                for i in range(5):
                    k += _conv("%s.conv%d.0" % (base, i + 1), nf + i * GC,
                               GC if i < 4 else nf)
        k += _conv("model.1.sub.%d" % nb, nf, nf)
        for u in range(up):
            k += _conv("model.%d" % (3 * (u + 1)), nf, nf)
        k += _conv("model.%d" % (3 * up + 2), nf, nf)
        k += _conv("model.%d" % (3 * up + 4), nf, out_nc)
    elif c["layout"] == "bsr":
        k += _conv("conv_first", in_nc, nf)
        for b in range(nb):
            for r in (1, 2, 3):
                for i in range(5):
                    k += _conv("RRDB_trunk.%d.RDB%d.conv%d" % (b, r, i + 1), nf + i * GC,
                               GC if i < 4 else nf)
        k += _conv("trunk_conv", nf, nf)
        for u in range(up):
            k += _conv("upconv%d" % (u + 1), nf, nf)
        k += _conv("HRconv", nf, nf)
        k += _conv("conv_last", nf, out_nc)
    else:
        k += _conv("conv_first", in_nc, nf)
        for b in range(nb):
            for r in (1, 2, 3):
                for i in range(5):
                    k += _conv("body.%d.rdb%d.conv%d" % (b, r, i + 1), nf + i * GC,
                               GC if i < 4 else nf)
        k += _conv("conv_body", nf, nf)
        for u in range(up):
            k += _conv("conv_up%d" % (u + 1), nf, nf)
        k += _conv("conv_hr", nf, nf)
        k += _conv("conv_last", nf, out_nc)
    return k


def _lcg(x):
    return (x * 1664525 + 1013904223) & 0xFFFFFFFF


def make(c):
    """{name: (shape, list of floats)} in key order."""
    x = c["seed"] & 0xFFFFFFFF
    ks = keys(c)
    last = ks[-1][0]
    out = {}
    for name, shape in ks:
        n = 1
        for d in shape:
            n *= d
        prelu = len(shape) == 1 and name.endswith(".weight")
        if name.endswith(".weight") and not prelu:
            a = 1.2 / (shape[1] * shape[2] * shape[3]) ** 0.5
        else:
            a = 0.1
        vals = []
        for _ in range(n):
            x = _lcg(x)
            vals.append(((x >> 8) / 16777216.0 * 2.0 - 1.0) * a)
        if prelu:  # PReLU slopes around torch's 0.25
            vals = [v + 0.25 for v in vals]
        if name == last and c["layout"] != "compact":
            vals = [v + 0.5 for v in vals]
        out[name] = (shape, vals)
    return out


def image(c):
    """[H, W, 3] floats in 0..1 (a smooth ramp plus noise)."""
    x = (c["seed"] * 7919 + 1) & 0xFFFFFFFF
    H, W = c["H"], c["W"]
    vals = []
    for y in range(H):
        for xx in range(W):
            for ch in range(3):
                x = _lcg(x)
                r = (x >> 8) / 16777216.0
                v = 0.5 * r + 0.5 * ((y / max(H - 1, 1) + xx / max(W - 1, 1) + ch / 3.0) / 3.0)
                vals.append(min(max(v, 0.0), 1.0))
    return vals


# ImageUpscaleWithModel through comfyd: model new_x2 on a W x H RGB PNG
# wider than the node's 512 tile (two tiles)
NODE_IMAGE = dict(model="new_x2", W=520, H=12, seed=21)


def node_image_u8():
    """[H, W, 3] bytes of the PNG the node test loads."""
    c = NODE_IMAGE
    x = c["seed"]
    out = bytearray()
    for y in range(c["H"]):
        for xx in range(c["W"]):
            for ch in range(3):
                x = _lcg(x)
                v = ((x >> 24) // 2) + (xx * 127 // (c["W"] - 1) if ch != 1 else y * 10)
                out.append(min(v, 255))
    return bytes(out)


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


def main():
    out = sys.argv[1]
    for name, c in CASES.items():
        t = make(c)
        write_safetensors("%s/%s.safetensors" % (out, name), t)
        if name == "new_x2":  # the same model under a common "module." prefix
            write_safetensors("%s/prefixed.safetensors" % out,
                              {"module." + k: v for k, v in t.items()})
        img = image(c)
        with open("%s/%s.img.f32" % (out, name), "wb") as f:
            f.write(struct.pack("<%df" % len(img), *img))


if __name__ == "__main__":
    main()


def write_pth(path, tensors, wrap=None):
    """A torch.save zip file (protocol 2 pickle, f32 storages) of the
    tensors, under {wrap: ...} when wrap is given (Real-ESRGAN's
    "params_ema"), written without torch."""
    import zipfile

    def s(x):
        b = x.encode()
        return b"X" + struct.pack("<I", len(b)) + b

    def ints(v):
        return b"(" + b"".join(b"J" + struct.pack("<i", i) for i in v) + b"t"

    p = b"\x80\x02"
    if wrap:
        p += b"}" + s(wrap)
    p += b"}("
    blobs = []
    for i, (name, (shape, vals)) in enumerate(tensors.items()):
        stride, acc = [], 1
        for d in reversed(shape):
            stride.insert(0, acc)
            acc *= d
        p += s(name) + b"ctorch._utils\n_rebuild_tensor_v2\n("
        p += b"(" + s("storage") + b"ctorch\nFloatStorage\n" + s(str(i)) + s("cpu")
        p += b"J" + struct.pack("<i", len(vals)) + b"tQ"
        p += b"J" + struct.pack("<i", 0) + ints(shape) + ints(stride) + b"\x89"
        p += b"ccollections\nOrderedDict\n)R" + b"tR"
        blobs.append((str(i), struct.pack("<%df" % len(vals), *vals)))
    p += b"u"
    if wrap:
        p += b"s"
    p += b"."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", p)
        for k, b in blobs:
            z.writestr("archive/data/" + k, b)
        z.writestr("archive/version", "3\n")
