#!/usr/bin/env python3
"""Golden vectors for torch's CPU randn, ComfyUI's prepare_noise and the
torchsde Brownian tree (tests/sampling/data/rng_cases.txt).

Run with a real torch (Debian bookworm python3-torch 1.13.1) plus torchsde
0.2.6 in a venv outside the repo:
    /usr/bin/python3 -m venv --system-site-packages /work/venvs/sampling
    /work/venvs/sampling/bin/pip install --no-deps torchsde==0.2.6 trampoline boltons
    /work/venvs/sampling/bin/python tests/sampling/gen/gen_rng.py
Variant C (torch's generic kernel) is recorded by re-running this script in a
child process with ATEN_CPU_CAPABILITY=default.

Line formats (fnv = FNV-1a-64 over the little-endian float32 bytes):
  randn <variant A|C> <seed u64> <sizes a,b,c> <fnv> <hex of the first <=8 values>
  prep <seed> <item_numel> <batch_index a,b,.. | -> <batch> <fnv>
  bt <entropy> <numel> <sigma_min hex> <sigma_max hex> <sigma hex> <sigma_next hex> <fnv> <first 4 hex>
"""
import os
import struct
import subprocess
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "rng_cases.txt")


def fnv(t):
    h = 0xcbf29ce484222325
    for b in t.detach().contiguous().view(-1).numpy().astype("<f4").tobytes():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def hexs(t, k):
    v = t.detach().contiguous().view(-1).numpy().astype("<f4")[:k]
    return ",".join("%08x" % struct.unpack("<I", x.tobytes())[0] for x in v)


SEEDS = [0, 1, 42, 2**32, 2**64 - 1, 123456789, 2**63 + 5]
SIZES = [[1], [2], [15], [16], [17], [31], [32], [33], [3, 20, 1], [5, 5, 5, 7],
         [16384], [16900], [20, 3, 16, 1]]


def randn_lines(variant):
    lines = []
    for s in SEEDS:
        for sizes in SIZES:
            g = torch.Generator().manual_seed(s)
            outs = [torch.randn(n, generator=g) for n in sizes]
            allv = torch.cat(outs)
            lines.append("randn %s %d %s %s %s" % (variant, s, ",".join(map(str, sizes)),
                                                   fnv(allv), hexs(allv, 8)))
    return lines


def prepare_noise(shape, seed, noise_inds=None):
    # ComfyUI comfy/sample.py prepare_noise, as of the commit named in the report
    generator = torch.manual_seed(seed)
    if noise_inds is None:
        return torch.randn(shape, dtype=torch.float32, generator=generator, device="cpu")
    unique_inds, inverse = np.unique(noise_inds, return_inverse=True)
    noises = []
    for i in range(unique_inds[-1] + 1):
        noise = torch.randn([1] + list(shape)[1:], dtype=torch.float32, generator=generator, device="cpu")
        if i in unique_inds:
            noises.append(noise)
    noises = [noises[i] for i in inverse]
    return torch.cat(noises, axis=0)


def prep_lines():
    lines = []
    for seed, shape, inds in [(0, (2, 4, 8, 8), None), (7, (3, 4, 5, 5), None),
                              (7, (3, 4, 5, 5), [2, 0, 2]), (99, (2, 4, 6, 6), [1, 3]),
                              (2**64 - 1, (1, 1, 3, 3), [4])]:
        n = prepare_noise(shape, seed, inds)
        item = int(np.prod(shape[1:]))
        lines.append("prep %d %d %s %d %s" % (seed, item, "-" if inds is None else ",".join(map(str, inds)),
                                             n.shape[0], fnv(n)))
    return lines


def f32hex(v):
    return "%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0]


def bt_lines():
    sys.path.insert(0, "/work/venvs/sampling-ref")
    import torchsde

    lines = []
    cases = [
        (0, (1, 4, 8, 8), [14.614642, 7.0, 3.5, 1.2, 0.5, 0.2, 0.0291675]),
        (12345, (1, 4, 8, 8), [14.614642, 10.0, 2.0, 0.0291675]),
        (2**63 + 7, (2, 4, 5, 3), [14.614642, 6.1, 6.0, 0.9, 0.0291675]),
        (2**64 - 1, (1, 4, 4, 4), [9.0, 4.25, 0.3, 0.07]),
        (5, (3, 5), [1.0, 0.5, 0.25, 0.125]),
    ]
    for entropy, shape, sig in cases:
        sig = torch.tensor(sig, dtype=torch.float32)
        x = torch.zeros(shape)
        smin, smax = sig[sig > 0].min(), sig.max()
        t0, t1 = (smin, smax) if smin < smax else (smax, smin)
        tree = torchsde.BrownianTree(t0.cpu(), torch.zeros_like(x), t1.cpu(), entropy=entropy,
                                     tol=1e-6, pool_size=24)
        for i in range(len(sig) - 1):
            a, b = sig[i], sig[i + 1]
            lo, hi, s = (a, b, 1) if a < b else (b, a, -1)
            w = tree(lo.float(), hi.float()) * s
            noise = w / (b - a).abs().sqrt()
            lines.append("bt %d %d %s %s %s %s %s %s" % (
                entropy, x.numel(), f32hex(smin), f32hex(smax), f32hex(a), f32hex(b),
                fnv(noise), hexs(noise, 4)))
    return lines


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--variant-c":
        print("\n".join(randn_lines("C")))
        return
    lines = randn_lines("A")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    c = subprocess.run([sys.executable, __file__, "--variant-c"], env=env, check=True,
                       capture_output=True, text=True).stdout.strip().split("\n")
    lines += c
    lines += prep_lines()
    lines += bt_lines()
    with open(OUT, "w") as f:
        f.write("# generated by tests/sampling/gen/gen_rng.py with torch %s\n" % torch.__version__)
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
