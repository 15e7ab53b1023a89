#!/usr/bin/env python3
"""Writes the golden outputs tests/core/test_pixels.c compares against.

Run from a venv outside the repo with torch (Debian python3-torch), numpy,
Pillow and scipy, e.g.
    /usr/bin/python3 -m venv --system-site-packages /work/venvs/core
    /work/venvs/core/bin/python tests/core/gen/make_goldens.py
Each golden is raw little-endian float32 (.f32) or uint8 (.u8), channels
last, named after what produced it.  The inputs are the formulas below,
which test_pixels.c reproduces.
"""
import os
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
import scipy.ndimage

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def test_image(b, h, w, c):
    """[b, h, w, c] float32: ((x*7 + y*13 + ch*29 + n*3) % 17) / 16."""
    n, y, x, ch = np.meshgrid(np.arange(b), np.arange(h), np.arange(w),
                              np.arange(c), indexing="ij")
    return (((x * 7 + y * 13 + ch * 29 + n * 3) % 17) / 16.0).astype(np.float32)


def save(name, arr):
    arr = np.ascontiguousarray(arr)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(arr.astype("<f4" if arr.dtype == np.float32 else np.uint8).tobytes())


def torch_resize(img, oh, ow, mode):
    t = torch.from_numpy(img).movedim(-1, 1)
    return F.interpolate(t, size=(oh, ow), mode=mode).movedim(1, -1).numpy()


def pil_lanczos(img, oh, ow):
    out = []
    for im in img:
        u8 = np.clip(255.0 * im, 0, 255).astype(np.uint8)
        pil = Image.fromarray(u8 if u8.shape[-1] != 1 else u8[..., 0])
        out.append(np.array(pil.resize((ow, oh), resample=Image.LANCZOS)))
    return np.stack(out).astype(np.uint8)


def center_crop(img, oh, ow):
    """The crop common_upscale takes before resizing (spec 14.4)."""
    h, w = img.shape[1], img.shape[2]
    a_old, a_new = w / h, ow / oh
    x = y = 0
    if a_old > a_new:
        x = round((w - w * (a_new / a_old)) / 2)
    elif a_old < a_new:
        y = round((h - h * (a_old / a_new)) / 2)
    return img[:, y:h - y, x:w - x, :]


def gaussian(k, sigma):
    lin = torch.linspace(-1, 1, k)
    u, v = torch.meshgrid(lin, lin, indexing="ij")
    d = torch.sqrt(u * u + v * v)
    g = torch.exp(-(d * d) / (2.0 * sigma * sigma))
    return g / g.sum()


def conv_reflect(img, kernel, r):
    t = torch.from_numpy(img).permute(0, 3, 1, 2)
    c = t.shape[1]
    k = kernel.repeat(c, 1, 1).unsqueeze(1)
    p = F.pad(t, (r, r, r, r), "reflect")
    return F.conv2d(p, k, groups=c).permute(0, 2, 3, 1).numpy()


def flat_image(*shape):
    """test_nodes.c's vtensor(): element i is (i % 17) / 16."""
    n = int(np.prod(shape))
    return ((np.arange(n) % 17) / 16.0).astype(np.float32).reshape(shape)


def composite(dst, src, x, y, mask, resize):
    """ImageCompositeMasked (multiplier 1) restated on [B, C, H, W]."""
    dst = dst.clone()
    if resize:
        src = F.interpolate(src, size=(dst.shape[2], dst.shape[3]),
                            mode="bilinear")
    reps = -(-dst.shape[0] // src.shape[0])
    src = src.repeat(reps, 1, 1, 1)[:dst.shape[0]]
    x = max(-src.shape[3], min(x, dst.shape[3]))
    y = max(-src.shape[2], min(y, dst.shape[2]))
    right, bottom = x + src.shape[3], y + src.shape[2]
    if mask is None:
        mask = torch.ones_like(src)
    else:
        mask = F.interpolate(mask.reshape(-1, 1, mask.shape[-2],
                                          mask.shape[-1]),
                             size=(src.shape[2], src.shape[3]),
                             mode="bilinear")
        reps = -(-src.shape[0] // mask.shape[0])
        mask = mask.repeat(reps, 1, 1, 1)[:src.shape[0]]
    vw, vh = dst.shape[3] - x, dst.shape[2] - y
    mask = mask[:, :, :vh, :vw]
    part = mask * src[:, :, :vh, :vw] + (1 - mask) * dst[:, :, y:bottom,
                                                         x:right]
    dst[:, :, y:bottom, x:right] = part
    return dst


def main():
    os.makedirs(OUT, exist_ok=True)
    img = test_image(2, 5, 7, 3)
    for mode in ["nearest-exact", "bilinear", "area", "bicubic"]:
        for oh, ow in [(9, 11), (3, 4), (5, 3)]:
            save(f"resize_{mode}_{oh}x{ow}.f32", torch_resize(img, oh, ow, mode))
        crop = center_crop(img, 4, 4)
        save(f"upscale_center_{mode}_4x4.f32", torch_resize(crop, 4, 4, mode))
    big = test_image(1, 23, 19, 3)
    for mode in ["nearest-exact", "bilinear", "area", "bicubic"]:
        for oh, ow in [(7, 40), (29, 21)]:
            save(f"resize_big_{mode}_{oh}x{ow}.f32",
                 torch_resize(big, oh, ow, mode))
    for oh, ow in [(9, 11), (40, 31), (23, 7)]:
        save(f"lanczos_{oh}x{ow}.u8", pil_lanczos(big, oh, ow))
    rgba = test_image(1, 6, 5, 4)
    save("lanczos_rgba_9x4.u8", pil_lanczos(rgba, 9, 4))

    blur = conv_reflect(test_image(1, 6, 7, 3), gaussian(5, 1.5), 2)
    save("blur_r2_s1.5.f32", blur)
    k = gaussian(3, 1.0) * -(0.7 * 10)
    k[1, 1] = k[1, 1] - k.sum() + 1.0
    sharp = np.clip(conv_reflect(test_image(1, 6, 7, 3), k, 1), 0, 1)
    save("sharpen_r1_s1_a0.7.f32", sharp)

    big = test_image(1, 23, 19, 3)
    save("blur_big_r9_s2.5.f32", conv_reflect(big, gaussian(19, 2.5), 9))
    k = gaussian(11, 0.8) * -(2.0 * 10)
    k[5, 5] = k[5, 5] - k.sum() + 1.0
    save("sharpen_big_r5_s0.8_a2.f32", np.clip(conv_reflect(big, k, 5), 0, 1))

    d = torch.from_numpy(flat_image(2, 6, 7, 3)).movedim(-1, 1)
    src = torch.from_numpy(flat_image(1, 3, 4, 3)).movedim(-1, 1)
    msk = torch.from_numpy(flat_image(1, 5, 5))
    for name, args in [("composite_plain", (2, 1, None, False)),
                       ("composite_mask", (5, 4, msk, False)),
                       ("composite_resize", (1, 2, msk, True))]:
        save(name + ".f32", composite(d, src, *args).movedim(1, -1).numpy())
    r = torch.from_numpy(flat_image(2, 3, 5, 3))
    for k in (1, 2, 3):
        save(f"rot90_{k}.f32", torch.rot90(r, k=k, dims=[2, 1]).numpy())

    m = test_image(1, 6, 7, 1)[0, :, :, 0]
    plus = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    full = np.ones((3, 3), dtype=int)
    for name, fp in [("tapered", plus), ("full", full)]:
        d = m.copy()
        for _ in range(2):
            d = scipy.ndimage.grey_dilation(d, footprint=fp)
        save(f"grow_{name}_+2.f32", d.astype(np.float32))
        e = scipy.ndimage.grey_erosion(m, footprint=fp)
        save(f"grow_{name}_-1.f32", e.astype(np.float32))


if __name__ == "__main__":
    main()
