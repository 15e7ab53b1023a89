/* convert.c — diffusers -> LDM key names (see convert.h). */
#include "convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "<word>.<int>." at *s (e.g. "resnets.3."), advancing s. */
static int take(const char **s, const char *word, int *num)
{
    size_t wl = strlen(word);
    if (strncmp(*s, word, wl) != 0 || (*s)[wl] != '.')
        return 0;
    const char *p = *s + wl + 1;
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || *end != '.' || v < 0 || v > 10000)
        return 0;
    *num = (int)v;
    *s = end + 1;
    return 1;
}

static int emit(char *out, size_t outlen, const char *fmt1, int a, int b, const char *rest)
{
    char head[64];
    snprintf(head, sizeof head, fmt1, a, b);
    int k = snprintf(out, outlen, "%s%s", head, rest);
    return k < 0 || (size_t)k >= outlen ? CD_MODEL_EINVAL : 0;
}

static const char *const res_map[][2] = {
    {"norm1.", "in_layers.0."},     {"conv1.", "in_layers.2."},
    {"time_emb_proj.", "emb_layers.1."}, {"norm2.", "out_layers.0."},
    {"conv2.", "out_layers.3."},    {"conv_shortcut.", "skip_connection."},
};

/* ResNet sub-name mapping: rest like "norm1.weight". */
static int resnet(char *out, size_t outlen, const char *head, int a, int b, const char *rest)
{
    for (size_t i = 0; i < sizeof res_map / sizeof *res_map; i++) {
        size_t l = strlen(res_map[i][0]);
        if (strncmp(rest, res_map[i][0], l) == 0) {
            char tail[256];
            int k = snprintf(tail, sizeof tail, "%s%s", res_map[i][1], rest + l);
            if (k < 0 || (size_t)k >= sizeof tail)
                return CD_MODEL_EINVAL;
            return emit(out, outlen, head, a, b, tail);
        }
    }
    return CD_MODEL_ENOTFOUND;
}

int cd_convert_diffusers_unet_key(const cd_unet_config *c, const char *name, char *out,
                                  size_t outlen)
{
    static const char *const simple[][2] = {
        {"conv_in.", "input_blocks.0.0."},
        {"time_embedding.linear_1.", "time_embed.0."},
        {"time_embedding.linear_2.", "time_embed.2."},
        {"add_embedding.linear_1.", "label_emb.0.0."},
        {"add_embedding.linear_2.", "label_emb.0.2."},
        {"class_embedding.linear_1.", "label_emb.0.0."},
        {"class_embedding.linear_2.", "label_emb.0.2."},
        {"conv_norm_out.", "out.0."},
        {"conv_out.", "out.2."},
    };
    for (size_t i = 0; i < sizeof simple / sizeof *simple; i++) {
        size_t l = strlen(simple[i][0]);
        if (strncmp(name, simple[i][0], l) == 0) {
            int k = snprintf(out, outlen, "%s%s", simple[i][1], name + l);
            return k < 0 || (size_t)k >= outlen ? CD_MODEL_EINVAL : 0;
        }
    }
    const char *s = name;
    int x, i;
    if (take(&s, "down_blocks", &x)) {
        if (x >= c->n_levels)
            return CD_MODEL_ENOTFOUND;
        int n = 1;
        for (int l = 0; l < x; l++)
            n += c->num_res_blocks[l] + 1;
        if (take(&s, "resnets", &i))
            return resnet(out, outlen, "input_blocks.%d.%d.", n + i, 0, s);
        if (take(&s, "attentions", &i))
            return emit(out, outlen, "input_blocks.%d.%d.", n + i, 1, s);
        if (take(&s, "downsamplers", &i) && i == 0 && strncmp(s, "conv.", 5) == 0)
            return emit(out, outlen, "input_blocks.%d.%d.op.", n + c->num_res_blocks[x], 0, s + 5);
        return CD_MODEL_ENOTFOUND;
    }
    if (strncmp(name, "mid_block.", 10) == 0) {
        s = name + 10;
        /* "%d.%.0d": the second number is printed as nothing */
        if (take(&s, "resnets", &i) && i <= 1)
            return resnet(out, outlen, "middle_block.%d.%.0d", 2 * i, 0, s);
        if (take(&s, "attentions", &i) && i == 0)
            return emit(out, outlen, "middle_block.%d.%.0d", 1, 0, s);
        return CD_MODEL_ENOTFOUND;
    }
    if (take(&s, "up_blocks", &x)) {
        if (x >= c->n_levels)
            return CD_MODEL_ENOTFOUND;
        int level = c->n_levels - 1 - x, n = 0;
        for (int u = 0; u < x; u++)
            n += c->num_res_blocks[c->n_levels - 1 - u] + 1;
        int nrb = c->num_res_blocks[level];
        if (take(&s, "resnets", &i))
            return resnet(out, outlen, "output_blocks.%d.%d.", n + i, 0, s);
        if (take(&s, "attentions", &i))
            return emit(out, outlen, "output_blocks.%d.%d.", n + i, 1, s);
        if (take(&s, "upsamplers", &i) && i == 0 && strncmp(s, "conv.", 5) == 0) {
            /* the upsample conv follows the attention when the level has one:
             * the level's depth in transformer_depth_output (input-walk
             * order) at the index of output block n + nrb */
            int ob = n + nrb, idx = c->n_transformer_depth_output - 1 - ob;
            int has_attn = idx >= 0 && idx < c->n_transformer_depth_output &&
                           c->transformer_depth_output[idx] > 0;
            return emit(out, outlen, "output_blocks.%d.%d.conv.", ob, has_attn ? 2 : 1, s + 5);
        }
        return CD_MODEL_ENOTFOUND;
    }
    return CD_MODEL_ENOTFOUND;
}

int cd_convert_diffusers_vae_key(int n_levels, const char *name, char *out, size_t outlen)
{
    const char *part;
    if (strncmp(name, "encoder.", 8) == 0)
        part = "encoder.";
    else if (strncmp(name, "decoder.", 8) == 0)
        part = "decoder.";
    else if (strncmp(name, "quant_conv.", 11) == 0 || strncmp(name, "post_quant_conv.", 16) == 0)
        return snprintf(out, outlen, "%s", name) < (int)outlen ? 0 : CD_MODEL_EINVAL;
    else
        return CD_MODEL_ENOTFOUND;
    const char *s = name + 8;
    char tail[256];
    int x, j, k;
    if (strncmp(s, "conv_in.", 8) == 0 || strncmp(s, "conv_out.", 9) == 0) {
        k = snprintf(out, outlen, "%s", name);
    } else if (strncmp(s, "conv_norm_out.", 14) == 0) {
        k = snprintf(out, outlen, "%snorm_out.%s", part, s + 14);
    } else if (take(&s, "down_blocks", &x) || take(&s, "up_blocks", &x)) {
        int up = part[0] == 'd';
        int level = up ? n_levels - 1 - x : x;
        if (x >= n_levels)
            return CD_MODEL_ENOTFOUND;
        if (take(&s, "resnets", &j)) {
            const char *sub = s;
            if (strncmp(s, "conv_shortcut.", 14) == 0) {
                snprintf(tail, sizeof tail, "nin_shortcut.%s", s + 14);
                sub = tail;
            }
            k = snprintf(out, outlen, "%s%s.%d.block.%d.%s", part, up ? "up" : "down", level, j,
                         sub);
        } else if (take(&s, up ? "upsamplers" : "downsamplers", &j) && j == 0) {
            k = snprintf(out, outlen, "%s%s.%d.%s.%s", part, up ? "up" : "down", level,
                         up ? "upsample" : "downsample", s);
        } else {
            return CD_MODEL_ENOTFOUND;
        }
    } else if (strncmp(s, "mid_block.", 10) == 0) {
        s += 10;
        if (take(&s, "resnets", &j) && j <= 1) {
            const char *sub = s;
            if (strncmp(s, "conv_shortcut.", 14) == 0) {
                snprintf(tail, sizeof tail, "nin_shortcut.%s", s + 14);
                sub = tail;
            }
            k = snprintf(out, outlen, "%smid.block_%d.%s", part, j + 1, sub);
        } else if (take(&s, "attentions", &j) && j == 0) {
            static const char *const am[][2] = {
                {"group_norm.", "norm."}, {"to_q.", "q."},      {"to_k.", "k."},
                {"to_v.", "v."},          {"to_out.0.", "proj_out."}, {"query.", "q."},
                {"key.", "k."},           {"value.", "v."},     {"proj_attn.", "proj_out."},
            };
            const char *mapped = NULL;
            size_t l = 0;
            for (size_t m = 0; m < sizeof am / sizeof *am; m++) {
                l = strlen(am[m][0]);
                if (strncmp(s, am[m][0], l) == 0) {
                    mapped = am[m][1];
                    break;
                }
            }
            if (!mapped)
                return CD_MODEL_ENOTFOUND;
            k = snprintf(out, outlen, "%smid.attn_1.%s%s", part, mapped, s + l);
        } else {
            return CD_MODEL_ENOTFOUND;
        }
    } else {
        return CD_MODEL_ENOTFOUND;
    }
    return k < 0 || (size_t)k >= outlen ? CD_MODEL_EINVAL : 0;
}

int cd_convert_openclip_text_key(const char *name, cd_key_target out[3])
{
    static const char *const top[][2] = {
        {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
        {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
        {"ln_final.weight", "text_model.final_layer_norm.weight"},
        {"ln_final.bias", "text_model.final_layer_norm.bias"},
        {"logit_scale", "logit_scale"},
    };
    static const char *const layer[][2] = {
        {"ln_1.", "layer_norm1."},       {"ln_2.", "layer_norm2."},
        {"mlp.c_fc.", "mlp.fc1."},       {"mlp.c_proj.", "mlp.fc2."},
        {"attn.out_proj.", "self_attn.out_proj."},
    };
    memset(out, 0, 3 * sizeof *out);
    out[0].parts = 1;
    for (size_t i = 0; i < sizeof top / sizeof *top; i++) {
        if (strcmp(name, top[i][0]) == 0) {
            snprintf(out[0].name, sizeof out[0].name, "%s", top[i][1]);
            return 1;
        }
    }
    if (strcmp(name, "text_projection") == 0) {
        snprintf(out[0].name, sizeof out[0].name, "text_projection.weight");
        out[0].transpose = 1;
        return 1;
    }
    const char *s = name;
    int n;
    if (!take(&s, "transformer.resblocks", &n))
        return CD_MODEL_ENOTFOUND;
    for (size_t i = 0; i < sizeof layer / sizeof *layer; i++) {
        size_t l = strlen(layer[i][0]);
        if (strncmp(s, layer[i][0], l) == 0) {
            int k = snprintf(out[0].name, sizeof out[0].name, "text_model.encoder.layers.%d.%s%s",
                             n, layer[i][1], s + l);
            return k < 0 || (size_t)k >= sizeof out[0].name ? CD_MODEL_EINVAL : 1;
        }
    }
    const char *kind = strcmp(s, "attn.in_proj_weight") == 0 ? "weight"
                       : strcmp(s, "attn.in_proj_bias") == 0 ? "bias"
                                                             : NULL;
    if (!kind)
        return CD_MODEL_ENOTFOUND;
    static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
    for (int p = 0; p < 3; p++) {
        snprintf(out[p].name, sizeof out[p].name, "text_model.encoder.layers.%d.self_attn.%s.%s", n,
                 qkv[p], kind);
        out[p].part = p;
        out[p].parts = 3;
    }
    return 3;
}
