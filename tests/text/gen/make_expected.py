#!/usr/bin/env python3
"""Makes the golden outputs for the text tests from the reference code.

Reference: transformers' CLIPTokenizer (slow tokenizer, no ftfy installed)
loaded from ComfyUI's comfy/sd1_tokenizer files, and ComfyUI's own
comfy/sd1_clip.py SDTokenizer.tokenize_with_weights (ComfyUI commit
a125cd84).  Nothing of that code is in the repo; run this outside it:

    python3 -m venv --system-site-packages /work/venvs/text   # python3-torch from Debian
    /work/venvs/text/bin/pip install transformers==4.57.1 regex safetensors
    git archive <ComfyUI a125cd84> comfy/sd1_clip.py comfy/sd1_tokenizer | tar -x -C /tmp/ComfyUI
    /work/venvs/text/bin/python tests/text/gen/make_expected.py /tmp/ComfyUI

Writes, next to prompts.json (tests/text/data/):
  expected_ids.json      per prompt: CLIPTokenizer(prompt)["input_ids"]
  expected_weights.json  per prompt: ComfyUI's tokenize_with_weights for the
                         CLIP-L tokenizer ("l": pad 49407, embeddings from a
                         test folder) and the OpenCLIP-H one ("h": pad 0,
                         embedding size 1024, key clip_h), in the compact
                         form of chunks_json(); weights as repr() strings;
                         a prompt on which ComfyUI raises: {"error": name}
  embeddings/            the embedding files of the test folder
  embeddings.json        every load_embed(name, size, key) call ComfyUI made
                         and its result (rows as [first value, width]), so
                         the C test's loader can serve the same rows
"""
import importlib.util
import json
import os
import sys
import types

import torch
import safetensors.torch
import transformers
import regex
import unicodedata

DATA = os.environ.get("TEXT_DATA_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


FLOAT_CASES = [
    "1", "1.2", " 1.2 ", "\t1.5\n", "+2", "-2", ".5", "5.", ".", "", " ", "1e3", "1E-3", "1e", "1e+",
    "1e+2", "-.5e-2", "1_000", "1__000", "_1", "1_", "1_.5", "1._5", "1.5_5", "1e1_0", "0x10", "1,5",
    "inf", "-inf", "+inf", "INF", "Infinity", "-infinity", "infinit", "infinityx", "nan", "NaN", "-nan",
    "nan(1)", "1e400", "-1e400", "1e-400", "4.9e-324", "2.2250738585072014e-308", "0.1", "1.1",
    "123456789012345678901234567890", "0." + "0" * 600 + "1", "1" * 400 + ".5", "00012", "1.2.3",
    "1 2", "1\x00", "\u0661.\u0665", "\uff11\uff12", "\u00a01.5\u3000", "\u20031", "1\u2028",
    "\x1c1", "1\x0b", "\u0967\u0966", "\U0001d7ce", "\u00b2", "\u2160", "one", "1.5x", "x1.5",
    "--1", "+-1", "1e-1", "1e0", " 1.1 ", "0.33", "1.05", "-0", "-0.0", "1.7976931348623157e308",
    "1.7976931348623159e308", "9007199254740993", "0.30000000000000004", "1e23", "8.9e-323",
]


def load_comfy(root):
    """Imports comfy/sd1_clip.py on its own.  The modules it imports for the
    text encoder (not used by the tokenizer) are replaced by empty ones."""
    class Anything(types.ModuleType):
        def __getattr__(self, name):
            return object
    pkg = types.ModuleType("comfy")
    pkg.__path__ = [os.path.join(root, "comfy")]
    sys.modules["comfy"] = pkg
    for name in ("comfy.ops", "comfy.model_management", "comfy.clip_model"):
        sys.modules[name] = Anything(name)
        setattr(pkg, name.split(".")[1], sys.modules[name])
    spec = importlib.util.spec_from_file_location(
        "comfy.sd1_clip", os.path.join(root, "comfy", "sd1_clip.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["comfy.sd1_clip"] = mod
    spec.loader.exec_module(mod)
    return mod


def rows(first_values, width):
    t = torch.zeros(len(first_values), width)
    for i, v in enumerate(first_values):
        t[i, 0] = v
    return t


def make_embeddings(d):
    st = safetensors.torch.save_file
    st({"clip_l": rows([1, 2], 768), "clip_g": rows([3, 4], 1280)}, os.path.join(d, "emb_a.safetensors"))
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": rows([10, 11, 12], 768)},
                "name": "emb_b", "step": 1000, "sd_checkpoint": "0123abcd", "sd_checkpoint_name": "x"},
               os.path.join(d, "emb_b.pt"))  # A1111's layout
    os.makedirs(os.path.join(d, "sub"))
    st({"emb_params": rows([20], 1024)}, os.path.join(d, "sub", "emb_c.safetensors"))
    torch.save([{"a": rows([40, 41], 768), "b": rows([42], 1024)}], os.path.join(d, "emb_list.pt"))
    st({"bundle_emb.x.string_to_param.*": rows([50, 51], 768), "lora_unet_x": torch.zeros(4)},
       os.path.join(d, "emb_bundle.safetensors"))
    st({"clip_l": rows([60], 768)}, os.path.join(d, "emb_l.safetensors"))


def describe_embed(e):
    if e is None:
        return None
    if len(e.shape) == 1:
        return [[float(e[0]), int(e.shape[0])]]
    return [[float(r[0]), int(r.shape[-1])] for r in e]


def chunks_json(batches, pad):
    """A chunk as a list: a token of weight 1.0 as its id, else [id, weight];
    an embedding row as [[first value, width], weight]; the run of trailing
    (pad, 1.0) entries is left off (every chunk is 77 long)."""
    out = []
    for b in batches:
        assert len(b) == 77
        n = len(b)
        while n > 0 and isinstance(b[n - 1][0], int) and b[n - 1][0] == pad and b[n - 1][1] == 1.0:
            n -= 1
        c = []
        for t, w in b[:n]:
            if isinstance(t, int):
                c.append(t if w == 1.0 else [t, repr(float(w))])
            else:
                c.append([[float(t.reshape(-1)[0]), int(t.shape[-1])], repr(float(w))])
        out.append(c)
    return out


def main():
    root = sys.argv[1]
    sd1 = load_comfy(root)
    tok_path = os.path.join(root, "comfy", "sd1_tokenizer")
    hf = transformers.CLIPTokenizer.from_pretrained(tok_path)
    assert hf.fix_text is None, "ftfy is installed: the reference must run without it"

    calls = {}
    real_load = sd1.load_embed

    def logged_load(name, directory, size, key=None):
        e = real_load(name, directory, size, key)
        calls["%s\t%d\t%s" % (name, size, key)] = describe_embed(e)
        return e
    sd1.load_embed = logged_load

    with open(os.path.join(DATA, "prompts.json"), encoding="utf-8") as f:
        prompts = json.load(f)

    # The embedding files stay in tests/text/data/embeddings: the C tests
    # read the safetensors ones with the real loader.
    d = os.path.join(DATA, "embeddings")
    if os.path.isdir(d):
        import shutil
        shutil.rmtree(d)
    os.makedirs(d)
    if True:
        make_embeddings(d)
        tl = sd1.SDTokenizer(tokenizer_path=tok_path, embedding_directory=d)
        th = sd1.SDTokenizer(tokenizer_path=tok_path, pad_with_end=False, embedding_directory=d,
                             embedding_size=1024, embedding_key="clip_h")
        ids, weights = [], []
        for p in prompts:
            ids.append(hf(p)["input_ids"])
            entry = {}
            for name, t, pad in (("l", tl, 49407), ("h", th, 0)):
                try:
                    entry[name] = chunks_json(t.tokenize_with_weights(p), pad)
                except Exception as e:  # ComfyUI raises on this prompt
                    if os.environ.get("TRACE"):
                        import traceback; traceback.print_exc()
                    entry[name] = {"error": type(e).__name__}
            weights.append(entry)

    meta = {"python": sys.version.split()[0], "unicode": unicodedata.unidata_version,
            "transformers": transformers.__version__, "regex": regex.__version__,
            "torch": torch.__version__, "comfyui": "a125cd84"}
    with open(os.path.join(DATA, "expected_ids.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "ids": ids}, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(DATA, "expected_weights.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "prompts": weights}, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(DATA, "embeddings.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "calls": calls}, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    # Python float() on the strings a weight may carry.
    floats = []
    for x in FLOAT_CASES:
        try:
            floats.append([x, repr(float(x))])
        except ValueError:
            floats.append([x, None])
    with open(os.path.join(DATA, "expected_floats.json"), "w", encoding="utf-8") as f:
        json.dump(floats, f, indent=0, ensure_ascii=False)  # raw UTF-8 (see make_corpus.py)
        f.write("\n")
    print(len(prompts), "prompts;", len(calls), "embedding lookups;", len(floats), "floats")


if __name__ == "__main__":
    main()
