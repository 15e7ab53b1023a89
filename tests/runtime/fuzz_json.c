/*
 * runtime_fuzz_json — a bounded fuzz run of the JSON layer: cd_json_parse
 * (bounded depth), cd_json_dump (Python's json.dumps form) and the value
 * conversions (cd_value_from_json / cd_value_to_json).
 *
 * Starting from a built-in seed corpus, it applies random mutations (bit
 * flips, byte insertions and deletions, truncation, splices of seeds) for
 * --seconds and checks, for every input, that it is either refused with a
 * reason or accepted with these properties:
 *   - the dump is pure ASCII and re-parses;
 *   - dumping the re-parsed document gives the same text (idempotent);
 *   - converting to a comfy_value and back dumps to the same text too.
 * Usage: runtime_fuzz_json [--seconds N] [--seed S]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pyjson.h"
#include "value.h"

#define MAX_INPUT 4096

static const char *const seeds[] = {
    "{\"prompt\": {\"1\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": "
    "18446744073709551615, \"cfg\": 8.0, \"steps\": 20, \"model\": [\"4\", 0]}}}}",
    "[1, -2, 3.5, 1e-05, 1e+16, true, false, null, \"x\", [], {}]",
    "{\"a\": \"\\u00e9\\ud83d\\ude00\\n\\t\\\"\", \"b\": [NaN, Infinity, -Infinity]}",
    "{\"client_id\": \"abc\", \"extra_data\": {\"extra_pnginfo\": {\"workflow\": "
    "{\"nodes\": [{\"id\": 1, \"pos\": [10.5, 20.25]}]}}}}",
    "-9223372036854775808",
    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
    "[[[[[[[[[[1]]]]]]]]]]",
    "{\"k\": 0.1, \"k2\": 123456789012345678901234567890}",
};
#define N_SEEDS (sizeof seeds / sizeof seeds[0])

static uint64_t rng;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int failures;

static char *dump(const struct json_object *o)
{
    return cd_json_to_string(o, 1 << 20);
}

static void check_one(const char *in, size_t len)
{
    char err[128];
    struct json_object *o = cd_json_parse(in, len, 64, err, sizeof err);
    if (!o) {
        if (!err[0]) {
            fprintf(stderr, "refused without a reason\n");
            failures++;
        }
        return;
    }
    char *a = dump(o);
    if (!a) {
        fprintf(stderr, "dump failed\n");
        failures++;
        json_object_put(o);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p >= 0x80) {
            fprintf(stderr, "non-ASCII output: %s\n", a);
            failures++;
            break;
        }
    struct json_object *o2 = cd_json_parse(a, strlen(a), 64, err, sizeof err);
    char *b = o2 ? dump(o2) : NULL;
    if (!b || strcmp(a, b) != 0) {
        fprintf(stderr, "not idempotent:\n  %s\n  %s\n", a, b ? b : err);
        failures++;
    }
    comfy_value *v = cd_value_from_json(o);
    struct json_object *back = v ? cd_value_to_json(v) : NULL;
    char *c = (v && (back || cd_value_kind(v) == COMFY_KIND_NONE)) ? dump(back) : NULL;
    if (!c || strcmp(a, c) != 0) {
        fprintf(stderr, "value round trip differs:\n  %s\n  %s\n", a, c ? c : "(null)");
        failures++;
    }
    free(a);
    free(b);
    free(c);
    json_object_put(o);
    json_object_put(o2);
    json_object_put(back);
    cd_value_release(v);
}

static size_t mutate(char *buf, size_t len)
{
    int n = 1 + (int)(next() % 4);
    for (int k = 0; k < n; k++) {
        switch (next() % 6) {
        case 0: /* bit flip */
            if (len)
                buf[next() % len] ^= (char)(1u << (next() % 8));
            break;
        case 1: /* set a byte to something JSON-ish */
            if (len) {
                static const char js[] = "{}[]\",:\\0123456789.eE+-nulltruefalseNaI \x80\xff";
                buf[next() % len] = js[next() % (sizeof js - 1)];
            }
            break;
        case 2: /* delete a byte */
            if (len) {
                size_t i = next() % len;
                memmove(buf + i, buf + i + 1, len - i - 1);
                len--;
            }
            break;
        case 3: /* insert a byte */
            if (len < MAX_INPUT - 1) {
                size_t i = next() % (len + 1);
                memmove(buf + i + 1, buf + i, len - i);
                buf[i] = (char)(next() & 0xff);
                len++;
            }
            break;
        case 4: /* truncate */
            if (len)
                len = next() % len;
            break;
        default: { /* splice in part of a seed */
            const char *s = seeds[next() % N_SEEDS];
            size_t sl = strlen(s), from = next() % (sl + 1), n2 = next() % (sl - from + 1);
            size_t at = next() % (len + 1);
            if (len + n2 < MAX_INPUT) {
                memmove(buf + at + n2, buf + at, len - at);
                memcpy(buf + at, s + from, n2);
                len += n2;
            }
        }
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    double seconds = 3;
    rng = 0x9E3779B97F4A7C15ULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--seed") == 0)
            rng ^= strtoull(argv[i + 1], NULL, 10) * 0x100000001B3ULL;
    }
    for (size_t i = 0; i < N_SEEDS; i++)
        check_one(seeds[i], strlen(seeds[i]));
    char buf[MAX_INPUT];
    long runs = 0;
    clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
    while (clock() < end && failures < 10) {
        const char *s = seeds[next() % N_SEEDS];
        size_t len = strlen(s);
        memcpy(buf, s, len);
        for (int gen = 0; gen < 8 && failures < 10; gen++) {
            len = mutate(buf, len);
            check_one(buf, len);
            runs++;
        }
    }
    printf("%ld inputs, %d failures\n", runs, failures);
    return failures ? 1 : 0;
}
