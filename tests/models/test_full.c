/* models_full_sd15: a full-width SD1.5 f16 checkpoint (2.1 GB) is written
 * to $TMPDIR, opened through the cache, checked tensor for tensor against
 * the arch table and detected as SD1.x at real widths.  Slow (about 15 s of
 * writing), so it carries the ctest label no-asan. */
#include <math.h>
#include <unistd.h>

#include "arch.h"
#include "ckpt_writer.h"
#include "detect.h"
#include "modelfile.h"
#include "testutil.h"

typedef struct ctx {
    const cd_model_file *f;
    size_t n;
} ctx;

static int check_cb(const cd_arch_tensor *t, void *ud)
{
    ctx *c = ud;
    const cd_tensor *x = cd_model_file_find(c->f, t->name);
    c->n++;
    if (!x) {
        fprintf(stderr, "missing %s\n", t->name);
        t_failures++;
        return 0;
    }
    CHECK_EQ(x->ndim, t->ndim);
    for (int i = 0; i < t->ndim; i++)
        CHECK_EQ(x->shape[i], t->shape[i]);
    CHECK(x->dtype == (t->is_int64 ? CD_DT_I64 : CD_DT_F16));
    return 0;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/models_full_sd15_%d.safetensors", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    const cd_arch *a = cd_arch_get(CD_ARCH_SD15, CD_WIDTH_FULL);
    uint64_t bytes = 0, params = 0;
    int r = cd_ckpt_write(a, CD_DT_F16, 0, path, &bytes, &params, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    CHECK_EQ(params, 1066247307ull);
    cd_model_cache *cache = cd_model_cache_new(4);
    cd_model_file *f = NULL;
    CHECK_EQ(cd_model_cache_get(cache, path, &f, err, sizeof err), 0);
    if (f) {
        ctx c = {f, 0};
        cd_arch_foreach(a, check_cb, &c);
        CHECK_EQ(c.n, cd_model_file_count(f));
        cd_detect d;
        CHECK_EQ(cd_detect_checkpoint(cd_model_file_index(f), &d, err, sizeof err), 0);
        CHECK_EQ(d.family, CD_FAMILY_SD1);
        CHECK_EQ(d.reduced_width, 0);
        CHECK_EQ(d.prediction, CD_PRED_EPS);
        CHECK_EQ(d.n_text, 1);
        CHECK_EQ(d.has_vae, 1);
        /* the largest tensor converts and stays finite */
        const cd_tensor *t = cd_model_file_find(f, "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");
        size_t n = (size_t)cd_tensor_numel(t);
        float *v = malloc(n * sizeof *v);
        CHECK_EQ(cd_tensor_to_f32(t, v, n), 0);
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += (double)v[i] * v[i];
        CHECK(fabs(sqrt(s / (double)n) - 0.02) < 0.001);
        free(v);
        printf("sd15 full: %zu tensors, %llu bytes, detected %s\n", cd_model_file_count(f),
               (unsigned long long)bytes, d.name);
        cd_model_file_unref(f);
    }
    cd_model_cache_free(cache);
    unlink(path);
    return test_done("models_full_sd15");
}
