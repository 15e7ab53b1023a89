/* models_pickle: the restricted .ckpt/.pt reader on torch-made fixtures
 * (tests/models/data, made by gen/make_ckpt.py), on a pickle that tries to
 * call os.system, on a legacy file, and on truncated/mutated archives. */
#include <stdint.h>

#include "pickle_ckpt.h"
#include "testutil.h"

static volatile unsigned char sink; /* keeps the reads of mutated inputs */

static unsigned char *slurp(const char *name, size_t *n)
{
    char path[1024];
    const char *src = getenv("MODELS_SRC_DIR");
    snprintf(path, sizeof path, "%s/data/%s", src ? src : "tests/models", name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    unsigned char *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, fp);
    fclose(fp);
    return b;
}

static void check_f32(const cd_ckpt_file *f, const char *name, const float *want, size_t n)
{
    const cd_tensor *t = cd_ckpt_find(f, name);
    CHECK(t != NULL);
    if (!t)
        return;
    float got[64];
    CHECK_EQ(cd_tensor_numel(t), n);
    CHECK_EQ(cd_tensor_to_f32(t, got, n), 0);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "%s[%zu] = %g, want %g\n", name, i, got[i], want[i]);
            t_failures++;
            break;
        }
}

static void test_lightning(void)
{
    size_t n;
    unsigned char *b = slurp("lightning.ckpt", &n);
    cd_ckpt_file *f;
    char err[512] = "";
    if (!b) {
        t_failures++;
        return;
    }
    int r = cd_ckpt_open_mem(b, n, &f, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r) {
        fprintf(stderr, "%s\n", err);
        free(b);
        return;
    }
    CHECK_EQ(cd_ckpt_count(f), 8);
    const cd_tensor *t = cd_ckpt_find(f, "model.diffusion_model.input_blocks.0.0.weight");
    CHECK(t && t->dtype == CD_DT_F32 && t->ndim == 4 && t->shape[0] == 2 && t->shape[3] == 2);
    float w[24];
    for (int i = 0; i < 24; i++)
        w[i] = (float)i / 8;
    check_f32(f, "model.diffusion_model.input_blocks.0.0.weight", w, 24);
    check_f32(f, "model.diffusion_model.input_blocks.0.0.bias", (const float[]){1.5f, -2.0f}, 2);
    CHECK(cd_ckpt_find(f, "bf")->dtype == CD_DT_BF16);
    check_f32(f, "bf", (const float[]){1.0f, -3.0f, 0.5f}, 3);
    t = cd_ckpt_find(f, "ids");
    CHECK(t && t->dtype == CD_DT_I64 && t->ndim == 2 && t->shape[1] == 5);
    check_f32(f, "ids", (const float[]){0, 1, 2, 3, 4}, 5);
    t = cd_ckpt_find(f, "scalar");
    CHECK(t && t->ndim == 0);
    check_f32(f, "scalar", (const float[]){4.25f}, 1);
    check_f32(f, "view_offset", (const float[]){4, 5, 6, 7, 8, 9}, 6);
    check_f32(f, "param", (const float[]){1, 1, 1}, 3);
    CHECK(cd_ckpt_find(f, "global_step") == NULL);
    cd_ckpt_close(f);

    /* every truncation is refused cleanly */
    for (size_t k = 0; k < n; k++) {
        unsigned char *c = malloc(k ? k : 1);
        memcpy(c, b, k);
        err[0] = 0;
        r = cd_ckpt_open_mem(c, k, &f, err, sizeof err);
        if (r == 0)
            cd_ckpt_close(f); /* cannot happen: the directory is at the end */
        CHECK(r < 0 && err[0]);
        free(c);
    }
    /* random byte mutations: never a crash, errors always explained */
    uint64_t s = 12345;
    for (int it = 0; it < 3000; it++) {
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        for (int m = 0; m < 3; m++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            c[(s >> 33) % n] ^= (unsigned char)(1u << ((s >> 20) % 8));
        }
        err[0] = 0;
        r = cd_ckpt_open_mem(c, n, &f, err, sizeof err);
        if (r == 0) {
            for (size_t i = 0; i < cd_ckpt_count(f); i++) {
                const cd_tensor *tt = cd_ckpt_tensor(f, i);
                unsigned char sum = 0;
                for (uint64_t k = 0; k < tt->nbytes; k++)
                    sum ^= ((const unsigned char *)tt->data)[k];
                sink ^= sum;
            }
            cd_ckpt_close(f);
        } else {
            CHECK(err[0] != 0);
        }
        free(c);
    }
    free(b);
}

static void test_module_and_noncontig(void)
{
    char path[1024], err[512] = "";
    const char *src = getenv("MODELS_SRC_DIR");
    cd_ckpt_file *f;
    snprintf(path, sizeof path, "%s/data/module.pt", src ? src : "tests/models");
    int r = cd_ckpt_open(path, &f, err, sizeof err);
    CHECK_EQ(r, 0);
    if (!r) {
        CHECK_EQ(cd_ckpt_count(f), 4);
        check_f32(f, "0.weight", (const float[]){1, 2, 3, 4, 5, 6}, 6);
        check_f32(f, "0.bias", (const float[]){0.5f, -0.5f}, 2);
        check_f32(f, "1.weight", (const float[]){1, 1}, 2);
        CHECK(strcmp(cd_ckpt_tensor(f, 0)->name, "0.weight") == 0);
        cd_ckpt_close(f);
    } else {
        fprintf(stderr, "%s\n", err);
    }
    snprintf(path, sizeof path, "%s/data/noncontig.pt", src ? src : "tests/models");
    r = cd_ckpt_open(path, &f, err, sizeof err);
    CHECK_EQ(r, 0);
    if (!r) {
        const cd_tensor *t = cd_ckpt_find(f, "t");
        CHECK(t && t->shape[0] == 3 && t->shape[1] == 2);
        check_f32(f, "t", (const float[]){0, 3, 1, 4, 2, 5}, 6);
        cd_ckpt_close(f);
    }
}

static void test_lightning_callbacks(void)
{
    char path[1024], err[512] = "";
    const char *src = getenv("MODELS_SRC_DIR");
    cd_ckpt_file *f;
    snprintf(path, sizeof path, "%s/data/lightning_callbacks.ckpt", src ? src : "tests/models");
    int r = cd_ckpt_open(path, &f, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ(cd_ckpt_count(f), 1);
    check_f32(f, "w", (const float[]){2.0f, 4.0f}, 2);
    cd_ckpt_close(f);
}

static void test_refused(void)
{
    char path[1024], err[512] = "";
    const char *src = getenv("MODELS_SRC_DIR");
    cd_ckpt_file *f;
    snprintf(path, sizeof path, "%s/data/evil.ckpt", src ? src : "tests/models");
    CHECK_EQ(cd_ckpt_open(path, &f, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "refusing to load global");
    CHECK_STR(err, "system");
    snprintf(path, sizeof path, "%s/data/legacy.pt", src ? src : "tests/models");
    CHECK_EQ(cd_ckpt_open(path, &f, err, sizeof err), CD_MODEL_EUNSUPPORTED);
    CHECK_STR(err, "legacy");
    snprintf(path, sizeof path, "%s/data/missing.ckpt", src ? src : "tests/models");
    CHECK_EQ(cd_ckpt_open(path, &f, err, sizeof err), CD_MODEL_EIO);
    const char junk[] = "PK\x03\x04 this is not really a zip file at all";
    CHECK_EQ(cd_ckpt_open_mem(junk, sizeof junk, &f, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "zip");
    CHECK_EQ(cd_ckpt_open_mem("hello", 5, &f, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK(cd_ckpt_sniff("PK\x03\x04", 4));
    CHECK(!cd_ckpt_sniff("{\"a", 3));
}

int main(void)
{
    test_lightning();
    test_module_and_noncontig();
    test_lightning_callbacks();
    test_refused();
    return test_done("models_pickle");
}
