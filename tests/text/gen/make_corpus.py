#!/usr/bin/env python3
"""Writes tests/text/data/prompts.json: the tokenizer test corpus.

Hand-written prompts (typical SD prompts, weight syntax, embeddings, unicode
corner cases, whitespace and control characters, special-token strings) plus
deterministic generated ones (seeded): random mixes of words, symbols,
weights and code points from across Unicode.  Run from the repo root:
    python3 tests/text/gen/make_corpus.py
"""
import json
import random
import unicodedata

OUT = "tests/text/data/prompts.json"

HAND = [
    "", " ", "a", "A photo of a cat", "a photo of an astronaut riding a horse on mars",
    "masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile",
    "(masterpiece:1.2), (best quality), ((ultra detailed)), [low quality], {curly}",
    "portrait of a woman, 85mm, f/1.4, bokeh, 8k uhd, dslr, soft lighting, high quality, film grain",
    "landscape, mountains, river, sunset, (golden hour:1.3), (clouds:0.8), trending on artstation",
    "a cute corgi wearing sunglasses, digital art by greg rutkowski and alphonse mucha",
    "cyberpunk city at night, neon lights, rain, reflections, blade runner style, 4k",
    "(a)", "((a))", "(((a)))", "(a:1.5)", "((a:1.5))", "((a):1.5)", "(a:1.5:2.0)", "(:1.2)",
    "(a:)", "(a: 1.5 )", "(a:1e-1)", "(a:inf)", "(a:-inf)", "(a:nan)", "(a:+2)", "(a:.5)",
    "(a:5.)", "(a:1_000)", "(a:0x10)", "(a:1,5)", "(a:abc)", "(a:1.2) b (c:0.5) d",
    "(a(b)", "a(b", "a)b", "a) ((b))", ")(a)", "((a)", "(a))", "(a)(b)(c)", "(a (b (c:1.3) d) e)",
    "((a, b:1.2), c)", "(a:1.1)(b:1.2)", "\\(a\\)", "\\(a:1.5\\)", "(\\(a\\):1.3)", "a\\b\\\\c",
    "\\[a\\]", "a\\:b", "(a\\)b)", "(a\\(b)", "\\\\(a)", "()", "(())", "( )", "(\n)",
    "[word]", "[[word]]", "{word}", "<lora:foo:0.8>", "<hypernet:bar:1>",
    "embedding:emb_a", "embedding:emb_a, a cat", "a cat, embedding:emb_a", "a cat embedding:emb_a",
    "a cat\nembedding:emb_b dog", "embedding:emb_a embedding:emb_b", "(embedding:emb_a:1.2)",
    "(a cat embedding:emb_a:1.3)", "embedding:emb_a,, a dog", "embedding:emb_a, a dog",
    "embedding:,emb_a,", "embedding:missing_one, cat", "a embedding:emb_c b", "embedding:sub/emb_c",
    "embedding:emb_d", "embedding:emb_a.safetensors", "xembedding:emb_a", "a,embedding:emb_a",
    "embedding: emb_a", "embedding:", "embedding:emb_a\n\ncat", "Embedding:emb_a",
    "embedding:emb_l, embedding:emb_list", "embedding:emb_bundle",
    "the cat's toy", "I'm sure you'll say it's we've they're he'd", "'s 't 're 've 'm 'll 'd",
    "'S 'T 'RE 'VE 'M 'LL 'D", "''s", "'''", "dog's", "'ſ", "<|startoftext|>", "<|endoftext|>",
    "a <|endoftext|> b", "a<|startoftext|>b", "<|ENDOFTEXT|>", "!!<|endoftext|>", "<|endoftext|>!!",
    "<|ſtartoftext|>", "<|endoftext|", "<|endof text|>", "<<|endoftext|>>", "<|startoftext|><|endoftext|>",
    "café", "cafe\u0301", "naïve résumé façade", "Ångström", "A\u030angstro\u0308m", "ﬁne ﬂour",
    "Straße", "STRASSE", "İstanbul", "ΟΔΥΣΣΕΥΣ", "ΣΊΣΥΦΟΣ", "σΣ", "ΑΣ.", "Σ", "AΣ'B", "ΑΣ\u0301",
    "Ωmega K Å", "ǅungla ǈ ǋ", "Ａｂｃ　ＦＵＬＬ", "１２３", "㎏ ㎞ ℃ ™ ©", "½ ¼ ² ³ ⅷ ⑦",
    "٣٤٥ ۱۲ ১২", "猫と犬", "一只可爱的猫咪，坐在窗台上。", "東京タワー", "ひらがな カタカナ ｶﾀｶﾅ",
    "한국어 문장입니다", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af", "ㄱㄴㄷ",
    "𠀀𠀁 𪜀 𫝀 𬺰", "丽 丸 乁", "\u2f800\u2fa1d", "Привет мир", "Ελληνικά", "עברית", "مرحبا بالعالم",
    "नमस्ते दुनिया", "สวัสดีครับ", "ሰላም", "ᚠᚢᚦ", "Ꭰ Ꭱ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝐁𝐨𝐥𝐝",
    "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵🇺🇸", "❤️", "❤\ufe0e", "✨ sparkles ✨", "a🐱b",
    "🔥🔥🔥 fire", "☃ ☂ ☀", "∑∫∂√∞≠≈", "→←↑↓", "♠♣♥♦", "★☆", "©®™", "§¶†‡",
    "!!!", "???", "...", "!?!?", "--", "---", "~~~", "***", "###", "$$$", "%%%", "^^^", "&&&",
    "@@@", "|||", "///", "\\\\\\", ",,,", ";;;", "::::", "(((((", ")))))", "[[[[", "]]]]",
    "a.b.c", "a,b,c", "a-b_c", "a/b", "https://example.com/path?q=1&x=2", "user@example.com",
    "#hashtag @mention", "$100 50% 3.14 -2 +7 1e10 1,000,000", "1234567890", "0.5", "v1.5", "sd_xl_base_1.0",
    "2girls 3boys", "4k 8k 16k", "1990s", "A1111", "x2 ×2 2x", "R2-D2 C-3PO",
    "tab\tseparated\twords", "new\nline", "carriage\rreturn", "crlf\r\nend", "  leading and trailing  ",
    "multiple     spaces", "nbsp\u00a0here", "ideo\u3000space", "em\u2003space", "line\u2028sep",
    "para\u2029sep", "zw\u200bsp", "zwnj\u200cx", "zwj\u200dx", "bom\ufeffx", "soft\u00adhyphen",
    "nul\u0000char", "bell\u0007char", "del\u007fchar", "nel\u0085char", "vt\u000bff\u000c",
    "esc\u001b[31mred", "rlm\u200fx", "lrm\u200ex", "\ufffdreplacement", "private\ue000use",
    "\U000f0000plane15", "tag\U000e0041chars", "var\ufe0fsel", "a\u0308\u0301\u0323b", "o\u0323\u0302",
    "\u0323\u0302start", "x\u0345\u0301", "\u0f73", "\u0344", "\u1e9b\u0323", "\u212b \u2126 \u212a",
    "e\u0301\u0301", "\u00c5\u0301", "\u0041\u030a\u0301", "ḍ̇", "q\u0307\u0323",
    "a embedding:", "a\nembedding:\n", "(a:\u0661.\u0665)", "(a:1_0)", "(a:\u00a01.5\u3000)",
    "(" * 50 + "deep" + ")" * 50, "(" * 30 + "a:0.5" + ")" * 30 + " b", "((a:1.2) (b:0.8):1.5)",
    "embedding:emb_a ,a", "embedding:,,emb_b,, x", "embedding:\u00e9mb_a,", "embedding:emb_a\u3000tail",
    "(embedding:emb_b)", "a (b embedding:emb_l c:1.4) d", "embedding:emb_a embedding:emb_a " * 30,
    "a" * 100, "ab" * 60, "x" * 300, "the quick brown fox jumps over the lazy dog " * 12,
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "antidisestablishmentarianism " * 5, ", ".join(["word%d" % i for i in range(90)]),
    " ".join(["(token%d:1.%d)" % (i, i % 10) for i in range(40)]),
    "(" + "very long weighted prompt " * 20 + ":1.2)",
    "short, (" + "group " * 9 + "), " * 10,
    "a, " * 80, "1 2 3 4 5 6 7 8 9 0 " * 10, "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
]


def long_prompts(rng):
    words = ("beautiful detailed painting of a castle on a hill surrounded by fog and ancient "
             "forest trees with glowing mushrooms highly detailed intricate elegant sharp focus "
             "illustration concept art matte dramatic lighting volumetric").split()
    out = []
    for n in (74, 75, 76, 77, 150, 151, 200, 400):
        out.append(" ".join(rng.choice(words) for _ in range(n)))
    # boundary cases for the 77-token windows: short groups near the edge
    for fill in (70, 71, 72, 73, 74, 75):
        out.append(" ".join(["cat"] * fill) + " (a b c d e f g:1.2) tail")
        out.append(" ".join(["cat"] * fill) + " (a b c:1.2) (d e f g h i j k l m:0.9) tail")
    # single long runs (BPE of one long word)
    for n in (1000, 3000):
        out.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)))
        out.append("".join(rng.choice("eatrsnio") for _ in range(n)))
        out.append("".join(rng.choice("\u00e9\u00e0\u00fc\u00f1\u4e00\u3042\u0436") for _ in range(n // 3)))
    out.append("".join(rng.choice("!?.,-_*#") for _ in range(2000)))
    return out


POOL_WORDS = ("cat dog girl boy city forest neon light shadow red blue green gold silver "
              "portrait landscape photo painting anime realistic 3d render octane unreal "
              "masterpiece quality detailed sharp blurry bokeh hdr raw").split()
POOL_PUNCT = list(",.;:!?-_/\\|@#$%^&*+=~`'\"<>[]{}") + ["...", "--", "!!", "?!"]
BLOCKS = [(0x20, 0x7E), (0xA0, 0x17F), (0x180, 0x24F), (0x300, 0x36F), (0x370, 0x3FF),
          (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF),
          (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x2070, 0x218F), (0x2190, 0x23FF),
          (0x2460, 0x27BF), (0x3000, 0x30FF), (0x3130, 0x318F), (0x3400, 0x4DBF),
          (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFB00, 0xFB4F),
          (0xFE00, 0xFE6F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1FAFF),
          (0x20000, 0x2A6DF), (0x2F800, 0x2FA1F), (0xE0000, 0xE007F)]


def rand_cp(rng, anywhere=False):
    while True:
        if anywhere:
            cp = rng.randrange(1, 0x110000)
        else:
            lo, hi = rng.choice(BLOCKS)
            cp = rng.randint(lo, hi)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        return chr(cp)


def rand_weight(rng):
    return rng.choice(["1.2", "0.8", "1.5", "0.5", "1", "2", "1.05", "0.33", " 1.1 ", "1e0"])


def generated(rng):
    out = []
    for _ in range(180):  # word/punctuation/weight mixes
        parts = []
        for _ in range(rng.randint(1, 25)):
            r = rng.random()
            if r < 0.55:
                parts.append(rng.choice(POOL_WORDS))
            elif r < 0.7:
                parts.append(rng.choice(POOL_PUNCT))
            elif r < 0.8:
                parts.append(str(rng.randint(0, 99999)))
            elif r < 0.9:
                inner = " ".join(rng.choice(POOL_WORDS) for _ in range(rng.randint(1, 4)))
                k = rng.random()
                if k < 0.4:
                    parts.append("(%s:%s)" % (inner, rand_weight(rng)))
                elif k < 0.7:
                    parts.append("(" * rng.randint(1, 3) + inner + ")" * rng.randint(0, 3))
                else:
                    parts.append("\\(" + inner + "\\)")
            else:
                parts.append("".join(rand_cp(rng) for _ in range(rng.randint(1, 6))))
        seps = [" ", ", ", ",", "  ", "\n", "\t", ""]
        s = ""
        for p in parts:
            s += p + rng.choice(seps)
        out.append(s)
    for _ in range(100):  # code points from common blocks
        out.append("".join(rand_cp(rng) for _ in range(rng.randint(1, 30))))
    for _ in range(60):  # code points from anywhere (assigned or not)
        out.append("".join(rand_cp(rng, anywhere=True) for _ in range(rng.randint(1, 20))))
    for _ in range(40):  # letters with random combining marks (NFC work)
        s = ""
        for _ in range(rng.randint(1, 12)):
            s += rng.choice("aeiouAEIOUnNcCsSzZyYwWhHtTkKgG αΑωΩ\u1100\u1161")
            for _ in range(rng.randint(0, 3)):
                s += chr(rng.choice([0x300, 0x301, 0x302, 0x303, 0x308, 0x30A, 0x30C, 0x323,
                                     0x327, 0x328, 0x331, 0x342, 0x345, 0x11A8, 0x0F71]))
        out.append(s)
    for _ in range(30):  # Greek with sigmas in every context
        out.append("".join(rng.choice("ΣΣσςΑΒΓΔΟΥ'.\u0301\u0345 ab1-") for _ in range(rng.randint(1, 15))))
    return out


def main():
    rng = random.Random(20261122)
    prompts = HAND + long_prompts(rng) + generated(rng)
    seen = set()
    uniq = []
    for p in prompts:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    with open(OUT, "w", encoding="utf-8") as f:
        # Raw UTF-8, not \uXXXX escapes: json-c 0.16 mangles escaped
        # surrogate pairs that straddle its read chunks into U+FFFD.
        json.dump(uniq, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(len(uniq), "prompts")


if __name__ == "__main__":
    main()
