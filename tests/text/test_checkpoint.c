/*
 * test_checkpoint.c — text encoders loaded from generated single-file
 * checkpoints (comfyd-mkcheckpoint's writer, reduced width) with their
 * real key names: SD1.5 (CLIP-L, HF names), SD2.1 (OpenCLIP-H), SDXL (CLIP-L
 * + bigG) and the SDXL refiner (bigG).  The prefixes come from the
 * detector; the encoders must load, encode a weighted prompt under their
 * ComfyUI options, and give finite [77, width] conditioning; SDXL's two
 * are concatenated to [77, width_l + width_g].  (Numerical parity with
 * ComfyUI is text_encoder's job; this checks the wiring with real names.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <comfy/comfy.h>

#include "ckpt_writer.h"
#include "clip_stack.h"
#include "detect.h"
#include "safetensors.h"
#include "text_check.h"

static void run(cd_arch_id id, const char *dir, ck_pool *pool)
{
    const cd_arch *a = cd_arch_get(id, CD_WIDTH_SMALL);
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/text_ckpt_%s.safetensors", dir, a->name);
    int rc = cd_ckpt_write(a, CD_DT_F16, 7, path, NULL, NULL, err, sizeof err);
    CHECK(rc == 0, "write %s: %s", a->name, err);
    if (rc)
        return;
    cd_st_file *f = NULL;
    cd_detect d;
    rc = cd_st_open(path, &f, err, sizeof err);
    if (rc == 0)
        rc = cd_detect_checkpoint(cd_st_index(f), &d, err, sizeof err);
    CHECK(rc == 0 && d.n_text == a->n_clip, "%s: detect (%s), %d text encoders", a->name, err,
          rc ? -1 : d.n_text);
    if (rc || d.n_text != a->n_clip)
        goto out;
    float *conds[2] = {NULL, NULL};
    int64_t widths[2] = {0, 0};
    for (int t = 0; t < d.n_text; t++) {
        const cd_text_encoder *te = &d.text[t];
        const cd_clip_arch *ca = NULL;
        for (int k = 0; k < a->n_clip; k++)
            if (a->clip[k].layout == (te->openclip_layout ? CD_CLIP_OPENCLIP : CD_CLIP_HF) &&
                a->clip[k].width == te->width)
                ca = &a->clip[k];
        CHECK(ca != NULL, "%s: arch entry for %s", a->name, te->prefix);
        if (!ca)
            continue;
        const char *preset = te->kind == CD_TEXT_CLIP_L ? (d.n_text == 2 ? "sdxl_l" : "sd1")
                             : te->kind == CD_TEXT_CLIP_H ? "sd2"
                                                          : "sdxl_g";
        cd_clip_text_model *m = NULL;
        rc = cd_clip_text_model_load(cd_st_index(f), te->prefix,
                                     te->openclip_layout ? CD_CLIP_NAMES_OPENCLIP : CD_CLIP_NAMES_HF,
                                     te->kind == CD_TEXT_CLIP_L ? CD_CLIP_ACT_QUICK_GELU : CD_CLIP_ACT_GELU,
                                     ca->heads, &m, err, sizeof err);
        CHECK(rc == 0, "%s %s: load: %s", a->name, te->prefix, err);
        if (rc)
            continue;
        CHECK(m->cfg.width == ca->width && m->cfg.layers == ca->layers && m->cfg.mlp == ca->mlp,
              "%s: shapes", a->name);
        cd_clip_encode_opts o;
        cd_clip_encode_opts_preset(&o, preset);
        cd_clip_tw_config cfg;
        cd_clip_tw_config_init(&cfg, te->kind == CD_TEXT_CLIP_L ? "clip_l" : "clip_g", (size_t)m->cfg.width);
        cd_clip_tw_list tw;
        const char *prompt = "a (photo:1.2) of a cat, [sharp] focus";
        rc = cd_clip_tokenize_with_weights(cd_clip_tokenizer_shared(), &cfg, prompt, strlen(prompt), &tw);
        float *pooled = malloc((size_t)m->cfg.width * sizeof *pooled);
        if (rc == 0)
            rc = cd_clip_encode_token_weights(pool, m, &o, &tw, &conds[t], pooled);
        CHECK(rc == 0 && tw.n_chunks == 1, "%s %s: encode %d", a->name, preset, rc);
        if (rc == 0) {
            int finite = 1;
            for (int64_t i = 0; i < 77 * m->cfg.width; i++)
                finite &= isfinite(conds[t][i]);
            for (int64_t i = 0; i < m->cfg.width; i++)
                finite &= isfinite(pooled[i]);
            CHECK(finite, "%s %s: non-finite output", a->name, preset);
            widths[t] = m->cfg.width;
            printf("%-12s %-6s %-45s width %lld, %lld layers, %lld heads, projection %s\n", a->name,
                   preset, te->prefix, (long long)m->cfg.width, (long long)m->cfg.layers,
                   (long long)m->cfg.heads, m->proj ? "yes" : "no");
        }
        free(pooled);
        cd_clip_tw_list_free(&tw);
        cd_clip_text_model_free(m);
    }
    if (d.n_text == 2 && conds[0] && conds[1]) { /* SDXL: [l, g] on the feature axis */
        int li = d.text[0].kind == CD_TEXT_CLIP_L ? 0 : 1;
        int64_t wl = widths[li], wg = widths[1 - li], rows = 0;
        float *cat = NULL;
        rc = cd_clip_sdxl_concat(conds[li], 77, wl, conds[1 - li], 77, wg, &cat, &rows);
        CHECK(rc == 0 && rows == 77 && cat[5 * (wl + wg) + wl + 1] == conds[1 - li][5 * wg + 1] &&
                  cat[5 * (wl + wg) + 1] == conds[li][5 * wl + 1], "concat");
        free(cat);
    }
    free(conds[0]);
    free(conds[1]);

    /* The same through a stack, as CheckpointLoaderSimple + CLIPTextEncode. */
    cd_clip_stack *stack = NULL;
    rc = cd_clip_stack_load(cd_st_index(f), &d, &stack, err, sizeof err);
    CHECK(rc == 0, "%s: stack: %s", a->name, err);
    if (rc == 0) {
        cd_clip_cond cc;
        rc = cd_clip_stack_encode(stack, pool, "a (cat:1.3)", 11, &cc, err, sizeof err);
        int64_t want_w = stack->family == CD_CLIP_SDXL ? stack->l->cfg.width + stack->g->cfg.width
                         : stack->l                     ? stack->l->cfg.width
                                                        : stack->g->cfg.width;
        CHECK(rc == 0 && cc.rows == 77 && cc.width == want_w, "%s: stack encode %d (%s)", a->name, rc, err);
        cd_clip_cond_free(&cc);
        cd_clip_stack *v = cd_clip_stack_view(stack);
        cd_clip_stack_set_last_layer(v, -1);
        rc = cd_clip_stack_encode(v, pool, "a (cat:1.3)", 11, &cc, err, sizeof err);
        CHECK(rc == 0 && cc.rows == 77, "%s: clip skip -1", a->name);
        cd_clip_cond_free(&cc);
        cd_clip_stack_free(v);
        rc = cd_clip_stack_encode(stack, pool, "embedding:", 10, &cc, err, sizeof err);
        CHECK(rc == 0, "%s: without a loader embedding: is text", a->name);
        cd_clip_cond_free(&cc);
        if (stack->family == CD_CLIP_SDXL) {
            rc = cd_clip_stack_encode_sdxl(stack, pool, "a, b", 4, "", 0, &cc, err, sizeof err);
            CHECK(rc == 0 && cc.rows == 77 && cc.pooled_width == stack->g->cfg.width, "sdxl encode");
            cd_clip_cond_free(&cc);
        } else {
            CHECK(cd_clip_stack_encode_sdxl(stack, pool, "a", 1, "b", 1, &cc, err, sizeof err) ==
                      COMFY_EINVAL, "sdxl encode on %s", a->name);
        }
        cd_clip_stack_free(stack);
    }
    /* CLIPLoader's path: classify the file as a text encoder, load it. */
    cd_text_encoder te;
    rc = cd_detect_text_encoder(cd_st_index(f), &te, err, sizeof err);
    CHECK(rc == 0, "%s: detect text encoder: %s", a->name, err);
    if (rc == 0) {
        cd_clip_text_model *m = NULL;
        rc = cd_clip_load_encoder(cd_st_index(f), &te, 1, &m, err, sizeof err);
        CHECK(rc == 0 && m->cfg.width == te.width && m->cfg.layers == te.layers, "%s: CLIPLoader load %s",
              a->name, err);
        cd_clip_text_model_free(m);
    }
out:
    cd_st_close(f);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    ck_pool *pool = ck_pool_new(2);
    for (int id = 0; id < CD_ARCH_COUNT; id++)
        run((cd_arch_id)id, dir, pool);
    ck_pool_free(pool);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
