/* models_cache: format sniffing, reference counts and the path + mtime +
 * size cache (a rewrite of the file is picked up, clear releases). */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "ckpt_writer.h"
#include "detect.h"
#include "modelfile.h"
#include "testutil.h"

int main(void)
{
    char path[512], ckpt[1024], err[512] = "";
    const char *src = getenv("MODELS_SRC_DIR");
    snprintf(path, sizeof path, "%s/models_cache.safetensors", test_dir());
    snprintf(ckpt, sizeof ckpt, "%s/data/lightning.ckpt", src ? src : "tests/models");
    const cd_arch *a = cd_arch_get(CD_ARCH_SD15, CD_WIDTH_SMALL);
    CHECK_EQ(cd_ckpt_write(a, CD_DT_F16, 1, path, NULL, NULL, err, sizeof err), 0);

    cd_model_file *f = NULL, *g = NULL, *h = NULL;
    CHECK_EQ(cd_model_file_open(ckpt, &f, err, sizeof err), 0);
    CHECK(f && cd_model_file_format(f) == CD_FORMAT_CKPT);
    CHECK(f && cd_model_file_safetensors(f) == NULL);
    CHECK(f && cd_model_file_find(f, "bf") != NULL);
    cd_model_file_unref(f);

    cd_model_cache *c = cd_model_cache_new(2);
    CHECK_EQ(cd_model_cache_get(c, path, &f, err, sizeof err), 0);
    CHECK_EQ(cd_model_cache_get(c, path, &g, err, sizeof err), 0);
    CHECK(f == g); /* same path, mtime and size: the cached object */
    CHECK(cd_model_file_format(f) == CD_FORMAT_SAFETENSORS);
    CHECK(cd_st_metadata_get(cd_model_file_safetensors(f), "comfyd.arch") != NULL);
    cd_detect d;
    CHECK_EQ(cd_detect_checkpoint(cd_model_file_index(f), &d, err, sizeof err), 0);
    CHECK_EQ(d.family, CD_FAMILY_SD1);
    CHECK_EQ(cd_model_cache_count(c), 1);
    CHECK_EQ(cd_model_cache_bytes(c), cd_model_file_size(f));
    cd_model_file_unref(g);

    /* rewrite with another seed and a later mtime: a new object */
    CHECK_EQ(cd_ckpt_write(a, CD_DT_F16, 2, path, NULL, NULL, err, sizeof err), 0);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec += 5;
    ts[1] = ts[0];
    utimensat(AT_FDCWD, path, ts, 0);
    CHECK_EQ(cd_model_cache_get(c, path, &h, err, sizeof err), 0);
    CHECK(h != f);
    CHECK_EQ(cd_model_cache_count(c), 1);
    /* the old object is still readable by its holder */
    const cd_tensor *t = cd_model_file_find(f, "model.diffusion_model.out.2.weight");
    CHECK(t != NULL);
    float v[4];
    if (t)
        CHECK_EQ(cd_tensor_to_f32(t, v, 0) == CD_MODEL_EINVAL, 1);
    cd_model_file_unref(f);

    /* LRU limit and clear */
    CHECK_EQ(cd_model_cache_get(c, ckpt, &g, err, sizeof err), 0);
    CHECK_EQ(cd_model_cache_count(c), 2);
    cd_model_cache_clear(c);
    CHECK_EQ(cd_model_cache_count(c), 0);
    CHECK_EQ(cd_model_cache_bytes(c), 0);
    CHECK(cd_model_file_find(h, "model.diffusion_model.out.2.weight") != NULL);
    cd_model_file_unref(g);
    cd_model_file_unref(h);

    /* errors */
    CHECK_EQ(cd_model_cache_get(c, "/nonexistent/x.safetensors", &f, err, sizeof err),
             CD_MODEL_EIO);
    CHECK_STR(err, "cannot open");
    cd_model_cache_free(c);
    unlink(path);
    return test_done("models_cache");
}
