/* lora_patch.c — applying resolved LoRA patches to a UNet state dict and
 * to loaded text encoders (see lora.h). */
#include "lora.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "clip_text_model.h"

void cd_lora_substs_free(cd_lora_substs *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->s[i].owned)
            free(s->s[i].data);
    free(s->s);
    memset(s, 0, sizeof *s);
}

static cd_lora_subst *subst_add(cd_lora_substs *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        cd_lora_subst *n = realloc(s->s, cap * sizeof *n);
        if (!n)
            return NULL;
        s->s = n;
        s->cap = cap;
    }
    cd_lora_subst *e = &s->s[s->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static void tensor_as_f32(cd_tensor *t, float *data)
{
    t->dtype = CD_DT_F32;
    t->data = data;
    t->nbytes = (uint64_t)cd_tensor_numel(t) * sizeof(float);
}

int cd_lora_substs_borrow(cd_lora_substs *subs, cd_tensor *t, float *data)
{
    cd_lora_subst *e = subst_add(subs);
    if (!e)
        return COMFY_ENOMEM;
    e->name = t->name;
    e->data = data;
    e->owned = 0;
    tensor_as_f32(t, data);
    return COMFY_OK;
}

/* f to the nearest f16 value (ties to even), as an f32: the mantissa
 * rounded to 10 bits in place where f is a normal f16, the library's
 * conversions elsewhere (subnormals, overflow, NaN). */
static float round_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x38800000u && a < 0x477fe000u) { /* 2^-14 <= |f| < 65504 */
        u = (u + 0x0fffu + ((u >> 13) & 1u)) & ~0x1fffu;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    return cd_f16_to_f32(cd_f32_to_f16(f));
}

static void say(const cd_lora_log *log, int level, const char *what, const char *key)
{
    if (!log || !log->fn)
        return;
    char msg[700];
    snprintf(msg, sizeof msg, "%s %s", what, key);
    log->fn(log->ctx, level, msg);
}

int cd_lora_patch_unet(ck_pool *pool, const cd_sd *tsd, const char *prefix,
                       const cd_lora_set *set, double strength, cd_lora_substs *subs,
                       const cd_lora_log *log, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->n; i++) {
        const cd_lora_patch *p = &set->p[i];
        if (strncmp(p->to, "diffusion_model.", 16) != 0)
            continue;
        char name[600];
        if (snprintf(name, sizeof name, "%s%s", prefix, p->to + 16) >= (int)sizeof name)
            continue;
        cd_tensor *t = (cd_tensor *)cd_sd_find(tsd, name);
        if (!t || !cd_dtype_is_float(t->dtype)) {
            say(log, 2, "NOT LOADED", p->to);
            continue;
        }
        cd_lora_subst *e = NULL;
        for (size_t j = 0; j < subs->n; j++)
            if (subs->s[j].name == t->name)
                e = &subs->s[j];
        int64_t numel = cd_tensor_numel(t);
        if (!e || !e->owned) {
            float *d = malloc((size_t)(numel ? numel : 1) * sizeof *d);
            if (!d)
                return COMFY_ENOMEM;
            if (cd_tensor_to_f32(t, d, (size_t)numel) != 0) {
                free(d);
                snprintf(err, errlen, "cannot read tensor %s", t->name);
                return COMFY_EINVAL;
            }
            if (!e && !(e = subst_add(subs))) {
                free(d);
                return COMFY_ENOMEM;
            }
            e->name = t->name;
            e->data = d;
            e->owned = 1;
            subs->bytes += (uint64_t)numel * sizeof(float);
            tensor_as_f32(t, d);
        }
        int rc = cd_lora_apply(pool, p, strength, e->data, t->shape, t->ndim, log);
        if (rc < 0)
            return rc;
    }
    return COMFY_OK;
}

/* A copy of src sharing every array (owns none yet). */
cd_clip_text_model *cd_lora_clip_shallow(const cd_clip_text_model *src)
{
    cd_clip_text_model *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    *m = *src;
    m->owned = NULL;
    m->n_owned = 0;
    m->layer = malloc((size_t)(src->cfg.layers ? src->cfg.layers : 1) * sizeof *m->layer);
    if (!m->layer) {
        free(m);
        return NULL;
    }
    memcpy(m->layer, src->layer, (size_t)src->cfg.layers * sizeof *m->layer);
    return m;
}

/* Makes *field an array of n floats m owns (a copy the first time). */
static float *own_field(cd_clip_text_model *m, float **field, int64_t n, uint64_t *bytes)
{
    for (size_t i = 0; i < m->n_owned; i++)
        if (m->owned[i] == *field)
            return *field;
    float **o = realloc(m->owned, (m->n_owned + 1) * sizeof *o);
    if (!o)
        return NULL;
    m->owned = o;
    float *c = malloc((size_t)n * sizeof *c);
    if (!c)
        return NULL;
    memcpy(c, *field, (size_t)n * sizeof *c);
    m->owned[m->n_owned++] = c;
    *field = c;
    *bytes += (uint64_t)n * sizeof(float);
    return c;
}

/* The array of HF name `name` ("text_model.encoder.layers.3.mlp.fc1.weight")
 * in m, made m's own; its shape in shape/ndim.  NULL with *oom 0 when m has
 * no such weight. */
static float *clip_target(cd_clip_text_model *m, const char *name, int64_t *shape, int *ndim,
                          uint64_t *bytes, int *oom)
{
    const cd_clip_text_config *c = &m->cfg;
    int64_t W = c->width;
    *oom = 0;
    float **f = NULL;
    int64_t r = 0, k = 1;
    if (strcmp(name, "text_model.embeddings.token_embedding.weight") == 0)
        f = &m->tok_emb, r = c->vocab, k = W;
    else if (strcmp(name, "text_model.embeddings.position_embedding.weight") == 0)
        f = &m->pos_emb, r = c->positions, k = W;
    else if (strcmp(name, "text_model.final_layer_norm.weight") == 0)
        f = &m->final_w, r = W;
    else if (strcmp(name, "text_model.final_layer_norm.bias") == 0)
        f = &m->final_b, r = W;
    else if (strcmp(name, "text_projection.weight") == 0 && m->proj)
        f = &m->proj, r = W, k = W;
    if (f) {
        shape[0] = r;
        shape[1] = k;
        *ndim = k > 1 ? 2 : 1;
        float *d = own_field(m, f, r * k, bytes);
        *oom = !d;
        return d;
    }
    const char *pre = "text_model.encoder.layers.";
    if (strncmp(name, pre, strlen(pre)) != 0)
        return NULL;
    char *end;
    long li = strtol(name + strlen(pre), &end, 10);
    if (end == name + strlen(pre) || *end != '.' || li < 0 || li >= c->layers)
        return NULL;
    cd_clip_text_layer *L = &m->layer[li];
    const char *sub = end + 1;
    int64_t mlp = c->mlp;
    static const char *const qkv[3] = {"self_attn.q_proj.", "self_attn.k_proj.",
                                       "self_attn.v_proj."};
    for (int part = 0; part < 3; part++) {
        size_t l = strlen(qkv[part]);
        if (strncmp(sub, qkv[part], l) != 0)
            continue;
        int is_w = strcmp(sub + l, "weight") == 0;
        if (!is_w && strcmp(sub + l, "bias") != 0)
            return NULL;
        if (is_w) {
            float *d = own_field(m, &L->qkv_w, 3 * W * W, bytes);
            if (!d) {
                *oom = 1;
                return NULL;
            }
            L->q_w = d;
            L->k_w = d + W * W;
            L->v_w = d + 2 * W * W;
            shape[0] = W;
            shape[1] = W;
            *ndim = 2;
            return d + part * W * W;
        }
        float *d = own_field(m, &L->qkv_b, 3 * W, bytes);
        if (!d) {
            *oom = 1;
            return NULL;
        }
        L->q_b = d;
        L->k_b = d + W;
        L->v_b = d + 2 * W;
        shape[0] = W;
        *ndim = 1;
        return d + part * W;
    }
    static const struct {
        const char *name;
        size_t off;
        int rows_mlp, cols; /* cols: 0 vector, 1 W, 2 mlp */
    } tab[] = {
        {"layer_norm1.weight", offsetof(cd_clip_text_layer, ln1_w), 0, 0},
        {"layer_norm1.bias", offsetof(cd_clip_text_layer, ln1_b), 0, 0},
        {"layer_norm2.weight", offsetof(cd_clip_text_layer, ln2_w), 0, 0},
        {"layer_norm2.bias", offsetof(cd_clip_text_layer, ln2_b), 0, 0},
        {"self_attn.out_proj.weight", offsetof(cd_clip_text_layer, o_w), 0, 1},
        {"self_attn.out_proj.bias", offsetof(cd_clip_text_layer, o_b), 0, 0},
        {"mlp.fc1.weight", offsetof(cd_clip_text_layer, fc1_w), 1, 1},
        {"mlp.fc1.bias", offsetof(cd_clip_text_layer, fc1_b), 1, 0},
        {"mlp.fc2.weight", offsetof(cd_clip_text_layer, fc2_w), 0, 2},
        {"mlp.fc2.bias", offsetof(cd_clip_text_layer, fc2_b), 0, 0},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcmp(sub, tab[i].name) != 0)
            continue;
        float **fp = (float **)(void *)((char *)L + tab[i].off);
        int64_t rows = tab[i].rows_mlp ? mlp : W;
        int64_t cols = tab[i].cols == 0 ? 1 : tab[i].cols == 1 ? W : mlp;
        shape[0] = rows;
        shape[1] = cols;
        *ndim = tab[i].cols ? 2 : 1;
        float *d = own_field(m, fp, rows * cols, bytes);
        *oom = !d;
        return d;
    }
    return NULL;
}


int cd_lora_patch_clip(ck_pool *pool, cd_clip_text_model *l, cd_clip_text_model *g,
                       const char *g_name, const cd_lora_set *set, double strength,
                       const cd_lora_log *log, uint64_t *bytes)
{
    size_t gl = g_name ? strlen(g_name) : 0;
    for (size_t i = 0; i < set->n; i++) {
        const cd_lora_patch *p = &set->p[i];
        cd_clip_text_model *m = NULL;
        const char *rest = NULL;
        if (strncmp(p->to, "clip_l.transformer.", 19) == 0) {
            m = l;
            rest = p->to + 19;
        } else if (gl && strncmp(p->to, g_name, gl) == 0 &&
                   strncmp(p->to + gl, ".transformer.", 13) == 0) {
            m = g;
            rest = p->to + gl + 13;
        }
        if (!rest)
            continue; /* a UNet key */
        if (m && !m->proj && strcmp(rest, "text_projection.weight") == 0)
            continue; /* ComfyUI's SD1 CLIP-L has one its pooled output never uses */
        int64_t shape[2] = {1, 1};
        int ndim = 1, oom = 0;
        float *wd = m ? clip_target(m, rest, shape, &ndim, bytes, &oom) : NULL;
        if (oom)
            return COMFY_ENOMEM;
        if (!wd) {
            say(log, 2, "NOT LOADED", p->to);
            continue;
        }
        int rc = cd_lora_apply(pool, p, strength, wd, shape, ndim, log);
        if (rc < 0)
            return rc;
        /* ComfyUI keeps text encoders in f16 (text_encoder_dtype) and
         * stores the patched weight back in it, rounding to nearest */
        int64_t n = ndim == 2 ? shape[0] * shape[1] : shape[0];
        for (int64_t j = 0; j < n; j++)
            wd[j] = round_f16(wd[j]);
    }
    return COMFY_OK;
}
