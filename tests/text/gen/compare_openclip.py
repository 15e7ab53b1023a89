#!/usr/bin/env python3
"""Compares open_clip's SimpleTokenizer with the reference ids.

ComfyUI tokenizes with transformers' CLIPTokenizer (expected_ids.json).
open_clip's own tokenizer uses the same BPE data but another clean-up
(ftfy.fix_text, html.unescape twice, whitespace collapse, lower-casing of
the whole string) and other special strings (<start_of_text>,
<end_of_text>).  This script lists the corpus prompts on which the two
disagree, for the record (tests/text/data/openclip_differences.txt); it
is not a test.  Run in a venv that has ftfy (which must NOT be where the
reference ran: transformers switches to ftfy when it is importable):

    python3 -m venv --system-site-packages /work/venvs/text-oc
    /work/venvs/text-oc/bin/pip install ftfy regex
    /work/venvs/text-oc/bin/python tests/text/gen/compare_openclip.py \\
        open_clip/tokenizer.py open_clip/bpe_simple_vocab_16e6.txt.gz "open_clip_torch 3.3.0"
(the two files from the open_clip_torch wheel; the last argument labels them).
"""
import importlib.util
import json
import os
import sys

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def main():
    spec = importlib.util.spec_from_file_location("oc_tokenizer", sys.argv[1])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    tok = mod.SimpleTokenizer(bpe_path=sys.argv[2])
    prompts = json.load(open(os.path.join(DATA, "prompts.json"), encoding="utf-8"))
    ref = json.load(open(os.path.join(DATA, "expected_ids.json"), encoding="utf-8"))["ids"]
    lines = []
    for i, (p, want) in enumerate(zip(prompts, ref)):
        got = [49406] + tok.encode(p) + [49407]
        if got != want:
            lines.append("%d\t%s" % (i, json.dumps(p, ensure_ascii=True)[:120]))
    import ftfy
    with open(os.path.join(DATA, "openclip_differences.txt"), "w", encoding="utf-8") as f:
        label = sys.argv[3] if len(sys.argv) > 3 else "open_clip"
        f.write("# %s SimpleTokenizer (ftfy %s) vs transformers CLIPTokenizer: %d of %d prompts differ\n"
                % (label, ftfy.__version__, len(lines), len(prompts)))
        f.write("# index<TAB>prompt (JSON, cut at 120 chars)\n")
        for ln in lines:
            f.write(ln + "\n")
    print(len(lines), "of", len(prompts), "prompts differ")


if __name__ == "__main__":
    main()
