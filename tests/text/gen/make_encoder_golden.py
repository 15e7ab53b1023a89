#!/usr/bin/env python3
"""Golden outputs of the CLIP text encoders, from ComfyUI's own code.

Runs ComfyUI's comfy/clip_model.py CLIPTextModel inside comfy/sd1_clip.py
SDClipModel (commit a125cd84), tokenizing with its SDTokenizer, on a small
generated model (width 128, 2 heads of 64, 3 layers, MLP 256, the full
49408-token vocabulary).  The modules ComfyUI takes from elsewhere are
replaced: comfy.ops by plain torch layers, the attention by
softmax(q·kᵀ/√d + mask)·v in float32, model_management by the CPU.  The
weights come from a formula (weight_values below) that the C test
repeats exactly, so no weights are stored.

    /work/venvs/text/bin/python tests/text/gen/make_encoder_golden.py /tmp/ComfyUI

(/tmp/ComfyUI holding comfy/clip_model.py, comfy/sd1_clip.py and
comfy/sd1_tokenizer from that commit.)  Writes tests/text/data/encoder.json
(the cases) and encoder.bin (their f32 outputs, little-endian).  With
--full after the path: the full-width cases (FULL) into encoder_full.json.
"""
import importlib.util
import json
import math
import os
import struct
import sys
import tempfile
import types

import torch
import safetensors.torch

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
P = 2147483647
W, HEADS, LAYERS, MLP, VOCAB, POS = 128, 2, 3, 256, 49408, 77
LAYER_KEYS = ["layer_norm1.weight", "layer_norm1.bias", "self_attn.q_proj.weight",
              "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
              "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight",
              "self_attn.out_proj.bias", "layer_norm2.weight", "layer_norm2.bias", "mlp.fc1.weight",
              "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"]


def weight_values(tid, n, kind, fan_in=1):
    """n float32 values for tensor number tid:
    r1 = (i * 1103515245 + 12345 + tid * 2654435) mod P, r2 = (r1² + tid) mod P,
    r = r2 / P - 0.5 in double; then by kind: emb 0.5 r, pos 0.1 r, lnw 1 + 0.2 r,
    bias 0.1 r, w (2 / sqrt(fan_in)) r; rounded to float32."""
    i = torch.arange(n, dtype=torch.int64)
    r1 = (i * 1103515245 + 12345 + tid * 2654435) % P
    r2 = (r1 * r1 + tid) % P
    r = r2.double() / P - 0.5
    if kind == "emb":
        v = r * 0.5
    elif kind == "pos":
        v = r * 0.1
    elif kind == "lnw":
        v = 1.0 + r * 0.2
    elif kind == "bias":
        v = r * 0.1
    else:
        v = r * (2.0 / math.sqrt(fan_in))
    return v.float()


def make_state_dict(act, W=W, LAYERS=LAYERS, MLP=MLP):
    sd = {}
    sd["text_model.embeddings.token_embedding.weight"] = weight_values(1, VOCAB * W, "emb").reshape(VOCAB, W)
    sd["text_model.embeddings.position_embedding.weight"] = weight_values(2, POS * W, "pos").reshape(POS, W)
    sd["text_model.final_layer_norm.weight"] = weight_values(3, W, "lnw")
    sd["text_model.final_layer_norm.bias"] = weight_values(4, W, "bias")
    sd["text_projection.weight"] = weight_values(5, W * W, "w", W).reshape(W, W)
    for l in range(LAYERS):
        for k, key in enumerate(LAYER_KEYS):
            tid = 100 + l * 20 + k
            if key.endswith("norm1.weight") or key.endswith("norm2.weight"):
                t = weight_values(tid, W, "lnw")
            elif key.endswith(".bias"):
                n = MLP if key == "mlp.fc1.bias" else W
                t = weight_values(tid, n, "bias")
            elif key == "mlp.fc1.weight":
                t = weight_values(tid, MLP * W, "w", W).reshape(MLP, W)
            elif key == "mlp.fc2.weight":
                t = weight_values(tid, W * MLP, "w", MLP).reshape(W, MLP)
            else:
                t = weight_values(tid, W * W, "w", W).reshape(W, W)
            sd["text_model.encoder.layers.%d.%s" % (l, key)] = t
    return sd


def load_comfy(root):
    pkg = types.ModuleType("comfy")
    pkg.__path__ = [os.path.join(root, "comfy")]
    sys.modules["comfy"] = pkg

    ops = types.ModuleType("comfy.ops")

    class Embedding(torch.nn.Embedding):
        def forward(self, x, out_dtype=None):
            y = super().forward(x)
            return y.to(out_dtype) if out_dtype is not None else y

    class Ops:
        Linear = torch.nn.Linear
        LayerNorm = torch.nn.LayerNorm

    Ops.Embedding = Embedding
    ops.manual_cast = Ops
    ops.cast_to = lambda w, dtype=None, device=None, **kw: w.to(dtype=dtype)
    mm = types.ModuleType("comfy.model_management")
    mm.intermediate_device = lambda: torch.device("cpu")
    att = types.ModuleType("comfy.ldm.modules.attention")

    def attention(q, k, v, heads, mask=None):
        b, t, hd = q.shape
        d = hd // heads
        q, k, v = (x.reshape(b, t, heads, d).transpose(1, 2) for x in (q, k, v))
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d))
        if mask is not None:
            s = s + mask
        o = torch.softmax(s, dim=-1) @ v
        return o.transpose(1, 2).reshape(b, t, hd)
    att.optimized_attention_for_device = lambda *a, **kw: attention
    for name, mod in (("comfy.ops", ops), ("comfy.model_management", mm),
                      ("comfy.ldm", types.ModuleType("comfy.ldm")),
                      ("comfy.ldm.modules", types.ModuleType("comfy.ldm.modules")),
                      ("comfy.ldm.modules.attention", att)):
        sys.modules[name] = mod
    pkg.ops = ops
    pkg.model_management = mm
    mods = {}
    for name in ("clip_model", "sd1_clip"):
        spec = importlib.util.spec_from_file_location("comfy." + name, os.path.join(root, "comfy", name + ".py"))
        m = importlib.util.module_from_spec(spec)
        sys.modules["comfy." + name] = m
        setattr(pkg, name, m)
        spec.loader.exec_module(m)
        mods[name] = m
    return mods["sd1_clip"]


PROMPTS = [
    "a photo of a cat",
    "(masterpiece:1.2), a (cat:0.8) on a ((sofa)), [blue] sky",
    "embedding:emb_w a (dog embedding:emb_m:1.3) x",
    ", ".join("word%d" % i for i in range(60)),
    "",
]

# (name, act, pad, layer, layer_idx, norm_hidden, projected_pooled, clip_skip, prompts)
PRESETS = [
    ("sd1", "quick_gelu", 49407, "last", None, True, False, None, [0, 1, 2, 3, 4]),
    ("sd1_skip2", "quick_gelu", 49407, "last", None, True, False, -2, [1]),
    ("sd2", "gelu", 0, "hidden", -2, True, True, None, [1, 2, 3]),
    ("sdxl_g", "gelu", 0, "hidden", -2, False, True, None, [1, 2]),
    ("sdxl_g_last1", "gelu", 0, "hidden", -2, False, True, -1, [0]),
]


FULL = [  # (name, width, heads, layers, mlp, act, pad, layer, layer_idx, norm_hidden, proj, prompt)
    ("clip_l_full", 768, 12, 12, 3072, "quick_gelu", 49407, "last", None, True, False,
     "(masterpiece:1.2), a photo of a (cat:0.8) on a sofa"),
    ("bigg_w4", 1280, 20, 4, 5120, "gelu", 0, "hidden", -2, False, True,
     "(masterpiece:1.2), a photo of a (cat:0.8) on a sofa"),
]


def full_width(sd1, tok_path):
    """Full-width encoders (CLIP-L with its 12 layers; bigG's width, heads
    and MLP with 4 layers to keep memory down).  Stored compactly: pooled,
    the first 4 rows of cond, and per-row sum and sum of squares (float64)
    of every row."""
    out = []
    for name, w, heads, layers, mlp, act, pad, layer, layer_idx, norm_hidden, proj, prompt in FULL:
        config = {"hidden_size": w, "num_attention_heads": heads, "num_hidden_layers": layers,
                  "intermediate_size": mlp, "hidden_act": act, "max_position_embeddings": POS,
                  "eos_token_id": 49407, "vocab_size": VOCAB}
        model = sd1.SDClipModel(layer=layer, layer_idx=layer_idx, textmodel_json_config=config,
                                special_tokens={"start": 49406, "end": 49407, "pad": pad},
                                layer_norm_hidden_state=norm_hidden, return_projected_pooled=proj,
                                model_options={"custom_operations": sd1.comfy.ops.manual_cast})
        model.load_sd(make_state_dict(act, w, layers, mlp))
        tok = sd1.SDTokenizer(tokenizer_path=tok_path, pad_with_end=pad == 49407)
        cond, pooled = model.encode_token_weights(tok.tokenize_with_weights(prompt))
        cond = cond[0].double()
        out.append({"name": name, "width": w, "heads": heads, "layers": layers, "mlp": mlp,
                    "act": act, "pad": pad, "last": layer == "last", "layer_idx": layer_idx or 0,
                    "norm_hidden": norm_hidden, "projected_pooled": proj, "prompt": prompt,
                    "rows": int(cond.shape[0]),
                    "pooled": [repr(float(x)) for x in pooled.reshape(-1)],
                    "head_rows": [[repr(float(x)) for x in r] for r in cond[:4]],
                    "row_sum": [repr(float(x)) for x in cond.sum(dim=1)],
                    "row_sumsq": [repr(float(x)) for x in (cond * cond).sum(dim=1)]})
        del model
    with open(os.path.join(DATA, "encoder_full.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": {"torch": torch.__version__, "comfyui": "a125cd84"}, "cases": out}, f)
        f.write("\n")
    print(len(out), "full-width cases")


def main():
    root = sys.argv[1]
    sd1 = load_comfy(root)
    if len(sys.argv) > 2 and sys.argv[2] == "--full":
        with torch.no_grad():
            full_width(sd1, os.path.join(root, "comfy", "sd1_tokenizer"))
        return
    tok_path = os.path.join(root, "comfy", "sd1_tokenizer")
    cases = []
    blob = bytearray()
    with tempfile.TemporaryDirectory() as d, torch.no_grad():
        safetensors.torch.save_file({"emb_params": weight_values(901, 2 * W, "emb").reshape(2, W)},
                                    os.path.join(d, "emb_w.safetensors"))
        safetensors.torch.save_file({"emb_params": weight_values(902, 96, "emb").reshape(1, 96)},
                                    os.path.join(d, "emb_m.safetensors"))
        for name, act, pad, layer, layer_idx, norm_hidden, proj, skip, which in PRESETS:
            config = {"hidden_size": W, "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
                      "intermediate_size": MLP, "hidden_act": act, "max_position_embeddings": POS,
                      "eos_token_id": 49407, "vocab_size": VOCAB}
            model = sd1.SDClipModel(layer=layer, layer_idx=layer_idx, textmodel_json_config=config,
                                    special_tokens={"start": 49406, "end": 49407, "pad": pad},
                                    layer_norm_hidden_state=norm_hidden, return_projected_pooled=proj,
                                    model_options={"custom_operations": sd1.comfy.ops.manual_cast})
            missing, unexpected = model.load_sd(make_state_dict(act))
            assert not unexpected, unexpected
            if skip is not None:
                model.set_clip_options({"layer": skip})
            tok = sd1.SDTokenizer(tokenizer_path=tok_path, pad_with_end=pad == 49407, embedding_directory=d,
                                  embedding_size=W, embedding_key="clip_x")
            for prompt in [PROMPTS[i] for i in which]:
                tokens = tok.tokenize_with_weights(prompt)
                cond, pooled = model.encode_token_weights(tokens)
                cond = cond.float().contiguous()
                pooled = pooled.float().contiguous()
                off = len(blob)
                blob += struct.pack("<%df" % cond.numel(), *cond.reshape(-1).tolist())
                blob += struct.pack("<%df" % pooled.numel(), *pooled.reshape(-1).tolist())
                cases.append({"preset": name, "act": act, "pad": pad, "last": layer == "last",
                              "layer_idx": layer_idx or 0, "norm_hidden": norm_hidden,
                              "projected_pooled": proj, "clip_skip": skip or 0, "prompt": prompt,
                              "rows": int(cond.shape[1]), "width": int(cond.shape[2]), "offset": off})
        # SDXL: ComfyUI's SDXLClipModel.encode_token_weights over an "l"
        # (CLIP-L options) and a "g" (bigG options) SDClipModel, for
        # CLIPTextEncode (same text) and CLIPTextEncodeSDXL (text_g, text_l,
        # the shorter list padded with the empty prompt's windows).
        def sdxl_model(act, pad, proj):
            config = {"hidden_size": W, "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
                      "intermediate_size": MLP, "hidden_act": act, "max_position_embeddings": POS,
                      "eos_token_id": 49407, "vocab_size": VOCAB}
            m = sd1.SDClipModel(layer="hidden", layer_idx=-2, textmodel_json_config=config,
                                special_tokens={"start": 49406, "end": 49407, "pad": pad},
                                layer_norm_hidden_state=False, return_projected_pooled=proj,
                                model_options={"custom_operations": sd1.comfy.ops.manual_cast})
            m.load_sd(make_state_dict(act))
            return m
        ml, mg = sdxl_model("quick_gelu", 49407, True), sdxl_model("gelu", 0, True)
        tl = sd1.SDTokenizer(tokenizer_path=tok_path, pad_with_end=True, embedding_directory=d,
                             embedding_size=W, embedding_key="clip_x")
        tg = sd1.SDTokenizer(tokenizer_path=tok_path, pad_with_end=False, embedding_directory=d,
                             embedding_size=W, embedding_key="clip_x")
        for text_g, text_l in ((PROMPTS[2], None), (PROMPTS[3], PROMPTS[0]),
                               (PROMPTS[0], PROMPTS[3])):
            tokens = {"g": tg.tokenize_with_weights(text_g)}
            tokens["l"] = tl.tokenize_with_weights(text_g if text_l is None else text_l)
            if len(tokens["l"]) != len(tokens["g"]):
                empty = {"g": tg.tokenize_with_weights(""), "l": tl.tokenize_with_weights("")}
                while len(tokens["l"]) < len(tokens["g"]):
                    tokens["l"] += empty["l"]
                while len(tokens["l"]) > len(tokens["g"]):
                    tokens["g"] += empty["g"]
            g_out, g_pooled = mg.encode_token_weights(tokens["g"])
            l_out, l_pooled = ml.encode_token_weights(tokens["l"])
            cut_to = min(l_out.shape[1], g_out.shape[1])
            cond = torch.cat([l_out[:, :cut_to], g_out[:, :cut_to]], dim=-1).float().contiguous()
            pooled = g_pooled.float().contiguous()
            off = len(blob)
            blob += struct.pack("<%df" % cond.numel(), *cond.reshape(-1).tolist())
            blob += struct.pack("<%df" % pooled.numel(), *pooled.reshape(-1).tolist())
            cases.append({"preset": "sdxl", "prompt": text_g, "prompt_l": text_l,
                          "rows": int(cond.shape[1]), "width": int(cond.shape[2]),
                          "pooled_width": int(pooled.shape[-1]), "offset": off})
    with open(os.path.join(DATA, "encoder.bin"), "wb") as f:
        f.write(bytes(blob))
    with open(os.path.join(DATA, "encoder.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": {"torch": torch.__version__, "comfyui": "a125cd84", "width": W, "heads": HEADS,
                            "layers": LAYERS, "mlp": MLP}, "cases": cases}, f, indent=1)
        f.write("\n")
    print(len(cases), "cases,", len(blob), "bytes")


if __name__ == "__main__":
    main()
