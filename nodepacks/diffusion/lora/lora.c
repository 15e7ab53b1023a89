/* lora.c — LoRA key maps, resolution and weight maths (see lora.h). */
#include "lora.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

/* ------------------------------------------------------------ key map */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void cd_lora_keys_free(cd_lora_keys *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->k[i].from);
        free(m->k[i].to);
    }
    free(m->k);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

static int rehash(cd_lora_keys *m, size_t nslot)
{
    uint32_t *s = calloc(nslot, sizeof *s);
    if (!s)
        return COMFY_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = hash_str(m->k[i].from) & (nslot - 1);
        while (s[j])
            j = (j + 1) & (nslot - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(m->slot);
    m->slot = s;
    m->nslot = nslot;
    return COMFY_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int cd_lora_keys_add(cd_lora_keys *m, const char *from, const char *to)
{
    if ((m->n + 1) * 2 > m->nslot && rehash(m, m->nslot ? m->nslot * 2 : 1024) < 0)
        return COMFY_ENOMEM;
    size_t j = hash_str(from) & (m->nslot - 1);
    while (m->slot[j]) {
        cd_lora_key *k = &m->k[m->slot[j] - 1];
        if (strcmp(k->from, from) == 0) { /* dict assignment: new value, old place */
            char *t = dup_str(to);
            if (!t)
                return COMFY_ENOMEM;
            free(k->to);
            k->to = t;
            return COMFY_OK;
        }
        j = (j + 1) & (m->nslot - 1);
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        cd_lora_key *k = realloc(m->k, cap * sizeof *k);
        if (!k)
            return COMFY_ENOMEM;
        m->k = k;
        m->cap = cap;
    }
    char *f = dup_str(from), *t = dup_str(to);
    if (!f || !t) {
        free(f);
        free(t);
        return COMFY_ENOMEM;
    }
    m->k[m->n].from = f;
    m->k[m->n].to = t;
    m->slot[j] = (uint32_t)(++m->n);
    return COMFY_OK;
}

/* snprintf into a fixed buffer; 0 or COMFY_EINVAL when it does not fit. */
static int fmt(char *dst, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *dst, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int k = vsnprintf(dst, cap, f, ap);
    va_end(ap);
    return k < 0 || (size_t)k >= cap ? COMFY_EINVAL : COMFY_OK;
}

static void dots_to_underscores(char *s)
{
    for (; *s; s++)
        if (*s == '.')
            *s = '_';
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

enum { KEY_CAP = 512 };

/* One diffusers -> LDM pair of unet_to_diffusers, both with ".weight" or
 * ".bias"; only weights give LoRA names. */
static int unet_pair(cd_lora_keys *m, const char *dk, const char *lk)
{
    if (!ends_with(dk, ".weight"))
        return COMFY_OK;
    char unet_key[KEY_CAP], base[KEY_CAP], name[KEY_CAP];
    int rc;
    if ((rc = fmt(unet_key, sizeof unet_key, "diffusion_model.%s", lk)) ||
        (rc = fmt(base, sizeof base, "%.*s", (int)(strlen(dk) - 7), dk)))
        return rc;
    char us[KEY_CAP];
    memcpy(us, base, strlen(base) + 1);
    dots_to_underscores(us);
    if ((rc = fmt(name, sizeof name, "lora_unet_%s", us)) ||
        (rc = cd_lora_keys_add(m, name, unet_key)) ||
        (rc = fmt(name, sizeof name, "lycoris_%s", us)) ||
        (rc = cd_lora_keys_add(m, name, unet_key)))
        return rc;
    /* diffusers / peft: ".to_" -> ".processor.to_", a final ".to_out.0"
     * loses its ".0" */
    char proc[KEY_CAP];
    size_t o = 0;
    for (const char *s = base; *s;) {
        if (strncmp(s, ".to_", 4) == 0) {
            const char *ins = ".processor.to_";
            size_t l = strlen(ins);
            if (o + l >= sizeof proc)
                return COMFY_EINVAL;
            memcpy(proc + o, ins, l);
            o += l;
            s += 4;
        } else {
            if (o + 1 >= sizeof proc)
                return COMFY_EINVAL;
            proc[o++] = *s++;
        }
    }
    proc[o] = 0;
    if (ends_with(proc, ".to_out.0"))
        proc[o - 2] = 0;
    static const char *const pfx[2] = {"", "unet."};
    for (int p = 0; p < 2; p++) {
        if ((rc = fmt(name, sizeof name, "%s%s", pfx[p], proc)) ||
            (rc = cd_lora_keys_add(m, name, unet_key)))
            return rc;
    }
    return COMFY_OK;
}

static const char *const map_attn[] = {"proj_in.weight", "proj_in.bias", "proj_out.weight",
                                       "proj_out.bias", "norm.weight", "norm.bias"};
static const char *const map_tblock[] = {
    "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "norm3.weight", "norm3.bias",
    "attn1.to_q.weight", "attn1.to_k.weight", "attn1.to_v.weight", "attn1.to_out.0.weight",
    "attn1.to_out.0.bias", "attn2.to_q.weight", "attn2.to_k.weight", "attn2.to_v.weight",
    "attn2.to_out.0.weight", "attn2.to_out.0.bias", "ff.net.0.proj.weight", "ff.net.0.proj.bias",
    "ff.net.2.weight", "ff.net.2.bias"};
/* LDM name, diffusers name */
static const char *const map_resnet[][2] = {
    {"in_layers.2.weight", "conv1.weight"},      {"in_layers.2.bias", "conv1.bias"},
    {"emb_layers.1.weight", "time_emb_proj.weight"}, {"emb_layers.1.bias", "time_emb_proj.bias"},
    {"out_layers.3.weight", "conv2.weight"},     {"out_layers.3.bias", "conv2.bias"},
    {"skip_connection.weight", "conv_shortcut.weight"},
    {"skip_connection.bias", "conv_shortcut.bias"},
    {"in_layers.0.weight", "norm1.weight"},      {"in_layers.0.bias", "norm1.bias"},
    {"out_layers.0.weight", "norm2.weight"},     {"out_layers.0.bias", "norm2.bias"}};
static const char *const map_basic[][2] = {
    {"label_emb.0.0.weight", "class_embedding.linear_1.weight"},
    {"label_emb.0.0.bias", "class_embedding.linear_1.bias"},
    {"label_emb.0.2.weight", "class_embedding.linear_2.weight"},
    {"label_emb.0.2.bias", "class_embedding.linear_2.bias"},
    {"label_emb.0.0.weight", "add_embedding.linear_1.weight"},
    {"label_emb.0.0.bias", "add_embedding.linear_1.bias"},
    {"label_emb.0.2.weight", "add_embedding.linear_2.weight"},
    {"label_emb.0.2.bias", "add_embedding.linear_2.bias"},
    {"input_blocks.0.0.weight", "conv_in.weight"},
    {"input_blocks.0.0.bias", "conv_in.bias"},
    {"out.0.weight", "conv_norm_out.weight"},
    {"out.0.bias", "conv_norm_out.bias"},
    {"out.2.weight", "conv_out.weight"},
    {"out.2.bias", "conv_out.bias"},
    {"time_embed.0.weight", "time_embedding.linear_1.weight"},
    {"time_embed.0.bias", "time_embedding.linear_1.bias"},
    {"time_embed.2.weight", "time_embedding.linear_2.weight"},
    {"time_embed.2.bias", "time_embedding.linear_2.bias"}};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The attention entries of one SpatialTransformer with `depth` blocks:
 * diffusers "<dh>.<name>" -> LDM "<lh>.<name>". */
static int unet_attn(cd_lora_keys *m, const char *dh, const char *lh, int depth)
{
    char dk[KEY_CAP], lk[KEY_CAP];
    int rc;
    for (size_t b = 0; b < NELEM(map_attn); b++)
        if ((rc = fmt(dk, sizeof dk, "%s.%s", dh, map_attn[b])) ||
            (rc = fmt(lk, sizeof lk, "%s.%s", lh, map_attn[b])) || (rc = unet_pair(m, dk, lk)))
            return rc;
    for (int t = 0; t < depth; t++)
        for (size_t b = 0; b < NELEM(map_tblock); b++)
            if ((rc = fmt(dk, sizeof dk, "%s.transformer_blocks.%d.%s", dh, t, map_tblock[b])) ||
                (rc = fmt(lk, sizeof lk, "%s.transformer_blocks.%d.%s", lh, t, map_tblock[b])) ||
                (rc = unet_pair(m, dk, lk)))
                return rc;
    return COMFY_OK;
}

static int unet_resnet(cd_lora_keys *m, const char *dh, const char *lh)
{
    char dk[KEY_CAP], lk[KEY_CAP];
    int rc;
    for (size_t b = 0; b < NELEM(map_resnet); b++)
        if ((rc = fmt(dk, sizeof dk, "%s.%s", dh, map_resnet[b][1])) ||
            (rc = fmt(lk, sizeof lk, "%s.%s", lh, map_resnet[b][0])) || (rc = unet_pair(m, dk, lk)))
            return rc;
    return COMFY_OK;
}

/* ComfyUI's unet_to_diffusers, walked in its order. */
static int unet_diffusers(cd_lora_keys *m, const cd_unet_config *c)
{
    char dh[KEY_CAP], lh[KEY_CAP], dk[KEY_CAP], lk[KEY_CAP];
    int rc, td = 0, tdo = c->n_transformer_depth_output;
    static const char *const wb[2] = {"weight", "bias"};
    for (int x = 0; x < c->n_levels; x++) {
        int n = 1 + (c->num_res_blocks[x] + 1) * x;
        for (int i = 0; i < c->num_res_blocks[x]; i++) {
            if ((rc = fmt(dh, sizeof dh, "down_blocks.%d.resnets.%d", x, i)) ||
                (rc = fmt(lh, sizeof lh, "input_blocks.%d.0", n)) || (rc = unet_resnet(m, dh, lh)))
                return rc;
            int nt = td < c->n_transformer_depth ? c->transformer_depth[td] : 0;
            td++;
            if (nt > 0 && ((rc = fmt(dh, sizeof dh, "down_blocks.%d.attentions.%d", x, i)) ||
                           (rc = fmt(lh, sizeof lh, "input_blocks.%d.1", n)) ||
                           (rc = unet_attn(m, dh, lh, nt))))
                return rc;
            n++;
        }
        for (int k = 0; k < 2; k++)
            if ((rc = fmt(dk, sizeof dk, "down_blocks.%d.downsamplers.0.conv.%s", x, wb[k])) ||
                (rc = fmt(lk, sizeof lk, "input_blocks.%d.0.op.%s", n, wb[k])) ||
                (rc = unet_pair(m, dk, lk)))
                return rc;
    }
    if ((rc = unet_attn(m, "mid_block.attentions.0", "middle_block.1",
                        c->transformer_depth_middle > 0 ? c->transformer_depth_middle : 0)))
        return rc;
    for (int i = 0; i < 2; i++)
        if ((rc = fmt(dh, sizeof dh, "mid_block.resnets.%d", i)) ||
            (rc = fmt(lh, sizeof lh, "middle_block.%d", 2 * i)) || (rc = unet_resnet(m, dh, lh)))
            return rc;
    for (int x = 0; x < c->n_levels; x++) {
        int nrb = c->num_res_blocks[c->n_levels - 1 - x];
        int n = (nrb + 1) * x, l = nrb + 1;
        for (int i = 0; i < l; i++) {
            int cc = 1;
            if ((rc = fmt(dh, sizeof dh, "up_blocks.%d.resnets.%d", x, i)) ||
                (rc = fmt(lh, sizeof lh, "output_blocks.%d.0", n)) || (rc = unet_resnet(m, dh, lh)))
                return rc;
            int nt = tdo > 0 ? c->transformer_depth_output[--tdo] : 0;
            if (nt > 0) {
                cc++;
                if ((rc = fmt(dh, sizeof dh, "up_blocks.%d.attentions.%d", x, i)) ||
                    (rc = fmt(lh, sizeof lh, "output_blocks.%d.1", n)) ||
                    (rc = unet_attn(m, dh, lh, nt)))
                    return rc;
            }
            if (i == l - 1)
                for (int k = 0; k < 2; k++)
                    if ((rc = fmt(dk, sizeof dk, "up_blocks.%d.upsamplers.0.conv.%s", x, wb[k])) ||
                        (rc = fmt(lk, sizeof lk, "output_blocks.%d.%d.conv.%s", n, cc, wb[k])) ||
                        (rc = unet_pair(m, dk, lk)))
                        return rc;
            n++;
        }
    }
    for (size_t b = 0; b < NELEM(map_basic); b++)
        if ((rc = unet_pair(m, map_basic[b][1], map_basic[b][0])))
            return rc;
    return COMFY_OK;
}

int cd_lora_keys_unet(cd_lora_keys *m, const cd_sd *sd, const char *prefix,
                      const cd_unet_config *cfg)
{
    size_t plen = strlen(prefix);
    char key[KEY_CAP], name[KEY_CAP];
    int rc;
    for (size_t i = 0; i < sd->n; i++) {
        const char *t = cd_sd_at(sd, i)->name;
        if (strncmp(t, prefix, plen) != 0)
            continue;
        t += plen;
        if ((rc = fmt(key, sizeof key, "diffusion_model.%s", t)))
            continue; /* a name too long to be a UNet weight */
        if (ends_with(t, ".weight")) {
            char us[KEY_CAP];
            if ((rc = fmt(us, sizeof us, "%.*s", (int)(strlen(t) - 7), t)))
                return rc;
            dots_to_underscores(us);
            if ((rc = fmt(name, sizeof name, "lora_unet_%s", us)) ||
                (rc = cd_lora_keys_add(m, name, key)) ||
                (rc = fmt(name, sizeof name, "%.*s", (int)(strlen(key) - 7), key)) ||
                (rc = cd_lora_keys_add(m, name, key)))
                return rc;
        } else if ((rc = cd_lora_keys_add(m, key, key))) {
            return rc;
        }
    }
    return unet_diffusers(m, cfg);
}

/* LORA_CLIP_MAP of comfy/lora.py, in its order. */
static const char *const clip_map[][2] = {
    {"mlp.fc1", "mlp_fc1"},
    {"mlp.fc2", "mlp_fc2"},
    {"self_attn.k_proj", "self_attn_k_proj"},
    {"self_attn.q_proj", "self_attn_q_proj"},
    {"self_attn.v_proj", "self_attn_v_proj"},
    {"self_attn.out_proj", "self_attn_out_proj"},
};

/* The generic "text_encoders.<key>" names of one encoder's weights. */
static int clip_generic(cd_lora_keys *m, const char *enc, int layers, int proj)
{
    static const char *const top[] = {"text_model.embeddings.token_embedding",
                                      "text_model.embeddings.position_embedding",
                                      "text_model.final_layer_norm"};
    static const char *const per[] = {"layer_norm1", "self_attn.q_proj", "self_attn.k_proj",
                                      "self_attn.v_proj", "self_attn.out_proj", "layer_norm2",
                                      "mlp.fc1", "mlp.fc2"};
    char key[KEY_CAP], name[KEY_CAP];
    int rc;
    for (size_t i = 0; i < NELEM(top); i++)
        if ((rc = fmt(key, sizeof key, "%s.transformer.%s.weight", enc, top[i])) ||
            (rc = fmt(name, sizeof name, "text_encoders.%s.transformer.%s", enc, top[i])) ||
            (rc = cd_lora_keys_add(m, name, key)))
            return rc;
    for (int b = 0; b < layers; b++)
        for (size_t i = 0; i < NELEM(per); i++)
            if ((rc = fmt(key, sizeof key, "%s.transformer.text_model.encoder.layers.%d.%s.weight",
                          enc, b, per[i])) ||
                (rc = fmt(name, sizeof name, "text_encoders.%.*s", (int)(strlen(key) - 7), key)) ||
                (rc = cd_lora_keys_add(m, name, key)))
                return rc;
    if (proj && ((rc = fmt(key, sizeof key, "%s.transformer.text_projection.weight", enc)) ||
                 (rc = fmt(name, sizeof name, "text_encoders.%s.transformer.text_projection",
                           enc)) ||
                 (rc = cd_lora_keys_add(m, name, key))))
        return rc;
    return COMFY_OK;
}

int cd_lora_keys_clip(cd_lora_keys *m, int l_layers, int l_proj, int g_layers, int g_proj,
                      const char *g_name)
{
    int rc;
    int is_h = g_name && strcmp(g_name, "clip_h") == 0;
    if (l_layers && (rc = clip_generic(m, "clip_l", l_layers, l_proj)))
        return rc;
    if (g_layers && (rc = clip_generic(m, g_name, g_layers, g_proj)))
        return rc;
    char key[KEY_CAP], name[KEY_CAP];
    int l_present = 0;
    for (int b = 0; b < 32; b++) {
        for (size_t c = 0; c < NELEM(clip_map); c++) {
            const char *hf = clip_map[c][0], *kn = clip_map[c][1];
            /* clip_h, then clip_l, then clip_g, as comfy/lora.py */
            for (int which = 0; which < 3; which++) {
                const char *enc = which == 1 ? "clip_l" : g_name;
                int layers = which == 1 ? l_layers : g_layers;
                if (!enc || b >= layers || (which == 0) != is_h || (which == 2 && is_h))
                    continue;
                if ((rc = fmt(key, sizeof key,
                              "%s.transformer.text_model.encoder.layers.%d.%s.weight", enc, b, hf)))
                    return rc;
                const char *forms[3];
                int nf = 0;
                if (which < 2) {
                    forms[nf++] = "lora_te_text_model_encoder_layers_%d_%s";
                    forms[nf++] = "lora_te1_text_model_encoder_layers_%d_%s";
                    forms[nf++] = NULL; /* diffusers: text_encoder. */
                    if (which == 1)
                        l_present = 1;
                } else if (l_present) {
                    forms[nf++] = "lora_te2_text_model_encoder_layers_%d_%s";
                    forms[nf++] = "";   /* diffusers: text_encoder_2. */
                } else {
                    forms[nf++] = "lora_te_text_model_encoder_layers_%d_%s";
                    forms[nf++] = NULL;
                    forms[nf++] = "lora_prior_te_text_model_encoder_layers_%d_%s";
                }
                for (int f = 0; f < nf; f++) {
                    if (!forms[f])
                        rc = fmt(name, sizeof name, "text_encoder.text_model.encoder.layers.%d.%s",
                                 b, hf);
                    else if (!*forms[f])
                        rc = fmt(name, sizeof name,
                                 "text_encoder_2.text_model.encoder.layers.%d.%s", b, hf);
                    else
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                        rc = fmt(name, sizeof name, forms[f], b, kn);
#pragma GCC diagnostic pop
                    if (rc || (rc = cd_lora_keys_add(m, name, key)))
                        return rc;
                }
            }
        }
    }
    if (g_layers && g_proj && !is_h) {
        if ((rc = fmt(key, sizeof key, "%s.transformer.text_projection.weight", g_name)) ||
            (rc = cd_lora_keys_add(m, "lora_prior_te_text_projection", key)) ||
            (rc = cd_lora_keys_add(m, "lora_te2_text_projection", key)))
            return rc;
    }
    if (l_layers && l_proj &&
        (rc = cd_lora_keys_add(m, "lora_te1_text_projection",
                               "clip_l.transformer.text_projection.weight")))
        return rc;
    return COMFY_OK;
}

/* --------------------------------------------------------- resolving */

void cd_lora_set_free(cd_lora_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->p[i].to);
    free(s->p);
    memset(s, 0, sizeof *s);
}

const cd_lora_patch *cd_lora_set_find(const cd_lora_set *s, const char *to)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->p[i].to, to) == 0)
            return &s->p[i];
    return NULL;
}

/* patch_dict[to] = p (replacing an earlier one). */
static int set_put(cd_lora_set *s, const char *to, const cd_lora_patch *p)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->p[i].to, to) == 0) {
            char *keep = s->p[i].to;
            s->p[i] = *p;
            s->p[i].to = keep;
            return COMFY_OK;
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        cd_lora_patch *np = realloc(s->p, cap * sizeof *np);
        if (!np)
            return COMFY_ENOMEM;
        s->p = np;
        s->cap = cap;
    }
    char *t = dup_str(to);
    if (!t)
        return COMFY_ENOMEM;
    s->p[s->n] = *p;
    s->p[s->n].to = t;
    s->n++;
    return COMFY_OK;
}

static void logf_(const cd_lora_log *log, int level, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(const cd_lora_log *log, int level, const char *f, ...)
{
    if (!log || !log->fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, f);
    vsnprintf(msg, sizeof msg, f, ap);
    va_end(ap);
    log->fn(log->ctx, level, msg);
}

typedef struct resolver {
    const cd_sd *lora;
    unsigned char *used; /* per tensor of lora->t (by array index) */
} resolver;

static const cd_tensor *take_t(resolver *r, const char *fmtx, const char *x)
{
    char name[KEY_CAP + 64];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int k = snprintf(name, sizeof name, fmtx, x);
#pragma GCC diagnostic pop
    if (k < 0 || (size_t)k >= sizeof name)
        return NULL;
    const cd_tensor *t = cd_sd_find(r->lora, name);
    return t;
}

static void mark(resolver *r, const cd_tensor *t)
{
    if (t)
        r->used[t - r->lora->t] = 1;
}

static int sfail(char *err, size_t errlen, int rc, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static int sfail(char *err, size_t errlen, int rc, const char *f, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, f);
        vsnprintf(err, errlen, f, ap);
        va_end(ap);
    }
    return rc;
}

/* The LoRA up/down spellings of weight_adapter/lora.py, in its order. */
static const char *const lora_forms[][3] = {
    {"%s.lora_up.weight", "%s.lora_down.weight", "%s.lora_mid.weight"},
    {"%s_lora.up.weight", "%s_lora.down.weight", NULL},
    {"%s.lora_B.weight", "%s.lora_A.weight", NULL},
    {"%s.lora.up.weight", "%s.lora.down.weight", NULL},
    {"%s.lora_B", "%s.lora_A", NULL},
    {"%s.lora_linear_layer.up.weight", "%s.lora_linear_layer.down.weight", NULL},
    {"%s.lora_B.default.weight", "%s.lora_A.default.weight", NULL},
};

/* Adapters ComfyUI reads that comfyd does not apply: (key pattern, name). */
static const char *const other_forms[][2] = {
    {"%s.a1.weight", "GLoRA"},
    {"%s.oft_blocks", "OFT/BOFT"},
    {"%s.set_weight", "set_weight"},
    {"%s.reshape_weight", "reshape_weight"},
};

static int scalar_of(const cd_tensor *t, double *out)
{
    float v;
    if (cd_tensor_numel(t) != 1 || cd_tensor_to_f32(t, &v, 1) != 0)
        return COMFY_EINVAL;
    *out = v;
    return COMFY_OK;
}

static int float_tensor(const cd_tensor *t)
{
    return cd_dtype_is_float(t->dtype) && t->ndim >= 1;
}

int cd_lora_resolve(const cd_sd *lora, const cd_lora_keys *keys, cd_lora_set *out,
                    const cd_lora_log *log, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    resolver r = {lora, calloc(lora->n ? lora->n : 1, 1)};
    if (!r.used)
        return COMFY_ENOMEM;
    int rc = COMFY_OK;
    for (size_t i = 0; i < keys->n && rc == COMFY_OK; i++) {
        const char *x = keys->k[i].from, *to = keys->k[i].to;
        for (size_t f = 0; f < NELEM(other_forms); f++)
            if (take_t(&r, other_forms[f][0], x)) {
                rc = sfail(err, errlen, COMFY_EINVAL,
                           "the LoRA patches %s with a %s adapter, which comfyd does not apply "
                           "yet (LoRA / LoCon / LoHa / LoKr / DoRA and diff patches are supported)",
                           x, other_forms[f][1]);
                break;
            }
        if (rc)
            break;
        cd_lora_patch p = {0};
        const cd_tensor *a = take_t(&r, "%s.alpha", x);
        if (a) {
            if (scalar_of(a, &p.alpha) < 0) {
                rc = sfail(err, errlen, COMFY_EINVAL, "LoRA tensor %s.alpha is not a scalar", x);
                break;
            }
            p.has_alpha = 1;
            mark(&r, a);
        }
        p.dora = take_t(&r, "%s.dora_scale", x);
        mark(&r, p.dora);
        for (size_t f = 0; f < NELEM(lora_forms); f++) {
            const cd_tensor *up = take_t(&r, lora_forms[f][0], x);
            if (!up)
                continue;
            const cd_tensor *down = take_t(&r, lora_forms[f][1], x);
            if (!down) {
                rc = sfail(err, errlen, COMFY_EINVAL, "the LoRA has %s but not its down matrix",
                           up->name);
                break;
            }
            const cd_tensor *mid = lora_forms[f][2] ? take_t(&r, lora_forms[f][2], x) : NULL;
            if (!float_tensor(up) || !float_tensor(down) || (mid && mid->ndim != 4) ||
                (p.dora && !float_tensor(p.dora))) {
                rc = sfail(err, errlen, COMFY_EINVAL, "LoRA tensors of %s have a wrong dtype or "
                           "shape", x);
                break;
            }
            p.kind = CD_LORA_ADAPTER;
            p.up = up;
            p.down = down;
            p.mid = mid;
            mark(&r, up);
            mark(&r, down);
            mark(&r, mid);
            rc = set_put(out, to, &p);
            break;
        }
        if (rc)
            break;
        /* LoHa, then LoKr (a later adapter replaces an earlier one, as the
         * loop over weight_adapter.adapters does) */
        const cd_tensor *h1a = take_t(&r, "%s.hada_w1_a", x);
        if (h1a) {
            cd_lora_patch q = p;
            q.kind = CD_LORA_LOHA;
            q.w1a = h1a;
            q.w1b = take_t(&r, "%s.hada_w1_b", x);
            q.w2a = take_t(&r, "%s.hada_w2_a", x);
            q.w2b = take_t(&r, "%s.hada_w2_b", x);
            q.t1 = take_t(&r, "%s.hada_t1", x);
            q.t2 = q.t1 ? take_t(&r, "%s.hada_t2", x) : NULL;
            if (!q.w1b || !q.w2a || !q.w2b || (q.t1 && !q.t2) || q.w1b->ndim < 1) {
                rc = sfail(err, errlen, COMFY_EINVAL, "the LoHa of %s lacks a matrix", x);
                break;
            }
            mark(&r, q.w1a);
            mark(&r, q.w1b);
            mark(&r, q.w2a);
            mark(&r, q.w2b);
            mark(&r, q.t1);
            mark(&r, q.t2);
            if ((rc = set_put(out, to, &q)))
                break;
        }
        {
            cd_lora_patch q = p;
            q.kind = CD_LORA_LOKR;
            q.w1 = take_t(&r, "%s.lokr_w1", x);
            q.w2 = take_t(&r, "%s.lokr_w2", x);
            q.w1a = take_t(&r, "%s.lokr_w1_a", x);
            q.w1b = take_t(&r, "%s.lokr_w1_b", x);
            q.w2a = take_t(&r, "%s.lokr_w2_a", x);
            q.w2b = take_t(&r, "%s.lokr_w2_b", x);
            q.t2 = take_t(&r, "%s.lokr_t2", x);
            mark(&r, q.w1);
            mark(&r, q.w2);
            mark(&r, q.w1a);
            mark(&r, q.w1b);
            mark(&r, q.w2a);
            mark(&r, q.w2b);
            mark(&r, q.t2);
            if (q.w1 || q.w2 || q.w1a || q.w2a) {
                if ((!q.w1 && (!q.w1a || !q.w1b)) || (!q.w2 && (!q.w2a || !q.w2b))) {
                    rc = sfail(err, errlen, COMFY_EINVAL, "the LoKr of %s lacks a matrix", x);
                    break;
                }
                if ((rc = set_put(out, to, &q)))
                    break;
            }
        }
        /* w_norm / b_norm, diff, diff_b: plain differences */
        static const char *const diffs[][2] = {
            {"%s.w_norm", ""}, {"%s.b_norm", "bias"}, {"%s.diff", ""}, {"%s.diff_b", "bias"}};
        for (size_t f = 0; f < NELEM(diffs) && rc == COMFY_OK; f++) {
            const cd_tensor *d = take_t(&r, diffs[f][0], x);
            if (!d)
                continue;
            if (f == 1 && !take_t(&r, diffs[0][0], x))
                continue; /* b_norm counts only beside w_norm */
            if (!float_tensor(d)) {
                rc = sfail(err, errlen, COMFY_EINVAL, "LoRA tensor %s is not a float tensor",
                           d->name);
                break;
            }
            cd_lora_patch q = {0};
            q.kind = CD_LORA_DIFF;
            q.diff = d;
            mark(&r, d);
            char bias[KEY_CAP];
            const char *tgt = to;
            if (*diffs[f][1]) {
                if (!ends_with(to, ".weight") ||
                    fmt(bias, sizeof bias, "%.*s.bias", (int)(strlen(to) - 7), to))
                    continue;
                tgt = bias;
            }
            rc = set_put(out, tgt, &q);
        }
    }
    if (rc == COMFY_OK)
        for (size_t i = 0; i < lora->n; i++)
            if (!r.used[i])
                logf_(log, 2, "lora key not loaded: %s", lora->t[i].name);
    free(r.used);
    if (rc)
        cd_lora_set_free(out);
    return rc;
}

/* ------------------------------------------------------------- maths */

/* A contiguous f32 copy of t (malloc'd), or NULL. */
static float *f32_of(const cd_tensor *t, int64_t *numel)
{
    int64_t n = cd_tensor_numel(t);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (v && cd_tensor_to_f32(t, v, (size_t)n) != 0) {
        free(v);
        return NULL;
    }
    *numel = n;
    return v;
}

static int64_t tail_numel(const cd_tensor *t)
{
    int64_t n = 1;
    for (int i = 1; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* c[rows, cols] = a[rows, inner] @ b[inner, cols] (c overwritten): the
 * kernels' GEMM on the pool, a plain loop if it cannot run. */
static void matmul(ck_pool *pool, const float *a, const float *b, float *c, int64_t rows,
                   int64_t inner, int64_t cols)
{
    if (ck_gemm_f32(pool, 0, 0, rows, cols, inner, 1.0f, a, inner, b, cols, 0.0f, c, cols) == 0)
        return;
    for (int64_t o = 0; o < rows; o++) {
        float *cr = c + o * cols;
        for (int64_t k = 0; k < cols; k++)
            cr[k] = 0.0f;
        for (int64_t j = 0; j < inner; j++) {
            float u = a[o * inner + j];
            const float *br = b + j * cols;
            for (int64_t k = 0; k < cols; k++)
                cr[k] += u * br[k];
        }
    }
}

/* A matrix operand: f32 data and its 2-D view [rows, cols] (trailing dims
 * flattened, as torch's flatten(start_dim=1)). */
typedef struct mat {
    float *d;
    int64_t rows, cols;
    int64_t numel;
} mat;

static int mat_of(const cd_tensor *t, mat *m)
{
    m->d = f32_of(t, &m->numel);
    m->rows = t->ndim >= 1 ? t->shape[0] : 1;
    m->cols = tail_numel(t);
    return m->d ? 0 : COMFY_ENOMEM;
}

/* product a @ b into a new array (NULL on OOM); *ok 0 when the inner sizes
 * differ. */
static float *mm_new(ck_pool *pool, const mat *a, const mat *b, int *ok)
{
    *ok = a->cols == b->rows;
    if (!*ok)
        return NULL;
    int64_t nc = a->rows * b->cols;
    float *c = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *c);
    if (c)
        matmul(pool, a->d, b->d, c, a->rows, a->cols, b->cols);
    return c;
}

/* The CP (tucker) einsum 'i j k l, j r, i p -> p r k l' of LoHa / LoKr:
 * t [I, J, K, L], b [J, R], a [I, P] -> [P, R, K, L].  NULL on OOM or
 * (*ok 0) mismatched shapes. */
static float *tucker(const cd_tensor *tt, const cd_tensor *bt, const cd_tensor *at, int64_t *shape,
                     int *ok)
{
    *ok = tt->ndim == 4 && bt->ndim == 2 && at->ndim == 2 && bt->shape[0] == tt->shape[1] &&
          at->shape[0] == tt->shape[0];
    if (!*ok)
        return NULL;
    int64_t I = tt->shape[0], J = tt->shape[1], KL = tt->shape[2] * tt->shape[3];
    int64_t R = bt->shape[1], P = at->shape[1], n;
    float *t = f32_of(tt, &n), *b = f32_of(bt, &n), *a = f32_of(at, &n);
    int64_t nt = I * R * KL, no = P * R * KL;
    float *tmp = calloc((size_t)(nt > 0 ? nt : 1), sizeof *tmp);
    float *out = calloc((size_t)(no > 0 ? no : 1), sizeof *out);
    if (t && b && a && tmp && out) {
        for (int64_t i = 0; i < I; i++)
            for (int64_t j = 0; j < J; j++)
                for (int64_t r = 0; r < R; r++) {
                    float f = b[j * R + r];
                    const float *ts = t + (i * J + j) * KL;
                    float *d = tmp + (i * R + r) * KL;
                    for (int64_t q = 0; q < KL; q++)
                        d[q] += ts[q] * f;
                }
        for (int64_t i = 0; i < I; i++)
            for (int64_t p = 0; p < P; p++) {
                float f = a[i * P + p];
                for (int64_t q = 0; q < R * KL; q++)
                    out[p * R * KL + q] += f * tmp[i * R * KL + q];
            }
        shape[0] = P;
        shape[1] = R;
        shape[2] = tt->shape[2];
        shape[3] = tt->shape[3];
    } else {
        free(out);
        out = NULL;
    }
    free(t);
    free(b);
    free(a);
    free(tmp);
    return out;
}

/* LoRA: up @ down (with the LoCon mid folded into down); scale alpha/rank. */
static float *diff_lora(ck_pool *pool, const cd_lora_patch *p, int64_t wn, double *scale,
                        int *ok)
{
    mat up = {0}, down = {0};
    float *mid = NULL, *d2 = NULL, *diff = NULL;
    int64_t nm;
    *ok = 1;
    if (mat_of(p->up, &up) < 0 || mat_of(p->down, &down) < 0 ||
        (p->mid && !(mid = f32_of(p->mid, &nm))))
        goto out;
    int64_t rank = p->down->shape[0];
    *scale = p->has_alpha ? p->alpha / (double)rank : 1.0;
    if (mid) {
        /* down [rank, in, ...] and mid [rank, rank, kh, kw] give
         * [rank, in, kh, kw] with [r][i] = sum_j down[j][i] mid[r][j] */
        int64_t in = down.cols, mr = p->mid->shape[0], mj = p->mid->shape[1];
        int64_t kk = p->mid->shape[2] * p->mid->shape[3];
        if (mj != rank) {
            *ok = 0;
            goto out;
        }
        int64_t nd = mr * in * kk;
        d2 = calloc((size_t)(nd > 0 ? nd : 1), sizeof *d2);
        if (!d2)
            goto out;
        for (int64_t r = 0; r < mr; r++)
            for (int64_t i = 0; i < in; i++)
                for (int64_t q = 0; q < kk; q++) {
                    float acc = 0.0f;
                    for (int64_t j = 0; j < rank; j++)
                        acc += down.d[j * in + i] * mid[(r * mj + j) * kk + q];
                    d2[(r * in + i) * kk + q] = acc;
                }
        free(down.d);
        down.d = d2;
        d2 = NULL;
        down.rows = mr;
        down.cols = in * kk;
    }
    if (up.rows * down.cols != wn) {
        *ok = 0;
        goto out;
    }
    diff = mm_new(pool, &up, &down, ok);
out:
    free(up.d);
    free(down.d);
    free(mid);
    free(d2);
    return diff;
}

/* LoHa: (w1a @ w1b) * (w2a @ w2b), or the CP forms with t1 / t2. */
static float *diff_loha(ck_pool *pool, const cd_lora_patch *p, int64_t wn, double *scale,
                        int *ok)
{
    float *m1 = NULL, *m2 = NULL;
    int64_t n1 = -1, n2 = -2, s[4] = {0, 0, 0, 0};
    *ok = 1;
    *scale = p->has_alpha ? p->alpha / (double)p->w1b->shape[0] : 1.0;
    if (p->t1) {
        int ok2;
        m1 = tucker(p->t1, p->w1b, p->w1a, s, ok);
        n1 = s[0] * s[1] * s[2] * s[3];
        m2 = p->t2 ? tucker(p->t2, p->w2b, p->w2a, s, &ok2) : NULL;
        n2 = s[0] * s[1] * s[2] * s[3];
        *ok = *ok && p->t2 && ok2;
    } else {
        mat a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0};
        if (mat_of(p->w1a, &a1) == 0 && mat_of(p->w1b, &b1) == 0 && mat_of(p->w2a, &a2) == 0 &&
            mat_of(p->w2b, &b2) == 0) {
            int ok2 = 0;
            m1 = mm_new(pool, &a1, &b1, ok);
            m2 = *ok ? mm_new(pool, &a2, &b2, &ok2) : NULL;
            *ok = *ok && ok2;
            n1 = a1.rows * b1.cols;
            n2 = a2.rows * b2.cols;
        }
        free(a1.d);
        free(b1.d);
        free(a2.d);
        free(b2.d);
    }
    if (m1 && m2 && *ok && n1 == n2 && n1 == wn) {
        for (int64_t i = 0; i < wn; i++)
            m1[i] *= m2[i];
        free(m2);
        return m1;
    }
    if (m1 && m2)
        *ok = 0;
    free(m1);
    free(m2);
    return NULL;
}

/* One LoKr factor: w, or a @ b, or the CP form of t with b, a. */
static float *lokr_factor(ck_pool *pool, const cd_tensor *w, const cd_tensor *a,
                          const cd_tensor *b, const cd_tensor *t, int64_t *shape, int *ndim,
                          int *ok)
{
    *ok = 1;
    if (w) {
        int64_t n;
        *ndim = w->ndim;
        for (int i = 0; i < w->ndim && i < 4; i++)
            shape[i] = w->shape[i];
        *ok = w->ndim == 2 || w->ndim == 4;
        return *ok ? f32_of(w, &n) : NULL;
    }
    if (!a || !b) {
        *ok = 0;
        return NULL;
    }
    if (t) {
        *ndim = 4;
        return tucker(t, b, a, shape, ok);
    }
    mat ma = {0}, mb = {0};
    float *c = NULL;
    if (mat_of(a, &ma) == 0 && mat_of(b, &mb) == 0) {
        c = mm_new(pool, &ma, &mb, ok);
        shape[0] = ma.rows;
        shape[1] = mb.cols;
        *ndim = 2;
    }
    free(ma.d);
    free(mb.d);
    return c;
}

/* LoKr: kron(w1, w2); w1 gets two unit dims when w2 is 4-D. */
static float *diff_lokr(ck_pool *pool, const cd_lora_patch *p, int64_t wn, double *scale,
                        int *ok)
{
    int64_t s1[4] = {1, 1, 1, 1}, s2[4] = {1, 1, 1, 1};
    int d1 = 2, d2 = 2, ok1, ok2;
    int64_t dim = 0;
    if (!p->w1 && p->w1b)
        dim = p->w1b->shape[0];
    if (!p->w2 && p->w2b)
        dim = p->w2b->shape[0];
    *scale = p->has_alpha && dim ? p->alpha / (double)dim : 1.0;
    float *w1 = lokr_factor(pool, p->w1, p->w1a, p->w1b, NULL, s1, &d1, &ok1);
    float *w2 = lokr_factor(pool, p->w2, p->w2a, p->w2b, p->t2, s2, &d2, &ok2);
    float *out = NULL;
    *ok = ok1 && ok2 && w1 && w2 && d1 == 2;
    if (*ok) {
        int64_t A = s1[0], B = s1[1], C = s2[0], D = s2[1], KL = d2 == 4 ? s2[2] * s2[3] : 1;
        *ok = A * C * B * D * KL == wn;
        if (*ok && (out = malloc((size_t)(wn ? wn : 1) * sizeof *out)))
            for (int64_t i = 0; i < A; i++)
                for (int64_t j = 0; j < B; j++)
                    for (int64_t k = 0; k < C; k++)
                        for (int64_t l = 0; l < D; l++)
                            for (int64_t q = 0; q < KL; q++)
                                out[((i * C + k) * (B * D) + j * D + l) * KL + q] =
                                    w1[i * B + j] * w2[(k * D + l) * KL + q];
    } else if (!(ok1 && ok2) || (w1 && w2)) {
        *ok = 0;
    } else {
        *ok = 1; /* out of memory */
    }
    free(w1);
    free(w2);
    return out;
}

int cd_lora_apply(ck_pool *pool, const cd_lora_patch *p, double strength, float *w,
                  const int64_t *shape, int ndim, const cd_lora_log *log)
{
    int64_t wn = 1;
    for (int i = 0; i < ndim; i++)
        wn *= shape[i];
    if (p->kind == CD_LORA_DIFF) {
        int same = p->diff->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = p->diff->shape[i] == shape[i];
        if (!same) {
            logf_(log, 2, "WARNING SHAPE MISMATCH %s WEIGHT NOT MERGED", p->to);
            return COMFY_OK;
        }
        if (strength == 0.0)
            return COMFY_OK;
        int64_t n;
        float *d = f32_of(p->diff, &n);
        if (!d)
            return COMFY_ENOMEM;
        float s = (float)strength;
        for (int64_t i = 0; i < wn; i++)
            w[i] += s * d[i];
        free(d);
        return COMFY_OK;
    }
    double alpha = 1.0;
    int ok = 1;
    float *diff = p->kind == CD_LORA_LOHA   ? diff_loha(pool, p, wn, &alpha, &ok)
                  : p->kind == CD_LORA_LOKR ? diff_lokr(pool, p, wn, &alpha, &ok)
                                            : diff_lora(pool, p, wn, &alpha, &ok);
    if (!ok) {
        free(diff);
        logf_(log, 3, "ERROR %s %s: its matrices do not fit the weight",
              p->kind == CD_LORA_LOHA ? "loha" : p->kind == CD_LORA_LOKR ? "lokr" : "lora", p->to);
        return COMFY_OK;
    }
    if (!diff)
        return COMFY_ENOMEM;
    int rc = COMFY_OK;
    if (p->dora) {
        /* weight_decompose */
        int64_t ndora;
        float *dora = f32_of(p->dora, &ndora);
        float *calc = malloc((size_t)wn * sizeof *calc);
        if (!dora || !calc) {
            free(dora);
            free(calc);
            free(diff);
            return COMFY_ENOMEM;
        }
        float a = (float)alpha;
        int64_t out_dim = shape[0], per = wn / (out_dim ? out_dim : 1);
        int on_out = p->dora->shape[0] == out_dim;
        int64_t in = ndim >= 2 ? shape[1] : 1, kk = per / (in ? in : 1);
        for (int64_t i = 0; i < wn; i++)
            calc[i] = w[i] + diff[i] * a;
        if (on_out ? ndora != out_dim : ndora != in) {
            logf_(log, 3, "ERROR lora %s: dora_scale does not fit the weight", p->to);
        } else {
            if (on_out) {
                for (int64_t o = 0; o < out_dim; o++) {
                    double ss = 0.0;
                    for (int64_t c = 0; c < per; c++)
                        ss += (double)w[o * per + c] * w[o * per + c];
                    float sc = dora[o] / ((float)sqrt(ss) + FLT_EPSILON);
                    for (int64_t c = 0; c < per; c++)
                        calc[o * per + c] *= sc;
                }
            } else { /* the norm over all but dim 1 of the patched weight */
                for (int64_t i = 0; i < in; i++) {
                    double ss = 0.0;
                    for (int64_t o = 0; o < out_dim; o++)
                        for (int64_t q = 0; q < kk; q++) {
                            double v = calc[(o * in + i) * kk + q];
                            ss += v * v;
                        }
                    float sc = dora[i] / ((float)sqrt(ss) + FLT_EPSILON);
                    for (int64_t o = 0; o < out_dim; o++)
                        for (int64_t q = 0; q < kk; q++)
                            calc[(o * in + i) * kk + q] *= sc;
                }
            }
            if (strength != 1.0) {
                float s = (float)strength;
                for (int64_t i = 0; i < wn; i++)
                    w[i] += s * (calc[i] - w[i]);
            } else {
                memcpy(w, calc, (size_t)wn * sizeof *w);
            }
        }
        free(calc);
        free(dora);
    } else {
        float s = (float)(strength * alpha);
        for (int64_t i = 0; i < wn; i++)
            w[i] += s * diff[i];
    }
    free(diff);
    return rc;
}
