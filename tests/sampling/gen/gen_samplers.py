#!/usr/bin/env python3
"""Golden runs of ComfyUI's sampler functions (tests/sampling/data/sampler_cases.txt).

    COMFYUI_DIR=<ComfyUI checkout> /work/venvs/sampling/bin/python tests/sampling/gen/gen_samplers.py

Each sampler runs with an analytic denoiser on a (2,4,3,3) float32 latent:
    cond(x, s)   = x * (0.8 / (1 + s*s)) + c  * (s / (1 + s))
    uncond(x, s) = x * (0.7 / (1 + s*s)) + c2 * (s / (1 + s))
the model returns cond (ComfyUI's CFG result); the _cfg_pp samplers read
uncond through ComfyUI's post-CFG hook.  Noise comes from ComfyUI's own
noise samplers with extra_args seed 1234 (torch CPU generator /
torchsde Brownian tree; the _gpu variants run with the latent on the CPU,
as ComfyUI --cpu does).

Line formats (f32 as hex bit patterns):
  names <ComfyUI's SAMPLER_NAMES, comma separated>
  vec <name> <hex,...>                         c, c2, and per schedule sig<k>, x<k>
  case <sampler> <schedule k> <model calls> <callback steps> <hex of the result>
  opt <sampler> <schedule k> <model calls> <key=value;...> <hex of the result>
      the same with sampler options (s_churn draws from torch's global generator
      after torch.manual_seed(5))
  maskprep <mask shape> <latent shape> <hex mask> <hex prepared mask>
      comfy.utils.reshape_mask (what prepare_mask does), bilinear torch interpolate
  ksample <sampler> <schedule k> <masked 0|1> <hex of the result>
      comfy.samplers.KSAMPLER.sample with noise = vec noise, latent_image =
      vec latent, denoise_mask = vec mask (or none), extra_args seed 1234
"""
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import comfyshim  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sampler_cases.txt")
SEED = 1234


def h(v):
    return "%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0]


def hl(t):
    return ",".join(h(v) for v in t.reshape(-1).tolist())


class Patcher:
    def __init__(self, ms):
        self.ms = ms

    def get_model_object(self, name):
        return self.ms


class Inner:
    def __init__(self, ms):
        self.model_sampling = ms

    def scale_latent_inpaint(self, sigma, noise, latent_image, **kwargs):
        # comfy.model_base.BaseModel.scale_latent_inpaint
        return self.model_sampling.noise_scaling(sigma.reshape([sigma.shape[0]] + [1] * (len(noise.shape) - 1)),
                                                 noise, latent_image)


class Wrapped:
    def __init__(self, ms):
        self.inner_model = Inner(ms)
        self.model_patcher = Patcher(ms)


class Model:
    """Stands in for ComfyUI's CFGGuider-wrapped model."""

    def __init__(self, ms, c, c2):
        self.inner_model = Wrapped(ms)
        self.inner_model.inner_model = Inner(ms)
        self.c, self.c2 = c, c2
        self.calls = 0

    def __call__(self, x, sigma, **extra_args):
        self.calls += 1
        s = sigma.reshape(-1)[0]
        a = 0.8 / (1 + s * s)
        a2 = 0.7 / (1 + s * s)
        b = s / (1 + s)
        cond = x * a + self.c * b
        uncond = x * a2 + self.c2 * b
        out = cond
        for fn in extra_args.get("model_options", {}).get("sampler_post_cfg_function", []):
            out = fn({"denoised": out, "cond_denoised": cond, "uncond_denoised": uncond,
                      "model": None, "uncond": None, "cond": None, "input": x, "sigma": sigma,
                      "cond_scale": 1.0, "model_options": {}})
        return out


SAMPLERS = ["euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
            "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
            "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde",
            "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde",
            "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
            "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
            "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2", "seeds_3",
            "sa_solver", "sa_solver_pece",
            "ddim", "uni_pc", "uni_pc_bh2"]


def main():
    msm, ks, uni_pc, samplers = comfyshim.load()
    class ModelSampling(msm.ModelSamplingDiscrete, msm.EPS):  # as comfy.model_base builds it
        pass

    ms = ModelSampling()
    shape = (2, 4, 3, 3)
    g = torch.Generator().manual_seed(7)
    c = torch.randn(shape, generator=g)
    c2 = torch.randn(shape, generator=g)
    lines = ["names " + ",".join(samplers.SAMPLER_NAMES), "vec c " + hl(c), "vec c2 " + hl(c2)]
    scheds = [
        samplers.calculate_sigmas(ms, "karras", 8),
        samplers.calculate_sigmas(ms, "normal", 12)[-7:],
        samplers.calculate_sigmas(ms, "simple", 3),
        samplers.calculate_sigmas(ms, "exponential", 2),
        samplers.calculate_sigmas(ms, "karras", 1),          # one step
        samplers.calculate_sigmas(ms, "normal", 9)[:6],      # ends above 0 (leftover noise)
    ]
    xs = []
    for k, sig in enumerate(scheds):
        noise = torch.randn(shape, generator=torch.manual_seed(42 + k))
        x = noise * torch.sqrt(1.0 + sig[0] ** 2.0) if k == 0 else noise * sig[0] + c * 0.5
        xs.append(x)
        lines.append("vec sig%d %s" % (k, hl(sig)))
        lines.append("vec x%d %s" % (k, hl(x)))
    for name in SAMPLERS:
        if name == "ddim":
            fn = ks.sample_euler
        elif name in ("dpm_fast", "dpm_adaptive"):
            fn = samplers.ksampler(name).sampler_function  # ComfyUI's wrapper picks sigma_min/max
        elif name == "uni_pc":
            fn = uni_pc.sample_unipc
        elif name == "uni_pc_bh2":
            fn = uni_pc.sample_unipc_bh2
        else:
            fn = getattr(ks, "sample_" + name)
        for k, sig in enumerate(scheds):
            model = Model(ms, c, c2)
            steps = []
            torch.manual_seed(0)
            out = fn(model, xs[k].clone(), sig.clone(), extra_args={"seed": SEED, "model_options": {}},
                     callback=lambda d: steps.append(d["i"]), disable=True)
            lines.append("case %s %d %d %d %s" % (name, k, model.calls, len(steps), hl(out)))
    # options: s_churn with torch's global generator (seeded 5 here), eta / s_noise
    opt_cases = [
        ("euler", {"s_churn": 1.0}), ("heun", {"s_churn": 0.5, "s_tmin": 0.5, "s_tmax": 8.0}),
        ("dpm_2", {"s_churn": 2.0, "s_noise": 0.9}), ("heunpp2", {"s_churn": 1.5}),
        ("euler_ancestral", {"eta": 0.5, "s_noise": 0.7}), ("dpm_2_ancestral", {"eta": 0.3}),
        ("dpmpp_2s_ancestral", {"eta": 0.6, "s_noise": 1.1}), ("dpmpp_sde", {"eta": 0.5, "s_noise": 0.8}),
        ("dpmpp_2m_sde", {"eta": 0.4}), ("dpmpp_2m_sde_heun", {"eta": 0.0}),
        ("dpmpp_3m_sde", {"eta": 0.7, "s_noise": 0.9}), ("res_multistep_ancestral", {"eta": 0.5}),
        ("euler_ancestral_cfg_pp", {"eta": 0.5, "s_noise": 0.5}), ("seeds_2", {"eta": 0.5}),
        ("seeds_3", {"s_noise": 0.6}), ("er_sde", {"s_noise": 0.5}), ("sa_solver", {"s_noise": 0.5}),
    ]
    for name, opts in opt_cases:
        fn = getattr(ks, "sample_" + name)
        for k in (0, 1):
            model = Model(ms, c, c2)
            torch.manual_seed(5)
            out = fn(model, xs[k].clone(), scheds[k].clone(), extra_args={"seed": SEED, "model_options": {}},
                     disable=True, **opts)
            lines.append("opt %s %d %d %s %s" % (name, k, model.calls,
                                                 ";".join("%s=%r" % kv for kv in sorted(opts.items())), hl(out)))
    noise = torch.randn(shape, generator=torch.manual_seed(99))
    latent = torch.randn(shape, generator=torch.manual_seed(98)) * 0.5
    mask = (torch.arange(shape[2] * shape[3]).reshape(1, 1, shape[2], shape[3]) % 3 != 0).float()
    mask = (mask * torch.tensor([1.0, 0.75]).reshape(2, 1, 1, 1)).expand(shape).contiguous()
    lines += ["vec noise " + hl(noise), "vec latent " + hl(latent), "vec mask " + hl(mask)]
    for name in ["euler", "ddim", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde", "uni_pc", "lms",
                 "sa_solver"]:
        for k in (0, 1):
            for masked in (0, 1):
                model = Model(ms, c, c2)  # as the CFGGuider's model_wrap
                model.inner_model = Inner(ms)
                model.model_patcher = Patcher(ms)
                smp = samplers.sampler_object(name)
                out = smp.sample(model, scheds[k].clone(), {"seed": SEED, "model_options": {}}, None,
                                 noise.clone(), latent_image=latent.clone(),
                                 denoise_mask=mask.clone() if masked else None, disable_pbar=True)
                lines.append("ksample %s %d %d %s" % (name, k, masked, hl(out)))
    # comfy.utils.reshape_mask (prepare_mask): bilinear resize, channel and batch repeat
    def reshape_mask(input_mask, output_shape):
        input_mask = input_mask.reshape((-1, 1, input_mask.shape[-2], input_mask.shape[-1]))
        mask = torch.nn.functional.interpolate(input_mask, size=output_shape[2:], mode="bilinear")
        if mask.shape[1] < output_shape[1]:
            mask = mask.repeat((1, output_shape[1], 1, 1))[:, :output_shape[1]]
        if mask.shape[0] > output_shape[0]:
            mask = mask.narrow(0, 0, output_shape[0])
        elif mask.shape[0] < output_shape[0]:
            mask = mask.repeat([math.ceil(output_shape[0] / mask.shape[0]), 1, 1, 1]).narrow(0, 0, output_shape[0])
        return mask

    gm = torch.Generator().manual_seed(11)
    for mshape, oshape in [((2, 7, 9), (3, 4, 3, 5)), ((1, 2, 3), (2, 4, 5, 7)), ((1, 1, 6, 6), (1, 4, 6, 6)),
                           ((3, 16, 16), (2, 4, 2, 2)), ((1, 5, 4), (1, 4, 13, 11))]:
        mk = torch.rand(mshape, generator=gm)
        out = reshape_mask(mk, oshape)
        lines.append("maskprep %s %s %s %s" % (",".join(map(str, mshape)), ",".join(map(str, oshape)),
                                               hl(mk), hl(out)))
    with open(OUT, "w") as f:
        f.write("# generated by tests/sampling/gen/gen_samplers.py with torch %s\n" % torch.__version__)
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
