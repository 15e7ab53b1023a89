#!/usr/bin/env python3
"""Golden values for model sampling and schedulers
(tests/sampling/data/sched_cases.txt), from ComfyUI's own code run on torch.

    COMFYUI_DIR=<ComfyUI checkout> /work/venvs/sampling/bin/python tests/sampling/gen/gen_sched.py

torch.linspace is replaced by the scalar rule current torch uses (see
linspace_scalar_rule); everything else is ComfyUI's code on the real torch.

Line formats (f32 values as hex bit patterns, f64 as %a):
  table <zsnr 0|1> <fnv of sigmas> <fnv of log_sigmas> <hex sigmas[0,1,499,998,999]>
  ts <sigma hex> <timestep int>
  sig <t hex> <sigma hex>
  pts <percent %a> <sigma %a>
  ppf <p %a> <ppf %a>
  sched <name> <steps> <hex,hex,...>
  xsched <poly|vp|laplace|sdturbo|beta<a>,<b>> <n> <param> <hex,...>
  ks <sampler> <scheduler> <steps> <denoise %a> <start|-1> <last|-1> <force 0|1> <hex,...|-|unchanged>
  den <pred eps|v> <sigma hex> <model_out hex> <x hex> <denoised hex>
"""
import os
import struct
import sys

import numpy as np
import scipy.stats
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import comfyshim  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sched_cases.txt")


def h(v):
    return "%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0]


def hl(t):
    return ",".join(h(v) for v in t.reshape(-1).tolist()) if t.numel() else "-"


def fnv(t):
    x = 0xcbf29ce484222325
    for b in t.detach().contiguous().view(-1).float().numpy().astype("<f4").tobytes():
        x ^= b
        x = (x * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % x


_torch_linspace = torch.linspace


def linspace_scalar_rule(start, end, steps, dtype=None, device=None, **kw):
    """torch.linspace as current torch's CPU kernel computes it (the scalar
    rule of shared/spec/nodes-and-models.md 5.10); torch 1.13's vectorised
    kernel rounds some elements differently."""
    dtype = dtype or torch.get_default_dtype()
    f = np.float32 if dtype == torch.float32 else np.float64
    s, e = f(float(start)), f(float(end))
    if steps == 0:
        return torch.zeros(0, dtype=dtype)
    if steps == 1:
        return torch.tensor([s], dtype=dtype)
    step = (e - s) / f(steps - 1)
    half = steps // 2
    vals = [s + step * f(i) if i < half else e - step * f(steps - 1 - i) for i in range(steps)]
    return torch.tensor(np.array(vals, dtype=f), dtype=dtype)


class FakeModel:
    def __init__(self, ms):
        self.ms = ms

    def get_model_object(self, name):
        assert name == "model_sampling"
        return self.ms


def main():
    msm, ks, uni_pc, samplers = comfyshim.load()
    torch.linspace = linspace_scalar_rule
    lines = []
    m = msm.ModelSamplingDiscrete()
    for zsnr in (0, 1):
        mm = msm.ModelSamplingDiscrete(zsnr=bool(zsnr))
        s = mm.sigmas
        lines.append("table %d %s %s %s" % (zsnr, fnv(s), fnv(mm.log_sigmas),
                                             ",".join(h(s[i]) for i in (0, 1, 499, 998, 999))))
    for sg in [0.0291675, 0.03, 0.5, 1.0, 1.6128862, 3.3, 7.77, 14.6146, 14.614642, 20.0, 0.001]:
        t = torch.tensor(sg, dtype=torch.float32)
        lines.append("ts %s %d" % (h(t), int(m.timestep(t))))
    for tv in [0.0, 0.5, 1.0, 10.25, 499.5, 998.999, 999.0, 1234.0, -3.0, 525.7377]:
        t = torch.tensor(tv, dtype=torch.float32)
        lines.append("sig %s %s" % (h(t), h(m.sigma(t))))
    for p in [0.0, 0.1, 0.25, 0.5, 0.9, 1.0]:
        lines.append("pts %s %s" % (float(p).hex(), float(m.percent_to_sigma(p)).hex()))
    for p in [0.0, 1e-9, 0.01, 0.05, 0.1, 0.3, 0.5, 0.55, 0.7, 0.95, 0.999, 1.0]:
        lines.append("ppf %s %s" % (float(p).hex(), float(scipy.stats.beta.ppf(p, 0.6, 0.6)).hex()))
    for name in samplers.SCHEDULER_NAMES:
        for steps in [1, 2, 3, 4, 5, 7, 10, 13, 20, 25, 30, 50, 100, 150]:
            if name == "kl_optimal" and steps == 1:
                continue  # divides by zero in ComfyUI (NaN schedule)
            s = samplers.calculate_sigmas(m, name, steps)
            lines.append("sched %s %d %s" % (name, steps, hl(s)))
            if steps in (20, 50, 150):
                # the timestep the UNet receives for each sigma (and a log-midpoint
                # between consecutive sigmas, as dpm_2's second evaluation uses)
                for k in range(len(s) - 1):
                    for sg in (s[k], s[k].log().lerp(s[k + 1].log(), 0.5).exp() if s[k + 1] > 0 else None):
                        if sg is not None and sg > 0:
                            lines.append("ts %s %d" % (h(sg), int(m.timestep(sg))))

    # custom-sampling schedules (comfy_extras/nodes_custom_sampler.py uses these)
    for n in (1, 4, 10, 25):
        for rho in (1.0, 2.0, 0.5, 3.3):
            lines.append("xsched poly %d %r %s" % (n, rho, hl(ks.get_sigmas_polyexponential(n, 0.0291675, 14.614642, rho))))
        lines.append("xsched vp %d 0 %s" % (n, hl(ks.get_sigmas_vp(n, 19.9, 0.1, 1e-3))))
        lines.append("xsched laplace %d 0 %s" % (n, hl(ks.get_sigmas_laplace(n, 0.0291675, 14.614642, 0.0, 0.5))))
    for steps in (1, 2, 4, 10):
        for den in (1.0, 0.5, 0.25):
            start = 10 - int(10 * den)
            ts = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start:start + steps]
            sg = m.sigma(ts)
            sg = torch.cat([sg, sg.new_zeros([1])])
            lines.append("xsched sdturbo %d %r %s" % (steps, den, hl(sg)))
    for steps in (5, 20):
        for ab in ((0.6, 0.6), (0.5, 0.7), (2.0, 1.0)):
            lines.append("xsched beta%r,%r %d 0 %s" % (ab[0], ab[1], steps,
                                                       hl(samplers.beta_scheduler(m, steps, ab[0], ab[1]))))

    captured = {}

    def fake_sample(model, noise, positive, negative, cfg, device, sampler, sigmas, *a, **k):
        captured["sigmas"] = sigmas
        return "ran"

    samplers.sample = fake_sample
    model = FakeModel(m)
    cases = [
        ("euler", "normal", 20, 1.0, None, None, False),
        ("euler", "karras", 20, 0.5, None, None, False),
        ("dpm_2", "karras", 10, 1.0, None, None, False),
        ("uni_pc", "simple", 7, 0.6, None, None, False),
        ("dpmpp_2m", "ddim_uniform", 7, 1.0, None, None, False),
        ("euler", "normal", 25, 1.0, 0, 20, False),
        ("euler", "normal", 25, 1.0, 0, 20, True),
        ("euler", "karras", 25, 1.0, 20, 10000, True),
        ("euler", "karras", 25, 1.0, 25, 10000, False),
        ("euler", "beta", 12, 0.3, 2, 5, True),
        ("euler", "simple", 10, 0.0, None, None, False),
        ("dpm_2_ancestral", "exponential", 3, 0.99, 1, None, False),
    ]
    for smp, sch, steps, den, st, la, ffd in cases:
        k = samplers.KSampler(model, steps, "cpu", sampler=smp, scheduler=sch, denoise=den)
        captured.clear()
        r = k.sample(torch.zeros(1), None, None, 1.0, latent_image=torch.ones(1), start_step=st,
                     last_step=la, force_full_denoise=ffd)
        out = hl(captured["sigmas"]) if r == "ran" else "unchanged"
        lines.append("ks %s %s %d %s %d %d %d %s" % (smp, sch, steps, float(den).hex(),
                                                      -1 if st is None else st,
                                                      -1 if la is None else la, int(ffd), out))
    g = torch.Generator().manual_seed(3)
    for pred, cls in (("eps", msm.EPS), ("v", msm.V_PREDICTION)):
        class M(msm.ModelSamplingDiscrete, cls):
            pass
        mm = M()
        for sg in [14.614642, 3.5, 0.0291675]:
            sigma = torch.tensor(sg, dtype=torch.float32)
            out = torch.randn(16, generator=g)
            x = torch.randn(16, generator=g) * 3
            d = mm.calculate_denoised(sigma, out, x)
            lines.append("den %s %s %s %s %s" % (pred, h(sigma), hl(out), hl(x), hl(d)))
    with open(OUT, "w") as f:
        f.write("# generated by tests/sampling/gen/gen_sched.py with torch %s numpy %s scipy %s\n"
                % (torch.__version__, np.__version__, scipy.__version__))
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
