/* runtime_pyjson: Python json.dumps compatibility of runtime/pyjson.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "pyjson.h"

static void check_double(double d, const char *want)
{
    cd_buf b;
    cd_buf_init(&b, 256);
    CHECK(cd_json_dump_double(&b, d) == 0);
    CHECK_STR(b.data, want);
    cd_buf_free(&b);
}

static void check_string(const char *s, size_t len, const char *want)
{
    cd_buf b;
    cd_buf_init(&b, 1024);
    CHECK(cd_json_dump_string(&b, s, len) == 0);
    CHECK_STR(b.data, want);
    cd_buf_free(&b);
}

/* Parses `text` and dumps it again; compares with `want`. */
static void check_roundtrip(const char *text, const char *want)
{
    char err[128];
    struct json_object *o = cd_json_parse(text, strlen(text), 32, err, sizeof err);
    CHECK(o != NULL || strcmp(text, "null") == 0);
    cd_buf b;
    cd_buf_init(&b, 4096);
    CHECK(cd_json_dump(&b, o) == 0);
    CHECK_STR(b.data, want);
    cd_buf_free(&b);
    json_object_put(o);
}

int main(void)
{
    /* Python repr(float) for a table of values. */
    static const struct { double d; const char *s; } floats[] = {
        {8.0, "8.0"}, {0.5, "0.5"}, {0.1, "0.1"}, {1e-05, "1e-05"},
        {1.5e-05, "1.5e-05"}, {0.0001, "0.0001"}, {1e16, "1e+16"},
        {1e15, "1000000000000000.0"}, {9999999999999998.0, "9999999999999998.0"},
        {1728700000.1234567, "1728700000.1234567"}, {1.0 / 3, "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666"}, {100.0, "100.0"}, {1e22, "1e+22"},
        {1.23e-18, "1.23e-18"}, {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"}, {-2.5, "-2.5"},
        {0.0, "0.0"}, {-0.0, "-0.0"}, {123456789.0, "123456789.0"},
        {0.01, "0.01"}, {3.14159, "3.14159"}, {1e100, "1e+100"},
        {18446744073709551615.0, "1.8446744073709552e+19"},
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        check_double(floats[i].d, floats[i].s);
    check_double(NAN, "NaN");
    check_double(INFINITY, "Infinity");
    check_double(-INFINITY, "-Infinity");

    /* ensure_ascii escapes. */
    check_string("plain", 5, "\"plain\"");
    check_string("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    check_string("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    check_string("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    check_string("caf\xc3\xa9", 5, "\"caf\\u00e9\"");
    check_string("\xe2\x82\xac", 3, "\"\\u20ac\"");
    check_string("\xf0\x9f\x98\x80", 4, "\"\\ud83d\\ude00\"");
    check_string("\xff", 1, "\"\\ufffd\"");
    check_string("a\0b", 3, "\"a\\u0000b\"");

    /* Documents: separators, key order, integers of every size. */
    check_roundtrip("{\"b\":1,\"a\":[1,2.0,\"x\"],\"c\":{}}",
                    "{\"b\": 1, \"a\": [1, 2.0, \"x\"], \"c\": {}}");
    check_roundtrip("[18446744073709551615, -9223372036854775808, 9223372036854775807]",
                    "[18446744073709551615, -9223372036854775808, 9223372036854775807]");
    check_roundtrip("{\"max\": 18446744073709551615}", "{\"max\": 18446744073709551615}");
    check_roundtrip("[1e-5, 8, 8.0, 1E16]", "[1e-05, 8, 8.0, 1e+16]");
    check_roundtrip("[true, false, null]", "[true, false, null]");
    check_roundtrip("[NaN, Infinity, -Infinity]", "[NaN, Infinity, -Infinity]");
    check_roundtrip("\"\\u00e9\\ud83d\\ude00\"", "\"\\u00e9\\ud83d\\ude00\"");

    /* Escaped surrogate pairs, including those json-c 0.16 alone decodes
     * to U+FFFD (high surrogate ending in 0x36/0x37 modulo 0x40). */
    check_roundtrip("\"\\ud837\\ude00 \\uD876\\uDC00 \\ud835\\udc00\"",
                    "\"\\ud837\\ude00 \\ud876\\udc00 \\ud835\\udc00\"");
    /* An escaped backslash does not start a pair; the lone low surrogate
     * left over reads as U+FFFD (Python would keep it: a known gap). */
    check_roundtrip("{\"\\ud8f7\\udfff\": \"\\\\ud837\\ude00\"}",
                    "{\"\\ud8f7\\udfff\": \"\\\\ud837\\ufffd\"}");
    for (unsigned hi = 0xD800; hi <= 0xDBFF; hi++) {
        char in[32], want[32];
        snprintf(in, sizeof in, "\"\\u%04x\\u%04x\"", hi, 0xDC00 + (hi & 0x3FF));
        snprintf(want, sizeof want, "\"\\u%04x\\u%04x\"", hi, 0xDC00 + (hi & 0x3FF));
        struct json_object *so = cd_json_parse(in, strlen(in), 4, (char[64]){0}, 64);
        char *got = cd_json_to_string(so, 64);
        if (!got || strcmp(got, want) != 0) {
            CHECK_STR(got, want);
            free(got);
            json_object_put(so);
            break;
        }
        free(got);
        json_object_put(so);
    }

    uint64_t u = 0;
    char err[128];
    struct json_object *o = cd_json_parse("18446744073709551615", 20, 4, err, sizeof err);
    CHECK(o && cd_json_is_uint64(o, &u) && u == UINT64_MAX);
    json_object_put(o);
    o = cd_json_parse("9223372036854775807", 19, 4, err, sizeof err);
    CHECK(o && !cd_json_is_uint64(o, NULL));
    json_object_put(o);

    /* Integers beyond 64 bits are refused rather than clamped. */
    CHECK(cd_json_parse("[18446744073709551616]", 22, 8, err, sizeof err) == NULL);
    CHECK(strstr(err, "64-bit") != NULL);
    CHECK(cd_json_parse("-9223372036854775809", 20, 8, err, sizeof err) == NULL);
    CHECK(cd_json_parse("123456789012345678901234567890", 30, 8, err, sizeof err) == NULL);
    check_roundtrip("[\"18446744073709551616\", 1.8446744073709552e19, 1e400, -0]",
                    "[\"18446744073709551616\", 1.8446744073709552e+19, Infinity, 0]");
    check_roundtrip("{\"a\\\"1\": 99999999999999999999.5}",
                    "{\"a\\\"1\": 1e+20}");

    /* Errors: bad text, trailing data, depth. */
    CHECK(cd_json_parse("{", 1, 8, err, sizeof err) == NULL);
    CHECK(cd_json_parse("[1] x", 5, 8, err, sizeof err) == NULL);
    CHECK(cd_json_parse("[[[[1]]]]", 9, 3, err, sizeof err) == NULL);
    CHECK(cd_json_parse("", 0, 8, err, sizeof err) == NULL);
    /* What Python's json.loads refuses. */
    static const char *const refused[] = {"[1,]", "{\"a\": 1,}", "[01]", "/*c*/1",
                                          "[nan]", "[inf]", "[.5]", "[+1]", "[-NaN]",
                                          "[1 2]", "{\"a\" 1}", "\"\\x41\""};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct json_object *r = cd_json_parse(refused[i], strlen(refused[i]), 8, err,
                                              sizeof err);
        if (r)
            fprintf(stderr, "accepted: %s\n", refused[i]);
        CHECK(r == NULL);
        json_object_put(r);
    }
    check_roundtrip(" \n[-Infinity, 1e5, -0.0e-0] \t", "[-Infinity, 100000.0, -0.0]");
    check_roundtrip("  42  ", "42");

    /* The buffer ceiling is a clean error. */
    cd_buf small;
    cd_buf_init(&small, 4);
    CHECK(cd_json_dump_string(&small, "toolong", 7) < 0);
    cd_buf_free(&small);

    CHECK_DONE();
}
