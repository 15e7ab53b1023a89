#!/usr/bin/env python3
"""Writes a large random corpus for a differential run (not committed).

    python3 tests/text/gen/stress.py /tmp/stress 20000 7
    TEXT_DATA_DIR=/tmp/stress /work/venvs/text/bin/python tests/text/gen/make_expected.py /tmp/ComfyUI
    build/tests/text/test_text_tokenizer /tmp/stress
    build/tests/text/test_text_prompt /tmp/stress

Half the prompts are random code points (all planes, combining marks,
Hangul jamo, emoji, sigma, dotted I, long s, case and normal-form
changes), half random mixes of the prompt syntax (parentheses, weights,
escapes, embedding: pieces, special strings).  Written as raw UTF-8.
"""
import json
import os
import random
import sys
import unicodedata

SYNTAX = ["(", ")", "(", ")", ":", "\\(", "\\)", "\\", "1.5", "0.8", "2", "1e1", " ", " ", "  ", "\n", ",",
          "a", "cat", "dog", "embedding:emb_a", " embedding:emb_b", "\nembedding:emb_c", "embedding:missing",
          ",embedding:", "emb_a,", ",,", "[x]", "\u03a3", "\u00e9", "\u732b", "\U0001F600", "'s",
          "<|endoftext|>", "inf", "nan", "_", "-", ".", "word " * 10, "x" * 9]


def rand_cp(rng):
    while True:
        if rng.random() < 0.2:
            c = rng.randrange(0x110000)
        else:
            c = rng.choice([rng.randrange(0x80), rng.randrange(0x80, 0x800), rng.randrange(0x800, 0x3000),
                            rng.randrange(0x1100, 0x1200), rng.randrange(0x300, 0x370),
                            rng.randrange(0xAC00, 0xD7A4), rng.randrange(0x1F300, 0x1FAFF),
                            rng.randrange(0x3000, 0xA000), rng.randrange(0xFB00, 0x10000), 0x3A3, 0x345,
                            0x130, 0x17F, ord("'"), ord(" ")])
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def main():
    out_dir, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    prompts = []
    for i in range(n):
        if i % 2 == 0:
            s = "".join(rand_cp(rng) for _ in range(rng.randint(1, 40)))
            r = rng.random()
            if r < 0.15:
                s = s.upper()
            elif r < 0.3:
                s = unicodedata.normalize(rng.choice(["NFD", "NFKD", "NFKC"]), s)
        else:
            s = "".join(rng.choice(SYNTAX) for _ in range(rng.randint(1, 30)))
        prompts.append(s)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "prompts.json"), "w", encoding="utf-8") as f:
        json.dump(prompts, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
