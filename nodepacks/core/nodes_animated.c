/*
 * nodes_animated.c — SaveAnimatedWEBP and SaveAnimatedPNG of
 * comfy_extras.nodes_images: the whole IMAGE batch becomes one animated
 * file in the output folder, named "<prefix>_<counter>_.webp" / ".png",
 * and the UI is {"images": [{filename, subfolder, type}], "animated":
 * [true]} ([false] for a one-frame WebP, as ComfyUI says).  Frames are 8-bit, truncating clip(255·v, 0, 255) as numpy's
 * astype does; LA for 2 channels, RGB for 3, RGBA for 4 (other channel
 * counts are an error, as PIL's fromarray makes them).  WebP takes LA as
 * RGBA (L repeated), as PIL converts it.
 *
 * WebP is written as Pillow 9.4 writes it: one frame is a still image
 * (WebPEncode) whose EXIF chunk is the bare TIFF block; several frames go
 * through WebPAnimEncoder (loop 0, transparent background, kmin/kmax 9/17
 * lossless or 3/5 lossy, timestamps k·duration) and the EXIF chunk starts
 * with "Exif\0\0".  The TIFF block is PIL's Image.Exif as ComfyUI fills
 * it: big-endian, ASCII tag 0x0110 "prompt:<json>" and 0x010f, 0x010e, ...
 * "<key>:<json>" per extra_pnginfo key, sorted by tag, odd values padded.
 *
 * APNG is written here (zlib only), as PIL's APNG writer lays it out:
 * IHDR, acTL, then per frame fcTL and IDAT (first) or fdAT; a frame whose
 * RGB equals the previous kept frame is dropped, later frames are cropped
 * to the box where their RGB differs (dispose none, blend source); the
 * metadata follows the frames as private "comf" chunks holding
 * "<key>\0<json>" in latin-1; then IEND.  The image data is compressed
 * as PIL's encoder does it (see deflate_box), so the files are PIL's byte
 * for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/encode.h>
#include <webp/mux.h>
#include <zlib.h>

#include "core.h"

#define IN(n, t, o) { sizeof(comfy_input_def), n, t, COMFY_REQUIRED, o, \
                      NULL, NULL, NULL, 0 }
#define HIDDEN(n, t) { sizeof(comfy_input_def), n, t, COMFY_HIDDEN, NULL, \
                       NULL, NULL, NULL, 0 }

/* ------------------------------------------------------------ common */

#define META_MAX 64

/* The metadata of a call: prompt (may be NULL) and extra_pnginfo's keys
 * and JSON texts, borrowed from the call's inputs. */
typedef struct meta {
    const char *prompt;
    const char *keys[META_MAX], *texts[META_MAX];
    size_t n;
} meta;

static int metadata_disabled(const comfy_host *h)
{
#if COMFY_ABI_MINOR >= 1
    if (COMFY_HAS_FIELD(h, comfy_host, setting) && h->setting) {
        const char *v = h->setting(h->ctx, "disable-metadata");
        return v && strcmp(v, "1") == 0;
    }
#endif
    (void)h;
    return 0;
}

static void read_meta(comfy_call *call, meta *m)
{
    const comfy_host *h = call->host;
    memset(m, 0, sizeof(*m));
    if (metadata_disabled(h))
        return;
    const comfy_value *pv = h->input(call, "prompt");
    if (pv)
        m->prompt = h->value_get_string(pv);
    const comfy_value *ev = h->input(call, "extra_pnginfo");
    if (ev && h->value_kind(ev) == COMFY_KIND_MAP) {
        for (size_t i = 0; i < h->map_len(ev) && m->n < META_MAX; i++) {
            const char *t = h->value_get_string(h->map_value(ev, i));
            if (!t)
                continue;
            m->keys[m->n] = h->map_key(ev, i);
            m->texts[m->n++] = t;
        }
    }
}

/* The frames as 8-bit pixels, b × h × w × c (caller frees), or NULL after
 * failing the call. */
static uint8_t *to_u8(comfy_call *call, const core_view *v)
{
    size_t n = (size_t)(v->b * v->h * v->w * v->c);
    uint8_t *px = malloc(n ? n : 1);
    if (!px) {
        call->host->fail(call, "RuntimeError", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        float f = 255.0f * v->data[i];
        px[i] = !(f > 0.0f) ? 0 : f > 255.0f ? 255 : (uint8_t)f;
    }
    return px;
}

/* Writes `len` bytes to `path` through "<path>.part" and a rename. */
static int write_file(const char *path, const void *data, size_t len,
                      char *err, size_t cap)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.part", path) >= (int)sizeof(tmp)) {
        snprintf(err, cap, "the file name is too long");
        return COMFY_EINVAL;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, cap, "cannot write '%.400s'", tmp);
        return COMFY_ERR;
    }
    int bad = len && fwrite(data, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        snprintf(err, cap, "cannot write '%.400s'", path);
        return COMFY_ERR;
    }
    return COMFY_OK;
}

/* A growable byte buffer; `data` owned, freed by the user. */
typedef struct bytes {
    uint8_t *data;
    size_t len, cap;
} bytes;

static int put(bytes *b, const void *p, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len)
        return COMFY_ENOMEM;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return COMFY_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return COMFY_OK;
}

static void be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Saves the batch with `write` (format-specific) under the next counter
 * and sets the UI.  `ext` is "webp" or "png". */
typedef int (*writer_fn)(comfy_call *call, const char *path,
                         const uint8_t *px, const core_view *v,
                         const meta *m, const void *opts);

static int save_animated(comfy_call *call, const char *ext,
                         writer_fn writer, const void *opts)
{
    const comfy_host *h = call->host;
    const char *prefix;
    core_view img;
    comfy_save_path sp;
    meta m;
    uint8_t *px = NULL;
    comfy_value *ui = NULL, *list = NULL;
    int rc = core_in_string(call, "filename_prefix", &prefix);
    if (rc || (rc = core_in_image(call, "images", &img)))
        return rc;
    if (img.c < 2 || img.c > 4) {
        rc = h->fail(call, "TypeError", "cannot save an image with %lld "
                     "channels (2, 3 or 4 needed)", (long long)img.c);
        goto out;
    }
    memset(&sp, 0, sizeof(sp));
    sp.size = sizeof(sp);
    if (h->save_path(h->ctx, "output", prefix, img.w, img.h, &sp)) {
        rc = h->fail(call, "ValueError", "cannot save to '%s' in the output "
                     "folder (the path is invalid or leaves the folder)",
                     prefix);
        goto out;
    }
    read_meta(call, &m);
    if (!(px = to_u8(call, &img))) {
        rc = COMFY_ERR;
        goto out;
    }
    char file[1200], path[5400];
    if (snprintf(file, sizeof(file), "%s_%05lld_.%s", sp.filename,
                 (long long)sp.counter, ext) >= (int)sizeof(file) ||
        snprintf(path, sizeof(path), "%s/%s", sp.full_folder, file) >=
            (int)sizeof(path)) {
        rc = h->fail(call, "ValueError", "the file name is too long");
        goto out;
    }
    if ((rc = h->interrupted(call)) != COMFY_OK)
        goto out;
    if ((rc = writer(call, path, px, &img, &m, opts)) != COMFY_OK)
        goto out;
    /* map_set and list_append take their item even when they fail */
    list = h->value_list(h->ctx);
    comfy_value *entry = h->value_map(h->ctx);
    ui = h->value_map(h->ctx);
    if (!list || !entry || !ui) {
        h->value_release(entry);
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    int bad = h->map_set(entry, "filename",
                      h->value_string(h->ctx, file, (size_t)-1));
    bad |= h->map_set(entry, "subfolder",
                      h->value_string(h->ctx, sp.subfolder, (size_t)-1));
    bad |= h->map_set(entry, "type", h->value_string(h->ctx, "output", 6));
    bad |= h->list_append(list, entry);
    bad |= h->map_set(ui, "images", list);
    list = h->value_list(h->ctx);
    if (list) {
        /* ComfyUI's WebP saver says [false] for a single frame */
        int animated = strcmp(ext, "png") == 0 || img.b != 1;
        bad |= h->list_append(list, h->value_bool(h->ctx, animated));
        bad |= h->map_set(ui, "animated", list);
    } else {
        bad = 1;
    }
    list = NULL;
    if (bad) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    rc = h->set_ui(call, ui);
    ui = NULL;
out:
    h->value_release(list);
    h->value_release(ui);
    free(px);
    core_view_free(&img);
    return rc;
}

/* ------------------------------------------------------------ WebP */

/* PIL's Image.Exif.tobytes() for the metadata (see the file comment):
 * the TIFF block, appended to `out`; with no metadata it is the header
 * and an empty directory, which PIL writes too.  Non-ASCII characters become '?' as
 * str.encode("ascii", "replace") makes them (one per UTF-8 sequence). */
static int exif_block(const meta *m, bytes *out)
{
    size_t n = (m->prompt ? 1 : 0) + m->n;
    /* entries in ascending tag order: the extra keys from last to first,
     * then the prompt at 0x0110 */
    const char *keys[META_MAX + 1], *texts[META_MAX + 1];
    uint16_t tags[META_MAX + 1];
    size_t k = 0;
    for (size_t i = m->n; i-- > 0;) {
        keys[k] = m->keys[i];
        texts[k] = m->texts[i];
        tags[k++] = (uint16_t)(0x010f - i);
    }
    if (m->prompt) {
        keys[k] = "prompt";
        texts[k] = m->prompt;
        tags[k++] = 0x0110;
    }
    bytes data = { 0 };
    uint8_t head[10] = { 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 0 };
    be16(head + 8, (uint32_t)n);
    int rc = put(out, head, sizeof(head));
    size_t base = 8 + 2 + 12 * n + 4; /* offset of the first value */
    for (size_t i = 0; i < n && !rc; i++) {
        size_t start = data.len;
        for (int part = 0; part < 2 && !rc; part++) {
            const unsigned char *s = (const unsigned char *)(part ? texts[i]
                                                                  : keys[i]);
            for (; *s && !rc; s++) {
                if (*s >= 0xC0 || *s < 0x80) {
                    char ch = *s < 0x80 ? (char)*s : '?';
                    rc = put(&data, &ch, 1);
                } /* continuation bytes of a replaced character are skipped */
            }
            if (!part && !rc)
                rc = put(&data, ":", 1);
        }
        if (!rc)
            rc = put(&data, "", 1); /* NUL */
        uint8_t e[12];
        size_t count = data.len - start;
        if (count > UINT32_MAX) {
            rc = COMFY_EINVAL;
            break;
        }
        be16(e, tags[i]);
        be16(e + 2, 2); /* ASCII */
        be32(e + 4, (uint32_t)count);
        if (count <= 4) {
            memset(e + 8, 0, 4);
            memcpy(e + 8, data.data + start, count);
            data.len = start; /* kept in the entry */
        } else {
            if (base + start > UINT32_MAX) {
                rc = COMFY_EINVAL;
                break;
            }
            be32(e + 8, (uint32_t)(base + start));
            if (count & 1)
                rc = put(&data, "", 1);
        }
        if (!rc)
            rc = put(out, e, sizeof(e));
    }
    uint8_t next[4] = { 0, 0, 0, 0 };
    if (!rc)
        rc = put(out, next, 4);
    if (!rc)
        rc = put(out, data.data, data.len);
    free(data.data);
    return rc;
}

typedef struct webp_opts {
    int lossless, quality, method;
    int64_t duration;
} webp_opts;

static const char *webp_error(int code)
{
    switch (code) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "bad image dimensions";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
    case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "partition overflow";
    case VP8_ENC_ERROR_FILE_TOO_BIG: return "file too big";
    default: return "encoder error";
    }
}

/* use_argb: 1 for the animation encoder; PIL's still path leaves lossy
 * pictures in YUV (converted straight from RGB). */
static int import_frame(WebPPicture *pic, const uint8_t *px, int w, int h,
                        int c, int use_argb)
{
    pic->width = w;
    pic->height = h;
    pic->use_argb = use_argb;
    return c == 4 ? WebPPictureImportRGBA(pic, px, w * 4)
                  : WebPPictureImportRGB(pic, px, w * 3);
}

static int write_webp(comfy_call *call, const char *path, const uint8_t *px,
                      const core_view *v, const meta *m, const void *o)
{
    const comfy_host *h = call->host;
    const webp_opts *opt = o;
    int w = (int)v->w, ht = (int)v->h, c = (int)v->c;
    size_t frame = (size_t)(v->w * v->h * v->c);
    char err[512] = "";
    uint8_t *rgba = NULL; /* LA frames as RGBA */
    if (c == 2) {
        size_t n = (size_t)(v->b * v->h * v->w);
        rgba = malloc(n * 4);
        if (!rgba)
            return h->fail(call, "RuntimeError", "out of memory");
        for (size_t i = 0; i < n; i++) {
            rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = px[i * 2];
            rgba[i * 4 + 3] = px[i * 2 + 1];
        }
        px = rgba;
        c = 4;
        frame = (size_t)(v->w * v->h) * 4;
    }
    bytes exif = { 0 };
    WebPData image = { NULL, 0 }, out = { NULL, 0 };
    WebPAnimEncoder *enc = NULL;
    WebPMux *mux = NULL;
    int rc = COMFY_OK;
    if (v->w > WEBP_MAX_DIMENSION || v->h > WEBP_MAX_DIMENSION) {
        rc = h->fail(call, "ValueError", "image size %lldx%lld is over "
                     "WebP's limit of %d pixels per side", (long long)v->w,
                     (long long)v->h, WEBP_MAX_DIMENSION);
        goto out;
    }
    if (v->b > 1 && opt->duration * v->b > INT32_MAX) {
        rc = h->fail(call, "OverflowError", "the animation is too long "
                     "(%lld frames of %lld ms)", (long long)v->b,
                     (long long)opt->duration);
        goto out;
    }
    /* one frame: PIL's still-image path (the EXIF block without prefix) */
    if (v->b > 1 && put(&exif, "Exif\0\0", 6)) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    if (exif_block(m, &exif)) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    WebPConfig cfg;
    if (!WebPConfigInit(&cfg)) {
        rc = h->fail(call, "RuntimeError", "libwebp version mismatch");
        goto out;
    }
    cfg.lossless = opt->lossless;
    cfg.quality = (float)opt->quality;
    cfg.method = opt->method;
    if (!WebPValidateConfig(&cfg)) {
        rc = h->fail(call, "ValueError", "invalid WebP configuration");
        goto out;
    }
    if (v->b == 1) {
        WebPPicture pic;
        WebPMemoryWriter wr;
        if (!WebPPictureInit(&pic)) {
            rc = h->fail(call, "RuntimeError", "libwebp version mismatch");
            goto out;
        }
        WebPMemoryWriterInit(&wr);
        pic.writer = WebPMemoryWrite;
        pic.custom_ptr = &wr;
        int ok = import_frame(&pic, px, w, ht, c, opt->lossless) &&
                 WebPEncode(&cfg, &pic);
        if (!ok)
            snprintf(err, sizeof(err), "%s", webp_error(pic.error_code));
        WebPPictureFree(&pic);
        image.bytes = wr.mem;
        image.size = wr.size;
        if (!ok) {
            rc = h->fail(call, "OSError", "cannot write file as WebP: %s",
                         err);
            goto out;
        }
    } else {
        WebPAnimEncoderOptions eo;
        if (!WebPAnimEncoderOptionsInit(&eo)) {
            rc = h->fail(call, "RuntimeError", "libwebp version mismatch");
            goto out;
        }
        eo.anim_params.bgcolor = 0;
        eo.anim_params.loop_count = 0;
        eo.minimize_size = 0;
        eo.kmin = opt->lossless ? 9 : 3;
        eo.kmax = opt->lossless ? 17 : 5;
        eo.allow_mixed = 0;
        eo.verbose = 0;
        enc = WebPAnimEncoderNew(w, ht, &eo);
        if (!enc) {
            rc = h->fail(call, "RuntimeError", "could not create the WebP "
                         "encoder");
            goto out;
        }
        int timestamp = 0;
        for (int64_t i = 0; i < v->b; i++) {
            if ((rc = h->interrupted(call)) != COMFY_OK)
                goto out;
            WebPPicture pic;
            if (!WebPPictureInit(&pic)) {
                rc = h->fail(call, "RuntimeError", "libwebp version "
                             "mismatch");
                goto out;
            }
            int ok = import_frame(&pic, px + (size_t)i * frame, w, ht, c,
                                  1) &&
                     WebPAnimEncoderAdd(enc, &pic, timestamp, &cfg);
            if (!ok)
                snprintf(err, sizeof(err), "%s", WebPAnimEncoderGetError(enc));
            WebPPictureFree(&pic);
            if (!ok) {
                rc = h->fail(call, "OSError", "cannot add frame %lld to the "
                             "WebP animation: %s", (long long)i, err);
                goto out;
            }
            timestamp += (int)opt->duration;
        }
        if (!WebPAnimEncoderAdd(enc, NULL, timestamp, NULL) ||
            !WebPAnimEncoderAssemble(enc, &image)) {
            rc = h->fail(call, "OSError", "cannot write file as WebP: %s",
                         WebPAnimEncoderGetError(enc));
            goto out;
        }
    }
    if (exif.len) {
        WebPData chunk = { exif.data, exif.len };
        mux = WebPMuxCreate(&image, 0);
        if (!mux || WebPMuxSetChunk(mux, "EXIF", &chunk, 0) != WEBP_MUX_OK ||
            WebPMuxAssemble(mux, &out) != WEBP_MUX_OK) {
            rc = h->fail(call, "OSError", "cannot add the EXIF metadata to "
                         "the WebP file");
            goto out;
        }
    } else {
        out = image;
        image.bytes = NULL;
        image.size = 0;
    }
    if (write_file(path, out.bytes, out.size, err, sizeof(err)))
        rc = h->fail(call, "OSError", "%s", err);
out:
    WebPMuxDelete(mux);
    WebPAnimEncoderDelete(enc);
    WebPDataClear(&image);
    WebPDataClear(&out);
    free(exif.data);
    free(rgba);
    return rc;
}

static const char *const webp_methods[] = { "default", "fastest", "slowest",
                                            NULL };

static int save_webp_execute(comfy_call *call)
{
    webp_opts o;
    double fps;
    int64_t quality;
    int mi, rc;
    static const int method_values[] = { 4, 0, 6 };
    if ((rc = core_in_float(call, "fps", &fps)) ||
        (rc = core_in_bool(call, "lossless", &o.lossless)) ||
        (rc = core_in_int(call, "quality", &quality)) ||
        (rc = core_in_choice(call, "method", webp_methods, &mi)))
        return rc;
    if (!(fps >= 0.01 && fps <= 1000.0))
        return call->host->fail(call, "ValueError", "fps must be between "
                                "0.01 and 1000");
    if (quality < 0 || quality > 100)
        return call->host->fail(call, "ValueError", "quality must be between "
                                "0 and 100");
    o.quality = (int)quality;
    o.method = method_values[mi];
    o.duration = (int64_t)(1000.0 / fps);
    return save_animated(call, "webp", write_webp, &o);
}

/* ------------------------------------------------------------ APNG */

static int chunk(bytes *b, const char *type, const uint8_t *data, size_t n)
{
    uint8_t hd[8];
    if (n > 0x7fffffff)
        return COMFY_EINVAL;
    be32(hd, (uint32_t)n);
    memcpy(hd + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    size_t done = 0;
    while (done < n) { /* crc32 takes a uInt length */
        size_t part = n - done > 0x40000000 ? 0x40000000 : n - done;
        crc = crc32(crc, data + done, (uInt)part);
        done += part;
    }
    uint8_t tail[4];
    be32(tail, (uint32_t)crc);
    int rc = put(b, hd, 8);
    if (!rc)
        rc = put(b, data, n);
    if (!rc)
        rc = put(b, tail, 4);
    return rc;
}

/* The filtered scanlines of the w×h box at (x0, y0) of a frame `fw`
 * pixels wide, each row a filter byte and w·c bytes, deflated into `z`
 * (owned by the caller), as PIL's PNG encoder does it for APNG frames:
 * zlib's default level 6 whatever compress_level says (PIL's APNG writer
 * encodes copies of the frames, which do not carry the level: ComfyUI's
 * compress_level has no effect, and so it has none here), a 32 KiB
 * window, memLevel 9 and Z_FILTERED; per row the filter with the
 * least sum of |signed byte|, tried in the order none, up, sub, Paeth
 * (average is left out, as PIL leaves it without `optimize`), a later one
 * taken only when strictly better and the best sum so far is not 0. */
static int deflate_box(const uint8_t *frame, int64_t fw, int64_t x0,
                       int64_t y0, int64_t w, int64_t h, int c, bytes *z)
{
    static const int order[4] = { 0, 2, 1, 4 };
    size_t row = (size_t)(w * c);
    uint8_t *cand = malloc(5 * (row + 1));
    z_stream s;
    memset(&s, 0, sizeof(s));
    if (!cand || deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15, 9,
                                  Z_FILTERED) !=
                     Z_OK) {
        free(cand);
        return COMFY_ENOMEM;
    }
    int rc = COMFY_OK;
    for (int64_t y = 0; y <= h && !rc; y++) {
        const uint8_t *cur = NULL, *up = NULL;
        size_t best = 0;
        if (y < h) {
            cur = frame + ((size_t)((y0 + y) * fw + x0)) * (size_t)c;
            up = y ? cur - (size_t)fw * (size_t)c : NULL;
            uint64_t best_sum = 0;
            for (int t = 0; t < 4; t++) {
                int f = order[t];
                if (t > 0 && best_sum == 0)
                    break;
                uint8_t *o = cand + (size_t)f * (row + 1);
                uint64_t sum = 0;
                o[0] = (uint8_t)f;
                for (size_t i = 0; i < row; i++) {
                    int a = i >= (size_t)c ? cur[i - (size_t)c] : 0;
                    int b = up ? up[i] : 0;
                    int cc = up && i >= (size_t)c ? up[i - (size_t)c] : 0;
                    int pred = 0;
                    switch (f) {
                    case 1: pred = a; break;
                    case 2: pred = b; break;
                    case 4: {
                        int p = a + b - cc, pa = abs(p - a), pb = abs(p - b),
                            pc = abs(p - cc);
                        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : cc;
                        break;
                    }
                    default: break;
                    }
                    o[i + 1] = (uint8_t)(cur[i] - pred);
                    sum += o[i + 1] < 128 ? o[i + 1] : 256 - o[i + 1];
                }
                if (t == 0 || sum < best_sum) {
                    best_sum = sum;
                    best = (size_t)f;
                }
            }
        }
        const uint8_t *in = y < h ? cand + best * (row + 1) : NULL;
        size_t left = y < h ? row + 1 : 0;
        int flush = y < h ? Z_NO_FLUSH : Z_FINISH;
        s.next_in = (Bytef *)in;
        for (;;) {
            uint8_t buf[16384];
            size_t chunk_in = left > 0x40000000 ? 0x40000000 : left;
            s.avail_in = (uInt)chunk_in;
            s.next_out = buf;
            s.avail_out = sizeof(buf);
            int zr = deflate(&s, flush);
            size_t used = chunk_in - s.avail_in;
            left -= used;
            if (zr == Z_STREAM_ERROR ||
                put(z, buf, sizeof(buf) - s.avail_out)) {
                rc = COMFY_ENOMEM;
                break;
            }
            if (flush == Z_FINISH ? zr == Z_STREAM_END
                                  : left == 0 && s.avail_out != 0)
                break;
        }
    }
    deflateEnd(&s);
    free(cand);
    return rc;
}

typedef struct apng_opts {
    int64_t duration;
} apng_opts;

/* "<key>\0<text>" in latin-1 from UTF-8; COMFY_EINVAL for a character
 * past U+00FF (Python's latin-1 "strict" error). */
static int latin1(bytes *b, const char *key, const char *text)
{
    for (int part = 0; part < 2; part++) {
        const unsigned char *s = (const unsigned char *)(part ? text : key);
        while (*s) {
            uint8_t ch;
            if (*s < 0x80) {
                ch = *s++;
            } else if ((s[0] == 0xC2 || s[0] == 0xC3) &&
                       (s[1] & 0xC0) == 0x80) {
                ch = (uint8_t)(((s[0] & 0x1F) << 6) | (s[1] & 0x3F));
                s += 2;
            } else {
                return COMFY_EINVAL;
            }
            if (put(b, &ch, 1))
                return COMFY_ENOMEM;
        }
        if (!part && put(b, "", 1))
            return COMFY_ENOMEM;
    }
    return COMFY_OK;
}

static int write_apng(comfy_call *call, const char *path, const uint8_t *px,
                      const core_view *v, const meta *m, const void *o)
{
    const comfy_host *h = call->host;
    const apng_opts *opt = o;
    int c = (int)v->c;
    size_t frame = (size_t)(v->w * v->h * v->c);
    bytes file = { 0 }, z = { 0 }, text = { 0 };
    int64_t *boxes = NULL;  /* kept frames: index, x0, y0, x1, y1 */
    char err[512];
    int rc = COMFY_OK;
    if (opt->duration > 65535)
        return h->fail(call, "ValueError", "a frame of %lld ms is longer "
                       "than APNG's 65535 ms (fps below 0.0153)",
                       (long long)opt->duration);
    /* the comf chunks first, so a bad character fails before any work */
    size_t n_meta = (m->prompt ? 1 : 0) + m->n;
    size_t *meta_end = calloc(n_meta + 1, sizeof(size_t));
    boxes = malloc(sizeof(int64_t) * 5 * (size_t)v->b);
    if (!meta_end || !boxes) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_meta; i++) {
        const char *k = m->prompt ? (i ? m->keys[i - 1] : "prompt")
                                  : m->keys[i];
        const char *t = m->prompt ? (i ? m->texts[i - 1] : m->prompt)
                                  : m->texts[i];
        int r = latin1(&text, k, t);
        if (r == COMFY_EINVAL) {
            rc = h->fail(call, "UnicodeEncodeError", "'latin-1' codec can't "
                         "encode the metadata '%s'", k);
            goto out;
        }
        if (r) {
            rc = h->fail(call, "RuntimeError", "out of memory");
            goto out;
        }
        meta_end[i + 1] = text.len;
    }
    /* frames to keep and their boxes, as PIL's APNG writer finds them */
    size_t kept = 0;
    for (int64_t i = 0; i < v->b; i++) {
        int64_t x0 = v->w, y0 = v->h, x1 = 0, y1 = 0;
        if (kept) {
            const uint8_t *a = px + (size_t)i * frame;
            const uint8_t *b = px + (size_t)boxes[(kept - 1) * 5] * frame;
            for (int64_t y = 0; y < v->h; y++)
                for (int64_t x = 0; x < v->w; x++) {
                    size_t p = (size_t)((y * v->w + x) * c);
                    /* PIL compares convert("RGB"): L alone for LA */
                    if (memcmp(a + p, b + p, c == 2 ? 1 : 3) != 0) {
                        x0 = x < x0 ? x : x0;
                        y0 = y < y0 ? y : y0;
                        x1 = x + 1 > x1 ? x + 1 : x1;
                        y1 = y + 1 > y1 ? y + 1 : y1;
                    }
                }
            if (x1 == 0)
                continue; /* RGB unchanged: dropped */
        } else {
            x0 = y0 = 0;
            x1 = v->w;
            y1 = v->h;
        }
        int64_t *bx = boxes + kept++ * 5;
        bx[0] = i;
        bx[1] = x0;
        bx[2] = y0;
        bx[3] = x1;
        bx[4] = y1;
    }
    uint8_t ihdr[13] = { 0 };
    be32(ihdr, (uint32_t)v->w);
    be32(ihdr + 4, (uint32_t)v->h);
    ihdr[8] = 8;
    ihdr[9] = c == 4 ? 6 : c == 3 ? 2 : 4; /* RGBA, RGB, LA */
    uint8_t actl[8];
    be32(actl, (uint32_t)kept);
    be32(actl + 4, 0);
    rc = put(&file, "\x89PNG\r\n\x1a\n", 8);
    rc = rc ? rc : chunk(&file, "IHDR", ihdr, 13);
    rc = rc ? rc : chunk(&file, "acTL", actl, 8);
    uint32_t seq = 0;
    for (size_t k = 0; k < kept && !rc; k++) {
        if ((rc = h->interrupted(call)) != COMFY_OK)
            goto out;
        const int64_t *bx = boxes + k * 5;
        uint8_t fc[26];
        be32(fc, seq++);
        be32(fc + 4, (uint32_t)(bx[3] - bx[1]));
        be32(fc + 8, (uint32_t)(bx[4] - bx[2]));
        be32(fc + 12, (uint32_t)bx[1]);
        be32(fc + 16, (uint32_t)bx[2]);
        be16(fc + 20, (uint32_t)opt->duration);
        be16(fc + 22, 1000);
        fc[24] = 0; /* APNG_DISPOSE_OP_NONE */
        fc[25] = 0; /* APNG_BLEND_OP_SOURCE */
        rc = chunk(&file, "fcTL", fc, sizeof(fc));
        z.len = 0;
        if (!rc)
            rc = deflate_box(px + (size_t)bx[0] * frame, v->w, bx[1], bx[2],
                             bx[3] - bx[1], bx[4] - bx[2], c, &z);
        /* PIL writes its encoder's output buffer by buffer, one chunk
         * each: max(65536, 4 × frame width) bytes */
        size_t piece = (size_t)(4 * (bx[3] - bx[1]));
        piece = piece > 65536 ? piece : 65536;
        for (size_t at = 0; !rc && (at < z.len || at == 0);) {
            size_t len = z.len - at < piece ? z.len - at : piece;
            if (k == 0) {
                rc = chunk(&file, "IDAT", z.data + at, len);
            } else {
                bytes fd = { 0 };
                uint8_t sq[4];
                be32(sq, seq++);
                rc = put(&fd, sq, 4);
                rc = rc ? rc : put(&fd, z.data + at, len);
                rc = rc ? rc : chunk(&file, "fdAT", fd.data, fd.len);
                free(fd.data);
            }
            at += len;
            if (at == z.len)
                break;
        }
    }
    for (size_t i = 0; i < n_meta && !rc; i++)
        rc = chunk(&file, "comf", text.data + meta_end[i],
                   meta_end[i + 1] - meta_end[i]);
    rc = rc ? rc : chunk(&file, "IEND", NULL, 0);
    if (rc) {
        rc = core_fail_status(call, rc, "cannot write the PNG file");
        goto out;
    }
    if (write_file(path, file.data, file.len, err, sizeof(err)))
        rc = h->fail(call, "OSError", "%s", err);
out:
    free(meta_end);
    free(boxes);
    free(file.data);
    free(z.data);
    free(text.data);
    return rc;
}

static int save_apng_execute(comfy_call *call)
{
    apng_opts o;
    double fps;
    int64_t level;
    int rc;
    if ((rc = core_in_float(call, "fps", &fps)) ||
        (rc = core_in_int(call, "compress_level", &level)))
        return rc;
    if (!(fps >= 0.01 && fps <= 1000.0))
        return call->host->fail(call, "ValueError", "fps must be between "
                                "0.01 and 1000");
    if (level < 0 || level > 9)
        return call->host->fail(call, "ValueError", "compress_level must be "
                                "between 0 and 9");
    o.duration = (int64_t)(1000.0 / fps);
    return save_animated(call, "png", write_apng, &o);
}

/* ------------------------------------------------------ declarations */

static const comfy_input_def webp_inputs[] = {
    IN("images", "IMAGE", NULL),
    IN("filename_prefix", "STRING", "{\"default\": \"ComfyUI\"}"),
    IN("fps", "FLOAT",
       "{\"default\": 6.0, \"min\": 0.01, \"max\": 1000.0, \"step\": 0.01}"),
    IN("lossless", "BOOLEAN", "{\"default\": true}"),
    IN("quality", "INT", "{\"default\": 80, \"min\": 0, \"max\": 100}"),
    { sizeof(comfy_input_def), "method", "COMBO", COMFY_REQUIRED, NULL,
      webp_methods, NULL, NULL, 0 },
    HIDDEN("prompt", "PROMPT"),
    HIDDEN("extra_pnginfo", "EXTRA_PNGINFO"),
};

static const comfy_input_def apng_inputs[] = {
    IN("images", "IMAGE", NULL),
    IN("filename_prefix", "STRING", "{\"default\": \"ComfyUI\"}"),
    IN("fps", "FLOAT",
       "{\"default\": 6.0, \"min\": 0.01, \"max\": 1000.0, \"step\": 0.01}"),
    IN("compress_level", "INT", "{\"default\": 4, \"min\": 0, \"max\": 9}"),
    HIDDEN("prompt", "PROMPT"),
    HIDDEN("extra_pnginfo", "EXTRA_PNGINFO"),
};

static const comfy_node_def animated_nodes[] = {
    { .size = sizeof(comfy_node_def), .name = "SaveAnimatedWEBP",
      .category = "image/animation", .module = "comfy_extras.nodes_images",
      .inputs = webp_inputs,
      .n_inputs = sizeof(webp_inputs) / sizeof(webp_inputs[0]),
      .flags = COMFY_NODE_OUTPUT, .execute = save_webp_execute },
    { .size = sizeof(comfy_node_def), .name = "SaveAnimatedPNG",
      .category = "image/animation", .module = "comfy_extras.nodes_images",
      .inputs = apng_inputs,
      .n_inputs = sizeof(apng_inputs) / sizeof(apng_inputs[0]),
      .flags = COMFY_NODE_OUTPUT, .execute = save_apng_execute },
};

int core_register_animated_nodes(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(animated_nodes) / sizeof(animated_nodes[0]);
         i++) {
        int rc = h->register_node(reg, &animated_nodes[i]);
        if (rc)
            return rc;
    }
    return 0;
}
