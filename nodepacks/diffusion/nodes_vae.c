/*
 * nodes_vae.c — VAEDecode, VAEEncode, VAEDecodeTiled, VAEEncodeTiled
 * (ComfyUI's nodes.py; spec §2.3 and §14.5).  VAEDecode / VAEEncode fall
 * back to the tiled forms (with ComfyUI's default tiles) when the whole
 * image's scratch does not fit in the free memory, logging a warning as
 * ComfyUI does.  Execute runs on the executor thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

/* Reads an IMAGE input as contiguous f32 [B, H, W, 3] cropped to multiples
 * of r, the VAE's downscale (offsets (dim % r) / 2), extra channels
 * dropped; *img is malloc'd. */
static int in_pixels(comfy_call *call, const char *name, int64_t r, float **img, int64_t *B,
                     int64_t *H, int64_t *W)
{
    const comfy_host *h = call->host;
    comfy_tensor *t = h->value_get_tensor(h->input(call, name));
    if (!t || t->ndim != 4 || t->shape[3] < 3)
        return h->fail(call, "ValueError", "%s is not an IMAGE [batch, height, width, 3]", name);
    int64_t b = t->shape[0], ih = t->shape[1], iw = t->shape[2], c = t->shape[3];
    int64_t oh = ih / r * r, ow = iw / r * r;
    if (oh < r || ow < r || oh < 1 || ow < 1)
        return h->fail(call, "ValueError", "the image (%lldx%lld) is smaller than %lldx%lld",
                       (long long)iw, (long long)ih, (long long)r, (long long)r);
    int64_t y0 = (ih % r) / 2, x0 = (iw % r) / 2;
    float *all = dp_tensor_f32(h, t);
    float *o = all ? malloc((size_t)(b * oh * ow * 3) * sizeof(float)) : NULL;
    if (!o) {
        free(all);
        return h->fail(call, "RuntimeError", "out of memory reading the image");
    }
    for (int64_t k = 0; k < b; k++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                for (int ch = 0; ch < 3; ch++)
                    o[((k * oh + i) * ow + j) * 3 + ch] =
                        all[((k * ih + y0 + i) * iw + x0 + j) * c + ch];
    free(all);
    *img = o;
    *B = b;
    *H = oh;
    *W = ow;
    return COMFY_OK;
}

static int decode_common(comfy_call *call, int tiled, int64_t tile, int64_t overlap)
{
    const comfy_host *h = call->host;
    dp_vae *vae = dp_in_vae(call, "vae");
    if (!vae)
        return COMFY_ERR;
    dp_latent l;
    int rc = dp_in_latent(call, "samples", &l);
    if (rc)
        return rc;
    if (l.c != vae->latent_channels) {
        dp_latent_free(&l);
        return h->fail(call, "RuntimeError", "the latent has %lld channels but the VAE takes %d",
                       (long long)l.c, vae->latent_channels);
    }
    int64_t shape[4] = {l.b, l.h * vae->downscale, l.w * vae->downscale, 3};
    comfy_tensor *t = dp_new_tensor(call, 4, shape);
    if (!t) {
        dp_latent_free(&l);
        return COMFY_ERR;
    }
    if (!tiled) {
        /* Whole decode unless its scratch does not fit. */
        uint64_t avail = dp_mem_available();
        uint64_t need = dp_vae_decode_need(vae, l.b, l.h, l.w);
        if (avail && need > avail) {
            h->log(h->ctx, COMFY_LOG_WARNING,
                   "Warning: Ran out of memory when regular VAE decoding, retrying with tiled "
                   "VAE decoding.");
            tiled = 1;
            tile = 64;
            overlap = 16;
        }
    }
    rc = tiled ? dp_vae_tiled(vae, call, 0, l.data, l.b, l.h, l.w, tile, tile, overlap, t->data)
               : dp_vae_decode(vae, call, l.data, l.b, l.h, l.w, t->data);
    dp_latent_free(&l);
    if (rc) {
        h->tensor_release(t);
        return rc;
    }
    comfy_value *v = h->value_tensor(h->ctx, t);
    if (!v)
        return h->fail(call, "RuntimeError", "out of memory");
    return h->set_output(call, 0, v);
}

static int vae_decode_execute(comfy_call *call) { return decode_common(call, 0, 0, 0); }

static int vae_decode_tiled_execute(comfy_call *call)
{
    int64_t tile, overlap;
    int rc;
    if ((rc = dp_in_int(call, "tile_size", &tile)) || (rc = dp_in_int(call, "overlap", &overlap)))
        return rc;
    if (tile < 64 || overlap < 0)
        return call->host->fail(call, "ValueError", "tile_size must be >= 64 and overlap >= 0");
    if (tile < 4 * overlap)
        overlap = tile / 4;
    return decode_common(call, 1, tile / 8, overlap / 8);
}

static int encode_common(comfy_call *call, int tiled, int64_t tile, int64_t overlap)
{
    const comfy_host *h = call->host;
    dp_vae *vae = dp_in_vae(call, "vae");
    if (!vae)
        return COMFY_ERR;
    float *img = NULL;
    int64_t B = 0, H = 0, W = 0;
    int rc = in_pixels(call, "pixels", vae->downscale, &img, &B, &H, &W);
    if (rc)
        return rc;
    int64_t shape[4] = {B, vae->latent_channels, H / vae->downscale, W / vae->downscale};
    comfy_tensor *t = dp_new_tensor(call, 4, shape);
    if (!t) {
        free(img);
        return COMFY_ERR;
    }
    if (!tiled) {
        uint64_t avail = dp_mem_available();
        if (avail && dp_vae_encode_need(vae, B, H, W) > avail) {
            h->log(h->ctx, COMFY_LOG_WARNING,
                   "Warning: Ran out of memory when regular VAE encoding, retrying with tiled "
                   "VAE encoding.");
            tiled = 1;
            tile = 512;
            overlap = 64;
        }
    }
    rc = tiled ? dp_vae_tiled(vae, call, 1, img, B, H, W, tile, tile, overlap, t->data)
               : dp_vae_encode(vae, call, img, B, H, W, t->data);
    free(img);
    if (rc) {
        h->tensor_release(t);
        return rc;
    }
    comfy_value *v = dp_latent_with(h, NULL, t);
    if (!v)
        return h->fail(call, "RuntimeError", "out of memory");
    return h->set_output(call, 0, v);
}

static int vae_encode_execute(comfy_call *call) { return encode_common(call, 0, 0, 0); }

static int vae_encode_tiled_execute(comfy_call *call)
{
    int64_t tile, overlap;
    int rc;
    if ((rc = dp_in_int(call, "tile_size", &tile)) || (rc = dp_in_int(call, "overlap", &overlap)))
        return rc;
    if (tile < 64 || overlap < 0 || overlap >= tile / 2)
        return call->host->fail(call, "ValueError",
                                "tile_size must be >= 64 and overlap below half of it");
    return encode_common(call, 1, tile, overlap);
}

/* VAEEncodeForInpaint (ComfyUI's nodes.py): masked pixels set to grey,
 * encoded, and the grown, rounded mask as noise_mask. */
static int encode_inpaint_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t grow;
    int rc = dp_in_int(call, "grow_mask_by", &grow);
    if (rc)
        return rc;
    if (grow < 0 || grow > 64)
        return h->fail(call, "ValueError", "grow_mask_by must be in 0..64");
    dp_vae *vae = dp_in_vae(call, "vae");
    if (!vae)
        return COMFY_ERR;
    comfy_tensor *pt = h->value_get_tensor(h->input(call, "pixels"));
    comfy_tensor *mt = h->value_get_tensor(h->input(call, "mask"));
    if (!pt || pt->ndim != 4 || pt->shape[3] < 3)
        return h->fail(call, "ValueError", "pixels is not an IMAGE [batch, height, width, 3]");
    if (!mt || mt->ndim < 2)
        return h->fail(call, "ValueError", "mask is not a MASK");
    int64_t r = vae->downscale, B = pt->shape[0], H = pt->shape[1], W = pt->shape[2],
            C = pt->shape[3];
    int64_t X = H / r * r, Y = W / r * r; /* ComfyUI's x (rows) and y (columns) */
    if (X < r || Y < r)
        return h->fail(call, "ValueError", "the image is smaller than %lldx%lld", (long long)r,
                       (long long)r);
    int64_t mh = mt->shape[mt->ndim - 2], mw = mt->shape[mt->ndim - 1];
    int64_t N = mh * mw > 0 ? h->tensor_numel(mt) / (mh * mw) : 0;
    if (N != 1 && N != B)
        return h->fail(call, "RuntimeError", "the mask batch (%lld) does not match the image "
                       "batch (%lld)", (long long)N, (long long)B);
    float *pix = dp_tensor_f32(h, pt), *m0 = dp_tensor_f32(h, mt);
    float *mask = malloc((size_t)(N * H * W) * sizeof(float));
    float *crop = malloc((size_t)(B * X * Y * 3) * sizeof(float));
    float *grown = malloc((size_t)(N * X * Y) * sizeof(float));
    comfy_tensor *zt = NULL, *nm = NULL;
    if (!pix || !m0 || !mask || !crop || !grown) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    if (dp_common_upscale(m0, N, 1, mh, mw, mask, H, W, DP_UPSCALE_BILINEAR, 0) != COMFY_OK) {
        rc = h->fail(call, "RuntimeError", "cannot resize the mask");
        goto out;
    }
    int64_t xo = (H % r) / 2, yo = (W % r) / 2;
    /* Cropped mask, rounded (in place, [N, X, Y]). */
    float *mr = grown; /* reuse as the rounded cropped mask first */
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < X; i++)
            for (int64_t j = 0; j < Y; j++)
                mr[(n * X + i) * Y + j] = nearbyintf(mask[(n * H + xo + i) * W + yo + j]);
    /* Pixels: (p - 0.5) * (1 - round(mask)) + 0.5 on RGB. */
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < X; i++)
            for (int64_t j = 0; j < Y; j++) {
                float keep = 1.0f - mr[((N == 1 ? 0 : b) * X + i) * Y + j];
                for (int c = 0; c < 3; c++) {
                    float p = pix[((b * H + xo + i) * W + yo + j) * C + c];
                    crop[((b * X + i) * Y + j) * 3 + c] = (p - 0.5f) * keep + 0.5f;
                }
            }
    /* The grown mask: ones(g x g) convolution of the rounded mask with
     * padding ceil((g - 1) / 2), clamped, cut to X x Y, rounded. */
    int64_t nshape[4] = {N, 1, X, Y};
    nm = dp_new_tensor(call, 4, nshape);
    if (!nm) {
        rc = COMFY_ERR;
        goto out;
    }
    float *nmd = nm->data;
    if (grow == 0) {
        memcpy(nmd, mr, (size_t)(N * X * Y) * sizeof(float));
    } else {
        int64_t pad = grow / 2; /* == ceil((g - 1) / 2) */
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < X; i++)
                for (int64_t j = 0; j < Y; j++) {
                    float sum = 0;
                    for (int64_t a = 0; a < grow; a++)
                        for (int64_t c = 0; c < grow; c++) {
                            int64_t yy = i - pad + a, xx = j - pad + c;
                            if (yy >= 0 && yy < X && xx >= 0 && xx < Y)
                                sum += mr[(n * X + yy) * Y + xx];
                        }
                    sum = sum < 0 ? 0 : sum > 1 ? 1 : sum;
                    nmd[(n * X + i) * Y + j] = nearbyintf(sum);
                }
    }
    int64_t zshape[4] = {B, vae->latent_channels, X / r, Y / r};
    zt = dp_new_tensor(call, 4, zshape);
    if (!zt) {
        rc = COMFY_ERR;
        goto out;
    }
    if ((rc = dp_vae_encode(vae, call, crop, B, X, Y, zt->data)))
        goto out;
    comfy_value *lat = dp_latent_with(h, NULL, zt);
    zt = NULL;
    comfy_value *nmv = h->value_tensor(h->ctx, nm);
    nm = NULL;
    if (!lat || !nmv || h->map_set(lat, "noise_mask", nmv) != COMFY_OK) {
        h->value_release(lat);
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    rc = h->set_output(call, 0, lat);
out:
    h->tensor_release(zt);
    h->tensor_release(nm);
    free(pix);
    free(m0);
    free(mask);
    free(crop);
    free(grown);
    return rc;
}

/* --------------------------------------------------------- declarations */

#define IN(name, type, opts) {sizeof(comfy_input_def), name, type, COMFY_REQUIRED, opts, NULL, NULL, NULL, 0}
#define N(arr) (uint32_t)(sizeof arr / sizeof arr[0])

static const comfy_input_def decode_in[] = {
    IN("samples", "LATENT", "{\"tooltip\": \"The latent to be decoded.\"}"),
    IN("vae", "VAE", "{\"tooltip\": \"The VAE model used for decoding the latent.\"}"),
};
static const comfy_input_def encode_in[] = {
    IN("pixels", "IMAGE", NULL),
    IN("vae", "VAE", NULL),
};
#define TEMPORAL                                                                                \
    IN("temporal_size", "INT",                                                                  \
       "{\"default\": 64, \"min\": 8, \"max\": 4096, \"step\": 4, \"tooltip\": \"Only used for " \
       "video VAEs: Amount of frames to decode at a time.\"}"),                                 \
        IN("temporal_overlap", "INT",                                                           \
           "{\"default\": 8, \"min\": 4, \"max\": 4096, \"step\": 4, \"tooltip\": \"Only used " \
           "for video VAEs: Amount of frames to overlap.\"}")
static const comfy_input_def decode_tiled_in[] = {
    IN("samples", "LATENT", NULL),
    IN("vae", "VAE", NULL),
    IN("tile_size", "INT", "{\"default\": 512, \"min\": 64, \"max\": 4096, \"step\": 32}"),
    IN("overlap", "INT", "{\"default\": 64, \"min\": 0, \"max\": 4096, \"step\": 32}"),
    TEMPORAL,
};
static const comfy_input_def encode_tiled_in[] = {
    IN("pixels", "IMAGE", NULL),
    IN("vae", "VAE", NULL),
    IN("tile_size", "INT", "{\"default\": 512, \"min\": 64, \"max\": 4096, \"step\": 64}"),
    IN("overlap", "INT", "{\"default\": 64, \"min\": 0, \"max\": 4096, \"step\": 32}"),
    TEMPORAL,
};

static const comfy_input_def inpaint_in[] = {
    IN("pixels", "IMAGE", NULL),
    IN("vae", "VAE", NULL),
    IN("mask", "MASK", NULL),
    IN("grow_mask_by", "INT", "{\"default\": 6, \"min\": 0, \"max\": 64, \"step\": 1}"),
};

static const comfy_output_def decode_out[] = {
    {sizeof(comfy_output_def), "IMAGE", NULL, "The decoded image.", 0},
};
static const comfy_output_def image_out[] = {{sizeof(comfy_output_def), "IMAGE", NULL, NULL, 0}};
static const comfy_output_def latent_out[] = {{sizeof(comfy_output_def), "LATENT", NULL, NULL, 0}};

static const comfy_node_def vae_nodes[] = {
    {.size = sizeof(comfy_node_def), .name = "VAEDecode", .display_name = "VAE Decode",
     .category = "latent", .description = "Decodes latent images back into pixel space images.",
     .module = "nodes", .inputs = decode_in, .n_inputs = N(decode_in), .outputs = decode_out,
     .n_outputs = 1, .flags = COMFY_NODE_OUTPUT_TOOLTIPS, .execute = vae_decode_execute},
    {.size = sizeof(comfy_node_def), .name = "VAEEncode", .display_name = "VAE Encode",
     .category = "latent", .module = "nodes", .inputs = encode_in, .n_inputs = N(encode_in),
     .outputs = latent_out, .n_outputs = 1, .execute = vae_encode_execute},
    {.size = sizeof(comfy_node_def), .name = "VAEEncodeForInpaint",
     .display_name = "VAE Encode (for Inpainting)", .category = "latent/inpaint",
     .module = "nodes", .inputs = inpaint_in, .n_inputs = N(inpaint_in), .outputs = latent_out,
     .n_outputs = 1, .execute = encode_inpaint_execute},
    {.size = sizeof(comfy_node_def), .name = "VAEDecodeTiled",
     .display_name = "VAE Decode (Tiled)", .category = "_for_testing", .module = "nodes",
     .inputs = decode_tiled_in, .n_inputs = N(decode_tiled_in), .outputs = image_out,
     .n_outputs = 1, .execute = vae_decode_tiled_execute},
    {.size = sizeof(comfy_node_def), .name = "VAEEncodeTiled",
     .display_name = "VAE Encode (Tiled)", .category = "_for_testing", .module = "nodes",
     .inputs = encode_tiled_in, .n_inputs = N(encode_tiled_in), .outputs = latent_out,
     .n_outputs = 1, .execute = vae_encode_tiled_execute},
};

int dp_register_vae(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < N(vae_nodes); i++) {
        int rc = h->register_node(reg, &vae_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
