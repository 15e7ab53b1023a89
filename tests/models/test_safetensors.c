/* models_safetensors: the safetensors reader on good files and on a corpus
 * of broken ones made here (each must give a clear error, never a crash). */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "safetensors.h"
#include "testutil.h"

/* Builds an image: 8-byte length, header, then `data` bytes (ndata). */
static unsigned char *image(const char *header, const void *data, size_t ndata, size_t *size)
{
    size_t hl = strlen(header);
    *size = 8 + hl + ndata;
    unsigned char *b = malloc(*size ? *size : 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(((uint64_t)hl >> (8 * i)) & 0xff);
    memcpy(b + 8, header, hl);
    if (ndata)
        memcpy(b + 8 + hl, data, ndata);
    return b;
}

/* Opens an image, expecting failure rc with msg in the error. */
static void expect_fail(const char *header, size_t ndata, int rc, const char *msg)
{
    unsigned char zeros[256] = {0};
    size_t size;
    unsigned char *b = image(header, zeros, ndata, &size);
    cd_st_file *f = NULL;
    char err[512] = "";
    int r = cd_st_open_mem(b, size, &f, err, sizeof err);
    if (r != rc)
        fprintf(stderr, "header %s: rc %d (want %d), err '%s'\n", header, r, rc, err);
    CHECK_EQ(r, rc);
    CHECK(f == NULL);
    CHECK_STR(err, msg);
    free(b);
}

static void test_good(void)
{
    /* f16 [2,2] = 1, -2, 0.5, 65504; bf16 [2] = 1, -3; fp8 e4m3 [2]; e5m2 [1]; i64 [1] */
    unsigned char data[8 + 4 + 2 + 1 + 8 + 1];
    uint16_t h[4] = {0x3c00, 0xc000, 0x3800, 0x7bff};
    uint16_t bf[2] = {0x3f80, 0xc040};
    memcpy(data, h, 8);
    memcpy(data + 8, bf, 4);
    data[12] = 0x38; /* e4m3: 1.0 */
    data[13] = 0xc4; /* e4m3: -(1+4/8)*2^1 = -3 */
    data[14] = 0x3c; /* e5m2: 1.0 */
    int64_t iv = -7;
    memcpy(data + 15, &iv, 8);
    data[23] = 1;
    const char *hdr =
        "{\"__metadata__\":{\"format\":\"pt\",\"title\":\"t\\u00e9st\"},"
        "\"a.weight\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
        "\"c\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[12,14]},"
        "\"d\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[14,15]},"
        "\"e\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[15,23]},"
        "\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[23,23]},"
        "\"flag\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[23,24]}}   ";
    size_t size;
    unsigned char *b = image(hdr, data, sizeof data, &size);
    char path[512];
    snprintf(path, sizeof path, "%s/models_good.safetensors", test_dir());
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    fwrite(b, 1, size, fp);
    fclose(fp);
    free(b);

    cd_st_file *f;
    char err[256] = "";
    int r = cd_st_open(path, &f, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ(cd_st_count(f), 7);
    CHECK_EQ(cd_st_metadata_count(f), 2);
    CHECK(strcmp(cd_st_metadata_get(f, "format"), "pt") == 0);
    CHECK(strcmp(cd_st_metadata_get(f, "title"), "t\xc3\xa9st") == 0);
    CHECK(cd_st_metadata_get(f, "nope") == NULL);
    CHECK(cd_st_has_metadata(f));
    CHECK(strcmp(cd_st_tensor(f, 0)->name, "a.weight") == 0); /* file order */
    const cd_tensor *t = cd_st_find(f, "a.weight");
    CHECK(t && t->dtype == CD_DT_F16 && t->ndim == 2 && t->shape[1] == 2 && t->nbytes == 8);
    float v[4];
    CHECK_EQ(cd_st_read_f32(f, "a.weight", v, 4), 0);
    CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.5f && v[3] == 65504.0f);
    CHECK_EQ(cd_st_read_f32(f, "a.weight", v, 3), CD_MODEL_EINVAL);
    CHECK_EQ(cd_st_read_f32(f, "missing", v, 4), CD_MODEL_ENOTFOUND);
    CHECK_EQ(cd_st_read_f32(f, "b", v, 2), 0);
    CHECK(v[0] == 1.0f && v[1] == -3.0f);
    CHECK_EQ(cd_st_read_f32(f, "c", v, 2), 0);
    CHECK(v[0] == 1.0f && v[1] == -3.0f);
    CHECK_EQ(cd_st_read_f32(f, "d", v, 1), 0);
    CHECK(v[0] == 1.0f);
    CHECK_EQ(cd_st_read_f32(f, "e", v, 1), 0);
    CHECK(v[0] == -7.0f);
    t = cd_st_find(f, "z");
    CHECK(t && t->nbytes == 0 && cd_tensor_numel(t) == 0);
    cd_st_prefetch(f, cd_st_find(f, "a.weight"));
    int64_t mt;
    uint64_t sz;
    cd_st_identity(f, &mt, &sz);
    CHECK(mt > 0 && sz == 8 + strlen(hdr) + sizeof data);
    cd_st_close(f);
    unlink(path);
}

static void test_conversions(void)
{
    /* f16 round trip of every finite half, and rounding cases */
    for (uint32_t u = 0; u < 0x10000; u++) {
        uint16_t hbits = (uint16_t)u;
        if ((hbits & 0x7c00) == 0x7c00)
            continue;
        CHECK_EQ(cd_f32_to_f16(cd_f16_to_f32(hbits)), hbits);
    }
    CHECK_EQ(cd_f32_to_f16(65520.0f), 0x7c00);          /* overflow to inf */
    CHECK_EQ(cd_f32_to_f16(1.0f + 1.0f / 2048.0f), 0x3c00); /* tie to even */
    CHECK_EQ(cd_f32_to_f16(5.9604644775390625e-08f), 1);   /* smallest subnormal */
    CHECK_EQ(cd_f32_to_bf16(1.0f), 0x3f80);
    CHECK(isnan(cd_f16_to_f32(cd_f32_to_f16(NAN))));
    CHECK(isnan(cd_f8e4m3_to_f32(0x7f)));
    CHECK(cd_f8e4m3_to_f32(0x7e) == 448.0f);
    CHECK(cd_f8e4m3_to_f32(0x01) == 0.001953125f);
    CHECK(cd_f8e5m2_to_f32(0x7b) == 57344.0f);
}

static void test_corpus(void)
{
    unsigned char tiny[4] = {1, 2, 3, 4};
    cd_st_file *f = NULL;
    char err[512];
    /* truncated: fewer than 8 bytes */
    CHECK_EQ(cd_st_open_mem(tiny, 4, &f, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "too short");
    /* header length beyond the limit */
    unsigned char big[16] = {0};
    big[3] = 0x10; /* 256 MiB */
    CHECK_EQ(cd_st_open_mem(big, sizeof big, &f, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "exceeds");
    /* header length past the end of the file */
    unsigned char past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK_EQ(cd_st_open_mem(past, sizeof past, &f, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "past the end");
    /* all-ones length (overflow bait) */
    unsigned char ones[16];
    memset(ones, 0xff, sizeof ones);
    CHECK_EQ(cd_st_open_mem(ones, sizeof ones, &f, err, sizeof err), CD_MODEL_EFORMAT);

    expect_fail("[1,2]", 0, CD_MODEL_EFORMAT, "does not start with a JSON object");
    expect_fail("{\"a\":", 0, CD_MODEL_EFORMAT, "header JSON is invalid");
    expect_fail("{\"a\":{\"dtype\":\"F32\"}} x", 0, CD_MODEL_EFORMAT, "");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}xx", 4,
                CD_MODEL_EFORMAT, "trailing bytes");
    expect_fail("{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]}", 0, CD_MODEL_EFORMAT, "header JSON is invalid");
    expect_fail("{\"a\":3}", 0, CD_MODEL_EFORMAT, "not a JSON object");
    expect_fail("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CD_MODEL_EFORMAT, "dtype");
    expect_fail("{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                CD_MODEL_EUNSUPPORTED, "unknown dtype");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                CD_MODEL_EFORMAT, "shape[0]");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                CD_MODEL_EFORMAT, "shape[0]");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                4, CD_MODEL_EUNSUPPORTED, "dimensions");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                CD_MODEL_EFORMAT, "does not match");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                "\"data_offsets\":[0,4]}}", 4, CD_MODEL_EFORMAT, "does not match");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4,
                CD_MODEL_EFORMAT, "outside the data region");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
                CD_MODEL_EFORMAT, "outside the data region");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                CD_MODEL_EFORMAT, "data_offsets");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}",
                4, CD_MODEL_EFORMAT, "");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                CD_MODEL_EFORMAT, "overlaps");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                CD_MODEL_EFORMAT, "gap");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
                CD_MODEL_EFORMAT, "cover");
    expect_fail("{\"__metadata__\":{\"k\":1}}", 0, CD_MODEL_EFORMAT, "__metadata__");
    expect_fail("{\"__metadata__\":[]}", 0, CD_MODEL_EFORMAT, "__metadata__");
    expect_fail("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                CD_MODEL_EFORMAT, "name");
    /* duplicate keys: json-c keeps one entry, so the data is not covered */
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                CD_MODEL_EFORMAT, "");
    {
        char h[64] = "{\"a\":1}";
        h[3] = 0; /* NUL inside the header */
        size_t size;
        unsigned char *b = image("{\"a\":1234}", NULL, 0, &size);
        b[10] = 0;
        CHECK_EQ(cd_st_open_mem(b, size, &f, err, sizeof err), CD_MODEL_EFORMAT);
        CHECK_STR(err, "NUL");
        free(b);
        (void)h;
    }
    /* empty and missing files on disk */
    char path[512];
    snprintf(path, sizeof path, "%s/models_empty.safetensors", test_dir());
    FILE *fp = fopen(path, "wb");
    if (fp)
        fclose(fp);
    CHECK_EQ(cd_st_open(path, &f, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "too short");
    unlink(path);
    CHECK_EQ(cd_st_open(path, &f, err, sizeof err), CD_MODEL_EIO);
    CHECK_STR(err, "cannot open");
    CHECK_EQ(cd_st_open("/", &f, err, sizeof err), CD_MODEL_EIO);
}

/* Every truncation of a valid file is refused cleanly. */
static void test_truncations(void)
{
    const char *hdr = "{\"__metadata__\":{\"a\":\"b\"},"
                      "\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"y\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
    unsigned char data[32] = {0};
    size_t size;
    unsigned char *b = image(hdr, data, sizeof data, &size);
    cd_st_file *f;
    char err[512];
    for (size_t n = 0; n < size; n++) {
        unsigned char *c = malloc(n ? n : 1);
        memcpy(c, b, n);
        int r = cd_st_open_mem(c, n, &f, err, sizeof err);
        CHECK(r == CD_MODEL_EFORMAT);
        CHECK(err[0] != 0);
        free(c);
    }
    CHECK_EQ(cd_st_open_mem(b, size, &f, err, sizeof err), 0);
    cd_st_close(f);
    free(b);
}

/* A file from the reference writer (safetensors.torch; gen/make_ckpt.py). */
static void test_reference(void)
{
    char path[1024], err[256] = "";
    const char *src = getenv("MODELS_SRC_DIR");
    snprintf(path, sizeof path, "%s/data/reference.safetensors", src ? src : "tests/models");
    cd_st_file *f;
    int r = cd_st_open(path, &f, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ(cd_st_count(f), 6);
    CHECK(strcmp(cd_st_metadata_get(f, "note"), "made by safetensors.torch") == 0);
    float v[4];
    CHECK_EQ(cd_st_read_f32(f, "f32", v, 4), 0);
    CHECK(v[0] == 1.0f && v[1] == -2.5f && v[2] == 3.25f && v[3] == 1e-8f);
    CHECK_EQ(cd_st_read_f32(f, "f16", v, 3), 0);
    CHECK(v[0] == 0.5f && v[1] == -65504.0f && v[2] == cd_f16_to_f32(1)); /* 6e-8 -> 2^-24 */
    CHECK_EQ(cd_st_read_f32(f, "bf16", v, 3), 0);
    CHECK(v[0] == 1.0f && v[1] == -3.0f && v[2] == cd_bf16_to_f32(cd_f32_to_bf16(1e30f)));
    CHECK_EQ(cd_st_read_f32(f, "i64", v, 2), 0);
    CHECK(v[0] == -7.0f && v[1] == 1099511627776.0f);
    CHECK_EQ(cd_st_read_f32(f, "u8", v, 2), 0);
    CHECK(v[0] == 0.0f && v[1] == 255.0f);
    const cd_tensor *t = cd_st_find(f, "empty");
    CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3);
    cd_st_close(f);
}

int main(void)
{
    test_reference();
    test_good();
    test_conversions();
    test_corpus();
    test_truncations();
    return test_done("models_safetensors");
}
