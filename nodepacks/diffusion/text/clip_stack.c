/*
 * clip_stack.c — a CLIP object's text side (see clip_stack.h).
 */
#include "clip_stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "arch.h"

int cd_clip_stack_new(cd_clip_family family, cd_clip_text_model *l, cd_clip_text_model *g,
                      cd_clip_stack **out)
{
    *out = NULL;
    int need_l = family == CD_CLIP_SD1 || family == CD_CLIP_SDXL;
    int need_g = family != CD_CLIP_SD1;
    if ((need_l && !l) || (need_g && !g) || (int)family < 0 || family > CD_CLIP_SDXL_REFINER) {
        cd_clip_text_model_free(l);
        cd_clip_text_model_free(g);
        return COMFY_EINVAL;
    }
    if (!need_l) {
        cd_clip_text_model_free(l);
        l = NULL;
    }
    if (!need_g) {
        cd_clip_text_model_free(g);
        g = NULL;
    }
    cd_clip_stack *s = calloc(1, sizeof *s);
    if (!s) {
        cd_clip_text_model_free(l);
        cd_clip_text_model_free(g);
        return COMFY_ENOMEM;
    }
    s->family = family;
    s->l = l;
    s->g = g;
    s->owns = 1;
    *out = s;
    return 0;
}

void cd_clip_stack_free(cd_clip_stack *s)
{
    if (!s)
        return;
    if (s->owns) {
        cd_clip_text_model_free(s->l);
        cd_clip_text_model_free(s->g);
    }
    free(s);
}

cd_clip_stack *cd_clip_stack_view(const cd_clip_stack *s)
{
    cd_clip_stack *v = malloc(sizeof *v);
    if (!v)
        return NULL;
    *v = *s;
    v->owns = 0;
    return v;
}

void cd_clip_stack_set_last_layer(cd_clip_stack *s, int k)
{
    s->clip_skip = k;
}

/* Heads of a reduced-width encoder: from the small arch tables. */
static int64_t small_heads(const cd_text_encoder *te)
{
    for (int id = 0; id < CD_ARCH_COUNT; id++) {
        const cd_arch *a = cd_arch_get((cd_arch_id)id, CD_WIDTH_SMALL);
        for (int k = 0; a && k < a->n_clip; k++)
            if (a->clip[k].width == te->width && a->clip[k].layers == te->layers &&
                (a->clip[k].layout == CD_CLIP_OPENCLIP) == (te->openclip_layout != 0))
                return a->clip[k].heads;
    }
    return 0;
}

int cd_clip_load_encoder(const cd_sd *sd, const cd_text_encoder *te, int reduced,
                         cd_clip_text_model **out, char *err, size_t errlen)
{
    return cd_clip_text_model_load(sd, te->prefix,
                                   te->openclip_layout ? CD_CLIP_NAMES_OPENCLIP : CD_CLIP_NAMES_HF,
                                   te->kind == CD_TEXT_CLIP_L ? CD_CLIP_ACT_QUICK_GELU : CD_CLIP_ACT_GELU,
                                   reduced ? small_heads(te) : 0, out, err, errlen);
}

int cd_clip_stack_load(const cd_sd *sd, const cd_detect *d, cd_clip_stack **out, char *err,
                       size_t errlen)
{
    cd_clip_text_model *l = NULL, *g = NULL;
    cd_clip_family fam;
    *out = NULL;
    switch (d->family) {
    case CD_FAMILY_SD1: fam = CD_CLIP_SD1; break;
    case CD_FAMILY_SD2: fam = CD_CLIP_SD2; break;
    case CD_FAMILY_SDXL: fam = CD_CLIP_SDXL; break;
    case CD_FAMILY_SDXL_REFINER: fam = CD_CLIP_SDXL_REFINER; break;
    default:
        snprintf(err, errlen, "no text encoder for this model family");
        return COMFY_EINVAL;
    }
    if (d->n_text == 0) {
        snprintf(err, errlen, "the checkpoint has no text encoder");
        return COMFY_ENOENT;
    }
    for (int t = 0; t < d->n_text; t++) {
        const cd_text_encoder *te = &d->text[t];
        cd_clip_text_model **slot = te->kind == CD_TEXT_CLIP_L ? &l : &g;
        if (*slot)
            continue;
        int rc = cd_clip_load_encoder(sd, te, d->reduced_width, slot, err, errlen);
        if (rc < 0) {
            cd_clip_text_model_free(l);
            cd_clip_text_model_free(g);
            return rc;
        }
    }
    int rc = cd_clip_stack_new(fam, l, g, out);
    if (rc == COMFY_EINVAL)
        snprintf(err, errlen, "the checkpoint lacks a text encoder its family needs");
    return rc;
}

void cd_clip_cond_free(cd_clip_cond *c)
{
    free(c->cond);
    free(c->pooled);
    memset(c, 0, sizeof *c);
}

typedef struct enc {
    const cd_clip_text_model *m;
    cd_clip_encode_opts o;
    cd_clip_tw_config cfg;
} enc;

/* The encoder setups of a stack: [0] = l, [1] = g/h (absent ones have m NULL). */
static void setups(const cd_clip_stack *s, enc e[2])
{
    memset(e, 0, 2 * sizeof *e);
    if (s->l) {
        e[0].m = s->l;
        cd_clip_encode_opts_preset(&e[0].o, s->family == CD_CLIP_SD1 ? "sd1" : "sdxl_l");
        cd_clip_tw_config_init(&e[0].cfg, "clip_l", (size_t)s->l->cfg.width);
    }
    if (s->g) {
        e[1].m = s->g;
        cd_clip_encode_opts_preset(&e[1].o, s->family == CD_CLIP_SD2 ? "sd2" : "sdxl_g");
        cd_clip_tw_config_init(&e[1].cfg, s->family == CD_CLIP_SD2 ? "clip_h" : "clip_g",
                               (size_t)s->g->cfg.width);
    }
    for (int i = 0; i < 2; i++) {
        if (!e[i].m)
            continue;
        if (s->clip_skip)
            cd_clip_encode_opts_set_layer(&e[i].o, e[i].m->cfg.layers, s->clip_skip);
        e[i].cfg.embed_fn = s->embed_fn;
        e[i].cfg.embed_ctx = s->embed_ctx;
        e[i].cfg.warn = s->warn;
        e[i].cfg.warn_ctx = s->warn_ctx;
    }
}

/* Encodes the prepared window lists tw[0] (l) / tw[1] (g) into out. */
static int encode_lists(const cd_clip_stack *s, ck_pool *pool, enc e[2], cd_clip_tw_list tw[2],
                        cd_clip_cond *out, char *err, size_t errlen)
{
    float *cond[2] = {NULL, NULL}, *pooled[2] = {NULL, NULL};
    int rc = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (!e[i].m)
            continue;
        pooled[i] = malloc((size_t)e[i].m->cfg.width * sizeof(float));
        if (!pooled[i]) {
            rc = COMFY_ENOMEM;
            break;
        }
        rc = cd_clip_encode_token_weights(pool, e[i].m, &e[i].o, &tw[i], &cond[i], pooled[i]);
        if (rc < 0)
            snprintf(err, errlen, "text encoder failed (%d)", rc);
    }
    if (rc == 0) {
        if (s->family == CD_CLIP_SDXL) {
            rc = cd_clip_sdxl_concat(cond[0], (int64_t)tw[0].n_chunks * CD_CLIP_WINDOW, s->l->cfg.width,
                                     cond[1], (int64_t)tw[1].n_chunks * CD_CLIP_WINDOW, s->g->cfg.width,
                                     &out->cond, &out->rows);
            out->width = s->l->cfg.width + s->g->cfg.width;
            out->pooled = pooled[1];
            out->pooled_width = s->g->cfg.width;
            pooled[1] = NULL;
        } else {
            int i = e[0].m ? 0 : 1;
            out->cond = cond[i];
            cond[i] = NULL;
            out->rows = (int64_t)tw[i].n_chunks * CD_CLIP_WINDOW;
            out->width = e[i].m->cfg.width;
            out->pooled = pooled[i];
            out->pooled_width = e[i].m->cfg.width;
            pooled[i] = NULL;
        }
    }
    for (int i = 0; i < 2; i++) {
        free(cond[i]);
        free(pooled[i]);
    }
    if (rc < 0)
        cd_clip_cond_free(out);
    return rc;
}

static int tokenize(const enc *e, const char *text, size_t len, cd_clip_tw_list *tw, char *err,
                    size_t errlen)
{
    const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
    if (!tok) {
        snprintf(err, errlen, "out of memory building the tokenizer");
        return COMFY_ENOMEM;
    }
    int rc = cd_clip_tokenize_with_weights(tok, &e->cfg, text, len, tw);
    if (rc < 0)
        snprintf(err, errlen, "%s", tw->error[0] ? tw->error : "tokenization failed");
    return rc;
}

int cd_clip_stack_encode(const cd_clip_stack *s, ck_pool *pool, const char *text, size_t len,
                         cd_clip_cond *out, char *err, size_t errlen)
{
    enc e[2];
    cd_clip_tw_list tw[2];
    memset(tw, 0, sizeof tw);
    setups(s, e);
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        if (e[i].m)
            rc = tokenize(&e[i], text, len, &tw[i], err, errlen);
    if (rc == 0)
        rc = encode_lists(s, pool, e, tw, out, err, errlen);
    cd_clip_tw_list_free(&tw[0]);
    cd_clip_tw_list_free(&tw[1]);
    return rc;
}

int cd_clip_stack_encode_sdxl(const cd_clip_stack *s, ck_pool *pool, const char *text_g,
                              size_t len_g, const char *text_l, size_t len_l, cd_clip_cond *out,
                              char *err, size_t errlen)
{
    if (s->family != CD_CLIP_SDXL) {
        snprintf(err, errlen, "CLIPTextEncodeSDXL needs an SDXL CLIP");
        return COMFY_EINVAL;
    }
    enc e[2];
    cd_clip_tw_list tw[2], empty;
    memset(tw, 0, sizeof tw);
    memset(&empty, 0, sizeof empty);
    setups(s, e);
    int rc = tokenize(&e[0], text_l, len_l, &tw[0], err, errlen);
    if (rc == 0)
        rc = tokenize(&e[1], text_g, len_g, &tw[1], err, errlen);
    /* Pad the shorter list with the empty prompt's windows (of its own
     * tokenizer). */
    for (int i = 0; rc == 0 && i < 2; i++) {
        int other = 1 - i;
        if (tw[i].n_chunks >= tw[other].n_chunks)
            continue;
        if ((rc = tokenize(&e[i], "", 0, &empty, err, errlen)) < 0)
            break;
        while (rc == 0 && tw[i].n_chunks < tw[other].n_chunks)
            rc = cd_clip_tw_list_append(&tw[i], &empty);
        cd_clip_tw_list_free(&empty);
    }
    if (rc == 0)
        rc = encode_lists(s, pool, e, tw, out, err, errlen);
    cd_clip_tw_list_free(&tw[0]);
    cd_clip_tw_list_free(&tw[1]);
    return rc;
}
