/*
 * image_io.c — image files for LoadImage, LoadImageMask, SaveImage and
 * PreviewImage: PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp)
 * decoding here (BMP, GIF and TIFF in image_bmp.c, image_gif.c and
 * image_tiff.c, sniffed here from the first bytes) to 8-bit pixels the
 * way PIL presents them to ComfyUI (EXIF orientation applied, 16-bit samples reduced to their high byte,
 * palette transparency as alpha), PNG encoding with tEXt chunks, and
 * SHA-256 for IS_CHANGED.
 *
 * Every decoder works from memory with a bounds-checked reader, checks the
 * size ceilings (core_check_dims) before allocating pixels, and turns
 * truncated or corrupt data into an error message.  Reentrant; any thread
 * (libpng and libjpeg errors unwind with longjmp inside one call).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "core.h"
#include "image_decode.h"

/* Largest image file read into memory (1 GiB). */
#define MAX_FILE_BYTES ((size_t)1 << 30)

void core_image_free(core_image *img)
{
    if (img) {
        free(img->pixels);
        img->pixels = NULL;
    }
}

/* ------------------------------------------------------------ EXIF */

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Orientation (1..8) from a TIFF-structured EXIF block, or 1. */
static int exif_orientation(const uint8_t *t, size_t n)
{
    if (n >= 6 && memcmp(t, "Exif\0\0", 6) == 0) {
        t += 6;
        n -= 6;
    }
    if (n < 8)
        return 1;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n - 2)
        return 1;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            break;
        if (rd16(t + e, le) == 0x0112) {
            unsigned v = rd16(t + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

/* Applies PIL's exif_transpose for orientation o (2..8) to every frame
 * of img.  0 or COMFY_ENOMEM (img unchanged). */
static int apply_orientation(core_image *img, int o)
{
    if (o <= 1 || o > 8)
        return 0;
    int64_t w = img->w, h = img->h, c = img->channels;
    int swap = o >= 5;
    int64_t ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *out = malloc((size_t)(w * h * c * img->frames));
    if (!out)
        return COMFY_ENOMEM;
    for (int64_t f = 0; f < img->frames; f++) {
        const uint8_t *src = img->pixels + f * w * h * c;
        uint8_t *dst = out + f * w * h * c;
        for (int64_t y = 0; y < oh; y++) {
            for (int64_t x = 0; x < ow; x++) {
                int64_t sx, sy;
                switch (o) {
                case 2: sx = w - 1 - x; sy = y; break;
                case 3: sx = w - 1 - x; sy = h - 1 - y; break;
                case 4: sx = x; sy = h - 1 - y; break;
                case 5: sx = y; sy = x; break;
                case 6: sx = y; sy = h - 1 - x; break;
                case 7: sx = w - 1 - y; sy = h - 1 - x; break;
                default: sx = w - 1 - y; sy = x; break; /* 8 */
                }
                memcpy(dst + (y * ow + x) * c, src + (sy * w + sx) * c,
                       (size_t)c);
            }
        }
    }
    free(img->pixels);
    img->pixels = out;
    img->w = ow;
    img->h = oh;
    return 0;
}

int core_image_orient(core_image *img, int orientation)
{
    return apply_orientation(img, orientation);
}

/* ------------------------------------------------------------- PNG */

typedef struct mem_reader {
    const uint8_t *data;
    size_t len, pos;
    char *err;
    size_t cap;
} mem_reader;

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    mem_reader *r = png_get_io_ptr(png);
    if (n > r->len - r->pos) {
        snprintf(r->err, r->cap, "the PNG data is truncated");
        png_longjmp(png, 1);
    }
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    mem_reader *r = png_get_error_ptr(png);
    if (r && r->err[0] == '\0')
        snprintf(r->err, r->cap, "the PNG data is corrupt (%s)", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int decode_png(const uint8_t *data, size_t len, core_image *img,
                      char *err, size_t cap)
{
    mem_reader r = { data, len, 0, err, cap };
    png_structp png = NULL;
    png_infop info = NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile pix = NULL;
    volatile int rc = COMFY_EINVAL;
    err[0] = '\0';
    /* IHDR comes first: refuse over-large images before reading on */
    if (len >= 24 && memcmp(data + 12, "IHDR", 4) == 0 &&
        core_check_dims(1, rd32(data + 20, 0), rd32(data + 16, 0), 1, err,
                        cap) < 0)
        return COMFY_EINVAL;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, png_on_error,
                                 png_on_warning);
    if (!png || !(info = png_create_info_struct(png))) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (err[0] == '\0')
            snprintf(err, cap, "the PNG data is corrupt");
        goto out;
    }
    png_set_read_fn(png, &r, png_read_mem);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info);
    png_uint_32 h = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    int channels;
    /* PIL opens 16-bit grayscale as mode I, which LoadImage scales by
     * 1/255 (truncating) before the RGB conversion clips it to 255; every
     * other 16-bit layout keeps its high byte. */
    int gray16 = depth == 16 && ct == PNG_COLOR_TYPE_GRAY;
    if (depth == 16 && !gray16)
        png_set_strip_16(png);
    if (depth < 8 && ct != PNG_COLOR_TYPE_PALETTE)
        png_set_expand_gray_1_2_4_to_8(png);
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
        /* PIL: a palette image with transparency converts to RGBA. */
        if (png_get_valid(png, info, PNG_INFO_tRNS)) {
            png_set_tRNS_to_alpha(png);
            channels = 4;
        } else {
            channels = 3;
        }
    } else if (ct == PNG_COLOR_TYPE_GRAY) {
        channels = 1;
    } else if (ct == PNG_COLOR_TYPE_GRAY_ALPHA) {
        channels = 2;
    } else if (ct == PNG_COLOR_TYPE_RGB) {
        channels = 3;
    } else {
        channels = 4;
    }
    /* PIL keeps a grey or RGB tRNS colour as info["transparency"] */
    png_color_16p trns_color = NULL;
    if ((ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_RGB) &&
        png_get_valid(png, info, PNG_INFO_tRNS) &&
        png_get_tRNS(png, info, NULL, NULL, &trns_color) && trns_color) {
        img->has_key = 1;
        img->key[0] = ct == PNG_COLOR_TYPE_GRAY ? trns_color->gray
                                                : trns_color->red;
        img->key[1] = trns_color->green;
        img->key[2] = trns_color->blue;
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if ((int)png_get_channels(png, info) != channels ||
        png_get_bit_depth(png, info) != (gray16 ? 16 : 8)) {
        snprintf(err, cap, "unsupported PNG layout");
        goto out;
    }
    if (core_check_dims(1, h, w, channels, err, cap) < 0)
        goto out;
    size_t bpp = (size_t)channels * (gray16 ? 2 : 1);
    pix = malloc((size_t)w * h * bpp);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pix || !rows) {
        rc = COMFY_ENOMEM;
        snprintf(err, cap, "out of memory decoding a %ux%u PNG", w, h);
        goto out;
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pix + (size_t)y * w * bpp;
    png_read_image(png, rows);
    if (gray16) {
        uint8_t *p8 = pix;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            unsigned v = (unsigned)p8[2 * i] << 8 | p8[2 * i + 1];
            unsigned s8 = (unsigned)((double)v * (1.0 / 255.0));
            p8[i] = (uint8_t)(s8 > 255 ? 255 : s8);
        }
    }
    int orient = 1;
#ifdef PNG_eXIf_SUPPORTED
    png_bytep exif = NULL;
    png_uint_32 exif_len = 0;
    png_read_end(png, info);
    if (png_get_eXIf_1(png, info, &exif_len, &exif) && exif)
        orient = exif_orientation(exif, exif_len);
#endif
    img->w = w;
    img->h = h;
    img->channels = channels;
    img->frames = 1;
    img->pixels = pix;
    pix = NULL;
    snprintf(img->format, sizeof(img->format), "PNG");
    rc = apply_orientation(img, orient);
    if (rc)
        snprintf(err, cap, "out of memory rotating the image");
out:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(pix);
    return rc;
}

/* ------------------------------------------------------------ JPEG */

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jmp;
    int truncated;
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    longjmp(e->jmp, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    /* Warnings (level -1): premature end of data and corrupt segments
     * make the image unusable; treat them as errors. */
    if (level < 0 && (e->mgr.msg_code == JWRN_JPEG_EOF ||
                      e->mgr.msg_code == JWRN_HIT_MARKER ||
                      e->mgr.msg_code == JWRN_MUST_RESYNC))
        e->truncated = 1;
}

static int decode_jpeg(const uint8_t *data, size_t len, core_image *img,
                       char *err, size_t cap)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    uint8_t *volatile pix = NULL;
    uint8_t *volatile row = NULL;
    volatile int rc = COMFY_EINVAL;
    volatile int orient = 1;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = jpeg_on_error;
    jerr.mgr.emit_message = jpeg_on_message;
    jerr.truncated = 0;
    if (setjmp(jerr.jmp)) {
        char msg[JMSG_LENGTH_MAX];
        (*cinfo.err->format_message)((j_common_ptr)&cinfo, msg);
        snprintf(err, cap, "the JPEG data is corrupt (%s)", msg);
        goto out;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            orient = exif_orientation(m->data, m->data_length);
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK ||
               cinfo.jpeg_color_space == JCS_YCCK;
    int gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_RGB;
    if (core_check_dims(1, cinfo.image_height, cinfo.image_width, 3, err,
                        cap) < 0)
        goto out;
    jpeg_start_decompress(&cinfo);
    int64_t w = cinfo.output_width, h = cinfo.output_height;
    int inc = cinfo.output_components;
    int outc = gray ? 1 : 3;
    pix = malloc((size_t)(w * h * outc));
    row = malloc((size_t)(w * inc));
    if (!pix || !row) {
        rc = COMFY_ENOMEM;
        snprintf(err, cap, "out of memory decoding a JPEG");
        goto out;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        int64_t y = cinfo.output_scanline;
        JSAMPROW rp = row;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1)
            break;
        uint8_t *o = pix + y * w * outc;
        if (cmyk) {
            /* Adobe CMYK JPEGs store inverted values (PIL "CMYK;I"). */
            for (int64_t x = 0; x < w; x++) {
                unsigned v[4];
                for (int k = 0; k < 4; k++) {
                    v[k] = row[x * 4 + k];
                    if (cinfo.saw_Adobe_marker)
                        v[k] = 255 - v[k];
                }
                unsigned nk = 255 - v[3];
                for (int k = 0; k < 3; k++) {
                    unsigned t = v[k] * nk + 128;
                    unsigned m = ((t >> 8) + t) >> 8;
                    o[x * 3 + k] = (uint8_t)(nk > m ? nk - m : 0);
                }
            }
        } else {
            memcpy(o, row, (size_t)(w * outc));
        }
    }
    if (jerr.truncated || cinfo.output_scanline < cinfo.output_height) {
        snprintf(err, cap, "the JPEG data is truncated or corrupt");
        goto out;
    }
    jpeg_finish_decompress(&cinfo);
    if (jerr.truncated) {
        snprintf(err, cap, "the JPEG data is truncated or corrupt");
        goto out;
    }
    img->w = w;
    img->h = h;
    img->channels = outc;
    img->frames = 1;
    img->pixels = pix;
    pix = NULL;
    snprintf(img->format, sizeof(img->format), "JPEG");
    rc = apply_orientation(img, orient);
    if (rc)
        snprintf(err, cap, "out of memory rotating the image");
out:
    jpeg_destroy_decompress(&cinfo);
    free(pix);
    free(row);
    return rc;
}

/* ------------------------------------------------------------ WebP */

/* Orientation from the EXIF chunk of a RIFF/WEBP container, or 1. */
static int webp_orientation(const uint8_t *d, size_t n)
{
    size_t pos = 12;
    while (pos + 8 <= n) {
        uint32_t sz = rd32(d + pos + 4, 1);
        if (sz > n - pos - 8)
            break;
        if (memcmp(d + pos, "EXIF", 4) == 0)
            return exif_orientation(d + pos + 8, sz);
        pos += 8 + (size_t)sz + (sz & 1);
    }
    return 1;
}

/* Every frame of an animated WebP, composited on the canvas (what
 * PIL's ImageSequence yields); RGB when the file has no alpha. */
static int decode_webp_anim(const uint8_t *data, size_t len, int has_alpha,
                            core_image *img, char *err, size_t cap)
{
    WebPAnimDecoderOptions opts;
    WebPAnimInfo info;
    WebPData wd = { data, len };
    uint8_t *pix = NULL;
    int rc = COMFY_EINVAL;
    if (!WebPAnimDecoderOptionsInit(&opts)) {
        snprintf(err, cap, "libwebp version mismatch");
        return COMFY_ERR;
    }
    opts.color_mode = MODE_RGBA;
    opts.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opts);
    if (!dec || !WebPAnimDecoderGetInfo(dec, &info)) {
        snprintf(err, cap, "the animated WebP data is truncated or corrupt");
        goto out;
    }
    int c = has_alpha ? 4 : 3;
    int64_t w = info.canvas_width, h = info.canvas_height;
    int64_t n = info.frame_count;
    if (n < 1 || core_check_dims(n, h, w, c, err, cap) < 0) {
        if (n < 1)
            snprintf(err, cap, "the animated WebP has no frames");
        goto out;
    }
    pix = malloc((size_t)(n * h * w * c));
    if (!pix) {
        rc = COMFY_ENOMEM;
        snprintf(err, cap, "out of memory decoding an animated WebP");
        goto out;
    }
    int64_t k = 0;
    while (k < n && WebPAnimDecoderHasMoreFrames(dec)) {
        uint8_t *buf;
        int ts;
        if (!WebPAnimDecoderGetNext(dec, &buf, &ts)) {
            snprintf(err, cap, "the animated WebP data is truncated or "
                     "corrupt");
            goto out;
        }
        uint8_t *o = pix + k * h * w * c;
        for (int64_t i = 0; i < h * w; i++)
            memcpy(o + i * c, buf + i * 4, (size_t)c);
        k++;
    }
    if (k != n) {
        snprintf(err, cap, "the animated WebP data is truncated or corrupt");
        goto out;
    }
    img->w = w;
    img->h = h;
    img->channels = c;
    img->frames = n;
    img->pixels = pix;
    pix = NULL;
    snprintf(img->format, sizeof(img->format), "WEBP");
    rc = 0;
out:
    WebPAnimDecoderDelete(dec);
    free(pix);
    return rc;
}

static int decode_webp(const uint8_t *data, size_t len, core_image *img,
                       char *err, size_t cap)
{
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(data, len, &f) != VP8_STATUS_OK) {
        snprintf(err, cap, "the WebP data is truncated or corrupt");
        return COMFY_EINVAL;
    }
    if (f.has_animation)
        return decode_webp_anim(data, len, f.has_alpha, img, err, cap);
    int c = f.has_alpha ? 4 : 3;
    if (core_check_dims(1, f.height, f.width, c, err, cap) < 0)
        return COMFY_EINVAL;
    size_t stride = (size_t)f.width * (size_t)c;
    size_t total = stride * (size_t)f.height;
    uint8_t *pix = malloc(total);
    if (!pix) {
        snprintf(err, cap, "out of memory decoding a WebP image");
        return COMFY_ENOMEM;
    }
    uint8_t *ok = c == 4
        ? WebPDecodeRGBAInto(data, len, pix, total, (int)stride)
        : WebPDecodeRGBInto(data, len, pix, total, (int)stride);
    if (!ok) {
        free(pix);
        snprintf(err, cap, "the WebP data is truncated or corrupt");
        return COMFY_EINVAL;
    }
    img->w = f.width;
    img->h = f.height;
    img->channels = c;
    img->frames = 1;
    img->pixels = pix;
    snprintf(img->format, sizeof(img->format), "WEBP");
    if (apply_orientation(img, webp_orientation(data, len))) {
        core_image_free(img);
        snprintf(err, cap, "out of memory rotating the image");
        return COMFY_ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------ entry */

int core_image_decode(const uint8_t *data, size_t len, core_image *img,
                      char *err, size_t cap)
{
    memset(img, 0, sizeof(*img));
    if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
        return decode_png(data, len, img, err, cap);
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, len, img, err, cap);
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 &&
        memcmp(data + 8, "WEBP", 4) == 0)
        return decode_webp(data, len, img, err, cap);
    if (len >= 2 && data[0] == 'B' && data[1] == 'M')
        return core_decode_bmp(data, len, img, err, cap);
    if (len >= 6 && (memcmp(data, "GIF87a", 6) == 0 ||
                     memcmp(data, "GIF89a", 6) == 0))
        return core_decode_gif(data, len, img, err, cap);
    if (len >= 4 && (memcmp(data, "II*\0", 4) == 0 ||
                     memcmp(data, "MM\0*", 4) == 0 ||
                     memcmp(data, "II+\0", 4) == 0 ||
                     memcmp(data, "MM\0+", 4) == 0))
        return core_decode_tiff(data, len, img, err, cap);
    snprintf(err, cap, "not a PNG, JPEG, WebP, BMP, GIF or TIFF image");
    return COMFY_EINVAL;
}

/* Reads a whole file (at most MAX_FILE_BYTES).  Caller frees *out. */
static int read_file(const char *path, uint8_t **out, size_t *len, char *err,
                     size_t cap)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) {
        snprintf(err, cap, "cannot open %s: %s", path, strerror(errno));
        return COMFY_ENOENT;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(err, cap, "%s is not a regular file", path);
        return COMFY_ENOENT;
    }
    if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
        fclose(f);
        snprintf(err, cap, "%s is larger than the 1 GiB limit", path);
        return COMFY_EINVAL;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        snprintf(err, cap, "out of memory reading %s", path);
        return COMFY_ENOMEM;
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        snprintf(err, cap, "cannot read %s", path);
        return COMFY_ERR;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

int core_image_load(const char *path, core_image *img, char *err, size_t cap)
{
    uint8_t *data = NULL;
    size_t len = 0;
    memset(img, 0, sizeof(*img));
    int rc = read_file(path, &data, &len, err, cap);
    if (rc)
        return rc;
    rc = core_image_decode(data, len, img, err, cap);
    free(data);
    return rc;
}

/* ------------------------------------------------------ PNG writing */

typedef struct png_wctx {
    char *err;
    size_t cap;
} png_wctx;

static void png_w_error(png_structp png, png_const_charp msg)
{
    png_wctx *c = png_get_error_ptr(png);
    snprintf(c->err, c->cap, "PNG encoding failed (%s)", msg);
    png_longjmp(png, 1);
}

int core_png_write(const char *path, const uint8_t *rgb, int64_t w,
                   int64_t h, int c, int level, const char *const *keys,
                   const char *const *texts, size_t n_texts, char *err,
                   size_t cap)
{
    char tmp[4200];
    png_wctx ctx = { err, cap };
    png_structp png = NULL;
    png_infop info = NULL;
    FILE *volatile f = NULL;
    png_textp volatile text = NULL;
    volatile int rc = COMFY_ERR;
    if (snprintf(tmp, sizeof(tmp), "%s.part", path) >= (int)sizeof(tmp)) {
        snprintf(err, cap, "the output path is too long");
        return COMFY_EINVAL;
    }
    f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, cap, "cannot create %s: %s", path, strerror(errno));
        return COMFY_EACCES;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_w_error,
                                  png_on_warning);
    if (!png || !(info = png_create_info_struct(png))) {
        snprintf(err, cap, "out of memory encoding a PNG");
        rc = COMFY_ENOMEM;
        goto out;
    }
    if (setjmp(png_jmpbuf(png)))
        goto out;
    png_init_io(png, f);
    png_set_compression_level(png, level);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (n_texts) {
        text = calloc(n_texts, sizeof(png_text));
        if (!text) {
            snprintf(err, cap, "out of memory encoding a PNG");
            rc = COMFY_ENOMEM;
            goto out;
        }
        size_t m = 0;
        for (size_t i = 0; i < n_texts; i++) {
            size_t kl = strlen(keys[i]);
            if (kl == 0 || kl > 79) /* tEXt keywords are 1..79 bytes */
                continue;
            text[m].compression = PNG_TEXT_COMPRESSION_NONE;
            text[m].key = (png_charp)keys[i];
            text[m].text = (png_charp)texts[i];
            text[m].text_length = strlen(texts[i]);
            m++;
        }
        png_set_text(png, info, text, (int)m);
    }
    png_write_info(png, info);
    for (int64_t y = 0; y < h; y++)
        png_write_row(png, rgb + y * w * c);
    png_write_end(png, info);
    rc = 0;
out:
    png_destroy_write_struct(&png, &info);
    free(text);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
        rc = COMFY_ERR;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
        rc = COMFY_ERR;
    }
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* ---------------------------------------------------------- SHA-256 */

typedef struct sha256 {
    uint32_t s[8];
    uint64_t n;
    uint8_t buf[64];
    size_t fill;
} sha256;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

static uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(sha256 *c, const uint8_t *p)
{
    uint32_t w[64], a[8];
    for (int i = 0; i < 16; i++)
        w[i] = rd32(p + i * 4, 0);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, c->s, sizeof(a));
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ror(a[4], 6) ^ ror(a[4], 11) ^ ror(a[4], 25);
        uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
        uint32_t t1 = a[7] + S1 + ch + K256[i] + w[i];
        uint32_t S0 = ror(a[0], 2) ^ ror(a[0], 13) ^ ror(a[0], 22);
        uint32_t mj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
        uint32_t t2 = S0 + mj;
        memmove(a + 1, a, sizeof(uint32_t) * 7);
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        c->s[i] += a[i];
}

static void sha256_init(sha256 *c)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                    0xa54ff53a, 0x510e527f, 0x9b05688c,
                                    0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->s, iv, sizeof(iv));
    c->n = 0;
    c->fill = 0;
}

static void sha256_update(sha256 *c, const uint8_t *p, size_t n)
{
    c->n += n;
    while (n) {
        size_t k = 64 - c->fill < n ? 64 - c->fill : n;
        memcpy(c->buf + c->fill, p, k);
        c->fill += k;
        p += k;
        n -= k;
        if (c->fill == 64) {
            sha256_block(c, c->buf);
            c->fill = 0;
        }
    }
}

static void sha256_final(sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->n * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha256_update(c, &pad, 1);
    while (c->fill != 56)
        sha256_update(c, &zero, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++) {
        out[i * 4] = (uint8_t)(c->s[i] >> 24);
        out[i * 4 + 1] = (uint8_t)(c->s[i] >> 16);
        out[i * 4 + 2] = (uint8_t)(c->s[i] >> 8);
        out[i * 4 + 3] = (uint8_t)c->s[i];
    }
}

void core_sha256(const void *data, size_t len, uint8_t digest[32])
{
    sha256 c;
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, digest);
}

int core_sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return COMFY_ENOENT;
    sha256 c;
    uint8_t buf[65536], d[32];
    size_t n;
    sha256_init(&c);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sha256_update(&c, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return COMFY_ENOENT;
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + i * 2, 3, "%02x", d[i]);
    return 0;
}
