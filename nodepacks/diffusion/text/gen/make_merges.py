#!/usr/bin/env python3
"""Writes data/clip_merges.txt from OpenAI's bpe_simple_vocab_16e6.txt.gz.

The gz file ships inside the open_clip_torch wheel on PyPI:
    pip download open_clip_torch --no-deps
    unzip -p open_clip_torch-*.whl open_clip/bpe_simple_vocab_16e6.txt.gz > bpe.gz
    python3 gen/make_merges.py bpe.gz data/clip_merges.txt

CLIP's tokenizer uses the merge lines 1 .. 48894 (after the "#version" header):
49152 - 256 - 2 of them.  The rest of the file is never read, so the converted
form keeps only those lines, one merge "a b" per line, in rank order.
"""
import gzip
import sys

N_MERGES = 49152 - 256 - 2


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_merges.py bpe_simple_vocab_16e6.txt.gz out.txt")
    with gzip.open(sys.argv[1], "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1:1 + N_MERGES]
    if len(merges) != N_MERGES or any(len(m.split(" ")) != 2 for m in merges):
        sys.exit("unexpected merges file layout")
    with open(sys.argv[2], "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(merges) + "\n")


if __name__ == "__main__":
    main()
