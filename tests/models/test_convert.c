/* models_convert: diffusers -> LDM key names.  The test writes its own
 * LDM -> diffusers inverse from the block layout and checks that the
 * library maps every name of every arch table (UNet and VAE) back to
 * itself, plus known pairs from the spec. */
#include <stdio.h>

#include "arch.h"
#include "convert.h"
#include "detect.h"
#include "testutil.h"

typedef struct ctx {
    const cd_arch *a;
    cd_unet_config cfg;
    int vae;
    int checked;
} ctx;

static const char *sub_inv(const char *rest, char *buf, size_t n)
{
    static const char *const m[][2] = {
        {"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
        {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
        {"nin_shortcut.", "conv_shortcut."},
    };
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        size_t l = strlen(m[i][0]);
        if (strncmp(rest, m[i][0], l) == 0) {
            snprintf(buf, n, "%s%s", m[i][1], rest + l);
            return buf;
        }
    }
    snprintf(buf, n, "%s", rest);
    return buf;
}

/* LDM UNet name -> diffusers name (test-side inverse). */
static int unet_inv(const cd_unet_arch *u, const char *ldm, char *out, size_t n)
{
    int N, K, off;
    char sub[200];
    int nrb = u->num_res_blocks;
    if (sscanf(ldm, "input_blocks.%d.%d.%n", &N, &K, &off) == 2) {
        const char *rest = ldm + off;
        if (N == 0)
            return snprintf(out, n, "conv_in.%s", rest), 0;
        int x = (N - 1) / (nrb + 1), i = (N - 1) % (nrb + 1);
        if (i == nrb)
            return snprintf(out, n, "down_blocks.%d.downsamplers.0.conv.%s", x, rest + 3), 0;
        if (K == 0)
            return snprintf(out, n, "down_blocks.%d.resnets.%d.%s", x, i, sub_inv(rest, sub, sizeof sub)), 0;
        return snprintf(out, n, "down_blocks.%d.attentions.%d.%s", x, i, rest), 0;
    }
    if (sscanf(ldm, "output_blocks.%d.%d.%n", &N, &K, &off) == 2) {
        const char *rest = ldm + off;
        int x = N / (nrb + 1), i = N % (nrb + 1);
        if (strncmp(rest, "conv.", 5) == 0)
            return snprintf(out, n, "up_blocks.%d.upsamplers.0.conv.%s", x, rest + 5), 0;
        if (K == 0)
            return snprintf(out, n, "up_blocks.%d.resnets.%d.%s", x, i, sub_inv(rest, sub, sizeof sub)), 0;
        return snprintf(out, n, "up_blocks.%d.attentions.%d.%s", x, i, rest), 0;
    }
    if (sscanf(ldm, "middle_block.%d.%n", &K, &off) == 1) {
        if (K == 1)
            return snprintf(out, n, "mid_block.attentions.0.%s", ldm + off), 0;
        return snprintf(out, n, "mid_block.resnets.%d.%s", K / 2, sub_inv(ldm + off, sub, sizeof sub)), 0;
    }
    static const char *const simple[][2] = {
        {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
        {"label_emb.0.0.", "add_embedding.linear_1."}, {"label_emb.0.2.", "add_embedding.linear_2."},
        {"out.0.", "conv_norm_out."}, {"out.2.", "conv_out."},
    };
    for (size_t i = 0; i < sizeof simple / sizeof *simple; i++) {
        size_t l = strlen(simple[i][0]);
        if (strncmp(ldm, simple[i][0], l) == 0)
            return snprintf(out, n, "%s%s", simple[i][1], ldm + l), 0;
    }
    return -1;
}

static int vae_inv(const char *ldm, char *out, size_t n)
{
    char part[16], sub[200];
    int L, j, off;
    if (strncmp(ldm, "quant_conv.", 11) == 0 || strncmp(ldm, "post_quant_conv.", 16) == 0)
        return snprintf(out, n, "%s", ldm), 0;
    snprintf(part, sizeof part, "%.8s", ldm);
    const char *s = ldm + 8;
    if (sscanf(s, "down.%d.block.%d.%n", &L, &j, &off) == 2)
        return snprintf(out, n, "%sdown_blocks.%d.resnets.%d.%s", part, L, j, sub_inv(s + off, sub, sizeof sub)), 0;
    if (sscanf(s, "up.%d.block.%d.%n", &L, &j, &off) == 2)
        return snprintf(out, n, "%sup_blocks.%d.resnets.%d.%s", part, 3 - L, j, sub_inv(s + off, sub, sizeof sub)), 0;
    if (sscanf(s, "down.%d.downsample.%n", &L, &off) == 1)
        return snprintf(out, n, "%sdown_blocks.%d.downsamplers.0.%s", part, L, s + off), 0;
    if (sscanf(s, "up.%d.upsample.%n", &L, &off) == 1)
        return snprintf(out, n, "%sup_blocks.%d.upsamplers.0.%s", part, 3 - L, s + off), 0;
    if (sscanf(s, "mid.block_%d.%n", &j, &off) == 1)
        return snprintf(out, n, "%smid_block.resnets.%d.%s", part, j - 1, sub_inv(s + off, sub, sizeof sub)), 0;
    static const char *const am[][2] = {
        {"mid.attn_1.norm.", "mid_block.attentions.0.group_norm."},
        {"mid.attn_1.q.", "mid_block.attentions.0.to_q."},
        {"mid.attn_1.k.", "mid_block.attentions.0.to_k."},
        {"mid.attn_1.v.", "mid_block.attentions.0.to_v."},
        {"mid.attn_1.proj_out.", "mid_block.attentions.0.to_out.0."},
        {"norm_out.", "conv_norm_out."},
        {"conv_in.", "conv_in."},
        {"conv_out.", "conv_out."},
    };
    for (size_t i = 0; i < sizeof am / sizeof *am; i++) {
        size_t l = strlen(am[i][0]);
        if (strncmp(s, am[i][0], l) == 0)
            return snprintf(out, n, "%s%s%s", part, am[i][1], s + l), 0;
    }
    return -1;
}

static int check_cb(const cd_arch_tensor *t, void *ud)
{
    ctx *c = ud;
    char diff[600], back[600];
    int r = c->vae ? vae_inv(t->name, diff, sizeof diff)
                   : unet_inv(&c->a->unet, t->name, diff, sizeof diff);
    CHECK_EQ(r, 0);
    if (r)
        return 0;
    r = c->vae ? cd_convert_diffusers_vae_key(4, diff, back, sizeof back)
               : cd_convert_diffusers_unet_key(&c->cfg, diff, back, sizeof back);
    if (r != 0 || strcmp(back, t->name) != 0) {
        fprintf(stderr, "%s: %s -> %s (rc %d), want %s\n", c->a->name, diff, r ? "-" : back, r,
                t->name);
        t_failures++;
    }
    c->checked++;
    return 0;
}

/* The detected config of an arch table entry (views without data). */
static int arch_config(const cd_arch *a, cd_unet_config *cfg);

typedef struct vlist {
    cd_tensor *t;
    char **names;
    size_t n, cap;
} vlist;

static int vl_cb(const cd_arch_tensor *t, void *ud)
{
    vlist *v = ud;
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 512;
        v->t = realloc(v->t, v->cap * sizeof *v->t);
        v->names = realloc(v->names, v->cap * sizeof *v->names);
    }
    memset(&v->t[v->n], 0, sizeof v->t[v->n]);
    v->names[v->n] = strdup(t->name);
    v->t[v->n].name = v->names[v->n];
    v->t[v->n].ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++)
        v->t[v->n].shape[i] = t->shape[i];
    v->n++;
    return 0;
}

static int arch_config(const cd_arch *a, cd_unet_config *cfg)
{
    vlist v = {0};
    cd_sd sd;
    cd_detect d;
    char err[256];
    int r = cd_arch_foreach_unet(a, "model.diffusion_model.", vl_cb, &v);
    if (!r)
        r = cd_sd_init(&sd, v.t, v.n, err, sizeof err);
    if (!r) {
        r = cd_detect_checkpoint(&sd, &d, err, sizeof err);
        cd_sd_free(&sd);
    }
    *cfg = d.unet;
    for (size_t i = 0; i < v.n; i++)
        free(v.names[i]);
    free(v.names);
    free(v.t);
    return r;
}

static void known_pairs(void)
{
    cd_unet_config sd15, sdxl;
    char out[256];
    CHECK_EQ(arch_config(cd_arch_get(CD_ARCH_SD15, CD_WIDTH_FULL), &sd15), 0);
    CHECK_EQ(arch_config(cd_arch_get(CD_ARCH_SDXL, CD_WIDTH_FULL), &sdxl), 0);
    static const char *const p15[][2] = {
        {"down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
         "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"},
        {"up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight"},
        {"up_blocks.1.upsamplers.0.conv.weight", "output_blocks.5.2.conv.weight"},
        {"mid_block.attentions.0.proj_in.weight", "middle_block.1.proj_in.weight"},
        {"mid_block.resnets.1.conv_shortcut.bias", "middle_block.2.skip_connection.bias"},
        {"down_blocks.3.resnets.1.time_emb_proj.bias", "input_blocks.11.0.emb_layers.1.bias"},
        {"down_blocks.2.downsamplers.0.conv.weight", "input_blocks.9.0.op.weight"},
        {"conv_norm_out.weight", "out.0.weight"},
    };
    for (size_t i = 0; i < sizeof p15 / sizeof *p15; i++) {
        CHECK_EQ(cd_convert_diffusers_unet_key(&sd15, p15[i][0], out, sizeof out), 0);
        if (strcmp(out, p15[i][1]) != 0) {
            fprintf(stderr, "%s -> %s, want %s\n", p15[i][0], out, p15[i][1]);
            t_failures++;
        }
    }
    CHECK_EQ(cd_convert_diffusers_unet_key(&sdxl, "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2.weight",
                                           out, sizeof out), 0);
    CHECK(strcmp(out, "input_blocks.8.1.transformer_blocks.9.ff.net.2.weight") == 0);
    CHECK_EQ(cd_convert_diffusers_unet_key(&sdxl, "add_embedding.linear_2.weight", out, sizeof out), 0);
    CHECK(strcmp(out, "label_emb.0.2.weight") == 0);
    CHECK_EQ(cd_convert_diffusers_unet_key(&sdxl, "up_blocks.1.upsamplers.0.conv.bias", out, sizeof out), 0);
    CHECK(strcmp(out, "output_blocks.5.2.conv.bias") == 0);
    CHECK_EQ(cd_convert_diffusers_unet_key(&sd15, "down_blocks.9.resnets.0.conv1.weight", out, sizeof out),
             CD_MODEL_ENOTFOUND);
    CHECK_EQ(cd_convert_diffusers_unet_key(&sd15, "text_model.final_layer_norm.weight", out, sizeof out),
             CD_MODEL_ENOTFOUND);
    CHECK_EQ(cd_convert_diffusers_unet_key(&sd15, "conv_in.weight", out, 4), CD_MODEL_EINVAL);
    CHECK_EQ(cd_convert_diffusers_vae_key(4, "decoder.up_blocks.0.upsamplers.0.conv.weight", out, sizeof out), 0);
    CHECK(strcmp(out, "decoder.up.3.upsample.conv.weight") == 0);
    CHECK_EQ(cd_convert_diffusers_vae_key(4, "encoder.mid_block.attentions.0.query.weight", out, sizeof out), 0);
    CHECK(strcmp(out, "encoder.mid.attn_1.q.weight") == 0);
    CHECK_EQ(cd_convert_diffusers_vae_key(4, "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", out, sizeof out), 0);
    CHECK(strcmp(out, "encoder.down.1.block.0.nin_shortcut.weight") == 0);
    CHECK_EQ(cd_convert_diffusers_vae_key(4, "foo.bar", out, sizeof out), CD_MODEL_ENOTFOUND);
}

/* Every OpenCLIP tensor of the bigG / H tables maps onto HF names that the
 * CLIP-L table uses (same layer structure), and in_proj splits in three. */
typedef struct oc_ctx {
    int n1, n3, notfound;
} oc_ctx;

static int oc_cb(const cd_arch_tensor *t, void *ud)
{
    oc_ctx *c = ud;
    cd_key_target k[3];
    int r = cd_convert_openclip_text_key(t->name, k);
    if (r == 1) {
        c->n1++;
        CHECK(strncmp(k[0].name, "text_model.", 11) == 0 || strcmp(k[0].name, "logit_scale") == 0 ||
              strcmp(k[0].name, "text_projection.weight") == 0);
    } else if (r == 3) {
        c->n3++;
        CHECK(strstr(k[0].name, "q_proj") && strstr(k[1].name, "k_proj") && strstr(k[2].name, "v_proj"));
        CHECK(k[2].part == 2 && k[2].parts == 3);
    } else {
        fprintf(stderr, "no HF name for %s\n", t->name);
        c->notfound++;
    }
    return 0;
}

static void openclip(void)
{
    const cd_arch *a = cd_arch_get(CD_ARCH_SDXL, CD_WIDTH_FULL);
    oc_ctx c = {0};
    cd_arch_foreach_clip(a, 1, "", oc_cb, &c);
    CHECK_EQ(c.notfound, 0);
    CHECK_EQ(c.n3, 2 * 32);
    CHECK_EQ(c.n1, 32 * 10 + 6); /* per layer 10, plus embeddings, ln_final, projection, scale */
    cd_key_target k[3];
    CHECK_EQ(cd_convert_openclip_text_key("transformer.resblocks.31.mlp.c_proj.bias", k), 1);
    CHECK(strcmp(k[0].name, "text_model.encoder.layers.31.mlp.fc2.bias") == 0);
    CHECK_EQ(cd_convert_openclip_text_key("text_projection", k), 1);
    CHECK(k[0].transpose == 1);
    CHECK_EQ(cd_convert_openclip_text_key("visual.proj", k), CD_MODEL_ENOTFOUND);
}

/* Diffusers-named UNets of every table detect like their LDM originals. */
typedef struct dv_ctx {
    const cd_arch *a;
    vlist v;
} dv_ctx;

static int dv_cb(const cd_arch_tensor *t, void *ud)
{
    dv_ctx *c = ud;
    char diff[600];
    cd_arch_tensor u = *t;
    if (unet_inv(&c->a->unet, t->name, diff, sizeof diff) < 0)
        return 0;
    if (strlen(diff) >= sizeof u.name)
        return 0;
    memcpy(u.name, diff, strlen(diff) + 1);
    return vl_cb(&u, &c->v);
}

static void diffusers_detect(void)
{
    for (int id = 0; id < CD_ARCH_COUNT; id++) {
        for (int w = 0; w < 2; w++) {
            dv_ctx c = {cd_arch_get((cd_arch_id)id, (cd_arch_width)w), {0}};
            cd_unet_config ldm;
            CHECK_EQ(arch_config(c.a, &ldm), 0);
            cd_arch_foreach_unet(c.a, "", dv_cb, &c);
            cd_sd sd;
            cd_detect d;
            char err[256];
            CHECK_EQ(cd_sd_init(&sd, c.v.t, c.v.n, err, sizeof err), 0);
            int r = cd_detect_checkpoint(&sd, &d, err, sizeof err);
            CHECK_EQ(r, 0);
            if (r)
                fprintf(stderr, "%s: %s\n", c.a->name, err);
            CHECK_EQ(d.diffusers, 1);
            CHECK_EQ(d.reduced_width, w);
            CHECK(cd_detect_arch(&d) == c.a);
            CHECK_EQ(d.unet.n_transformer_depth, ldm.n_transformer_depth);
            CHECK_EQ(d.unet.n_transformer_depth_output, ldm.n_transformer_depth_output);
            CHECK(memcmp(d.unet.transformer_depth, ldm.transformer_depth, sizeof ldm.transformer_depth) == 0);
            CHECK(memcmp(d.unet.transformer_depth_output, ldm.transformer_depth_output,
                         sizeof ldm.transformer_depth_output) == 0);
            CHECK(memcmp(d.unet.channel_mult, ldm.channel_mult, sizeof ldm.channel_mult) == 0);
            CHECK(memcmp(d.unet.num_res_blocks, ldm.num_res_blocks, sizeof ldm.num_res_blocks) == 0);
            CHECK_EQ(d.unet.transformer_depth_middle, ldm.transformer_depth_middle);
            CHECK_EQ(d.unet.use_linear_in_transformer, ldm.use_linear_in_transformer);
            cd_sd_free(&sd);
            for (size_t i = 0; i < c.v.n; i++)
                free(c.v.names[i]);
            free(c.v.names);
            free(c.v.t);
        }
    }
}

int main(void)
{
    known_pairs();
    openclip();
    diffusers_detect();
    for (int id = 0; id < CD_ARCH_COUNT; id++) {
        for (int w = 0; w < 2; w++) {
            ctx c = {cd_arch_get((cd_arch_id)id, (cd_arch_width)w), {0}, 0, 0};
            CHECK_EQ(arch_config(c.a, &c.cfg), 0);
            cd_arch_foreach_unet(c.a, "", check_cb, &c);
            c.vae = 1;
            cd_arch_foreach_vae(c.a, "", check_cb, &c);
            CHECK(c.checked > 100);
        }
    }
    return test_done("models_convert");
}
