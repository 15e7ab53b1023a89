/*
 * image.c — PNG/JPEG/WebP decode to RGBA8 and encode from RGB(A)8.
 * See image.h.  libpng and libjpeg report errors through longjmp; each
 * function keeps its allocations in variables that survive the jump and
 * frees them on its single failure path.
 */
#include "image.h"

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include "buf.h"

#define IMG_OUT_MAX ((size_t)1 << 30)

void cd_img_free(cd_image *img)
{
    if (!img) return;
    free(img->rgba);
    for (size_t i = 0; i < img->n_texts; i++) {
        free(img->texts[i].key);
        free(img->texts[i].text);
    }
    free(img->texts);
    memset(img, 0, sizeof(*img));
}

/* ---- PNG ----------------------------------------------------------------- */

/* Quiet libpng: errors jump back to the caller, which reports them as a
 * return value; nothing is printed for hostile uploads. */
static void png_quiet_error(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

static void png_quiet_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

typedef struct mem_reader { const unsigned char *p; size_t len, off; } mem_reader;

static void png_read_mem(png_structp png, png_bytep out, png_size_t n)
{
    mem_reader *m = png_get_io_ptr(png);
    if (n > m->len - m->off) png_error(png, "truncated");
    memcpy(out, m->p + m->off, n);
    m->off += n;
}

static int decode_png(const unsigned char *data, size_t len, cd_image *img)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL,
                                             png_quiet_error, png_quiet_warning);
    png_infop info = NULL;
    png_bytep *volatile rows = NULL;
    mem_reader m = {data, len, 0};
    png_uint_32 w, h;
    int depth, ctype;

    if (!png) return -1;
    info = png_create_info_struct(png);
    if (!info) goto fail;
    if (setjmp(png_jmpbuf(png))) goto fail;
    png_set_read_fn(png, &m, png_read_mem);
    png_set_user_limits(png, CD_IMG_MAX_SIDE, CD_IMG_MAX_SIDE);
    png_read_info(png, info);
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
    img->width = (int)w;
    img->height = (int)h;
    img->mode_rgba = ctype == PNG_COLOR_TYPE_RGB_ALPHA;
    img->has_alpha = (ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
    if (depth == 16) png_set_strip_16(png);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    img->rgba = malloc((size_t)w * h * 4);
    rows = malloc(sizeof(png_bytep) * h);
    if (!img->rgba || !rows) goto fail;
    for (png_uint_32 y = 0; y < h; y++) rows[y] = img->rgba + (size_t)y * w * 4;
    png_read_image(png, rows);
    png_read_end(png, info);
    {
        png_textp t = NULL;
        int nt = 0;
        png_get_text(png, info, &t, &nt);
        if (nt > 0) {
            img->texts = calloc((size_t)nt, sizeof(*img->texts));
            if (!img->texts) goto fail;
            for (int i = 0; i < nt; i++) {
                img->texts[i].key = strdup(t[i].key);
                img->texts[i].text = strdup(t[i].text ? t[i].text : "");
                img->n_texts++;
                if (!img->texts[i].key || !img->texts[i].text) goto fail;
            }
        }
    }
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
fail:
    free(rows);
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    cd_img_free(img);
    return -1;
}

static void png_write_mem(png_structp png, png_bytep p, png_size_t n)
{
    cd_buf *b = png_get_io_ptr(png);
    if (cd_buf_append(b, p, n) < 0) png_error(png, "out of memory");
}

static void png_flush_mem(png_structp png) { (void)png; }

int cd_img_encode_png(const unsigned char *px, int width, int height,
                      int channels, int level, const cd_text_chunk *texts,
                      size_t n_texts, unsigned char **out, size_t *out_len)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              png_quiet_error, png_quiet_warning);
    png_infop info = NULL;
    png_textp volatile pt = NULL;
    cd_buf b;

    cd_buf_init(&b, IMG_OUT_MAX);
    if (!png) return -1;
    info = png_create_info_struct(png);
    if (!info) goto fail;
    if (setjmp(png_jmpbuf(png))) goto fail;
    png_set_write_fn(png, &b, png_write_mem, png_flush_mem);
    png_set_compression_level(png, level);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (n_texts) {
        pt = calloc(n_texts, sizeof(png_text));
        if (!pt) goto fail;
        for (size_t i = 0; i < n_texts; i++) {
            pt[i].compression = PNG_TEXT_COMPRESSION_NONE;
            pt[i].key = texts[i].key;
            pt[i].text = texts[i].text;
            pt[i].text_length = strlen(texts[i].text);
        }
        png_set_text(png, info, pt, (int)n_texts);
    }
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(px + (size_t)y * width * channels));
    png_write_end(png, info);
    free(pt);
    png_destroy_write_struct(&png, &info);
    *out = (unsigned char *)cd_buf_steal(&b, out_len);
    return *out ? 0 : -1;
fail:
    free(pt);
    png_destroy_write_struct(&png, info ? &info : NULL);
    cd_buf_free(&b);
    return -1;
}

/* ---- JPEG ---------------------------------------------------------------- */

typedef struct jerr { struct jpeg_error_mgr mgr; jmp_buf jb; } jerr;

static void jpeg_fail(j_common_ptr c)
{
    jerr *e = (jerr *)c->err;
    longjmp(e->jb, 1);
}

static void jpeg_quiet(j_common_ptr c) { (void)c; }

static int decode_jpeg(const unsigned char *data, size_t len, cd_image *img)
{
    struct jpeg_decompress_struct d;
    jerr e;
    unsigned char *volatile row = NULL;

    d.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = jpeg_fail;
    e.mgr.output_message = jpeg_quiet;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        free(row);
        cd_img_free(img);
        return -1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, data, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = JCS_RGB;
    if (d.image_width > CD_IMG_MAX_SIDE || d.image_height > CD_IMG_MAX_SIDE)
        longjmp(e.jb, 1);
    jpeg_start_decompress(&d);
    img->width = (int)d.output_width;
    img->height = (int)d.output_height;
    img->rgba = malloc((size_t)img->width * img->height * 4);
    row = malloc((size_t)img->width * 3);
    if (!img->rgba || !row) longjmp(e.jb, 1);
    while (d.output_scanline < d.output_height) {
        JSAMPROW rp = row;
        unsigned y = d.output_scanline;
        jpeg_read_scanlines(&d, &rp, 1);
        unsigned char *dst = img->rgba + (size_t)y * img->width * 4;
        for (int x = 0; x < img->width; x++) {
            dst[4 * x] = row[3 * x];
            dst[4 * x + 1] = row[3 * x + 1];
            dst[4 * x + 2] = row[3 * x + 2];
            dst[4 * x + 3] = 255;
        }
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(row);
    return 0;
}

int cd_img_encode_jpeg(const unsigned char *px, int width, int height,
                       int channels, int quality, unsigned char **out,
                       size_t *out_len)
{
    struct jpeg_compress_struct c;
    jerr e;
    unsigned char *volatile mem = NULL;
    unsigned long mlen = 0;
    unsigned char *volatile row = NULL;

    c.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = jpeg_fail;
    e.mgr.output_message = jpeg_quiet;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&c);
        free(mem);
        free(row);
        return -1;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, (unsigned char **)&mem, &mlen);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    row = malloc((size_t)width * 3);
    if (!row) longjmp(e.jb, 1);
    while (c.next_scanline < c.image_height) {
        const unsigned char *src = px + (size_t)c.next_scanline * width * channels;
        for (int x = 0; x < width; x++) memcpy(row + 3 * x, src + channels * x, 3);
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *out = mem;
    *out_len = mlen;
    return 0;
}

/* ---- WebP ---------------------------------------------------------------- */

static int decode_webp(const unsigned char *data, size_t len, cd_image *img)
{
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(data, len, &f) != VP8_STATUS_OK) return -1;
    if (f.width > CD_IMG_MAX_SIDE || f.height > CD_IMG_MAX_SIDE) return -1;
    int w, h;
    uint8_t *px = WebPDecodeRGBA(data, len, &w, &h);
    if (!px) return -1;
    img->rgba = malloc((size_t)w * h * 4);
    if (!img->rgba) {
        WebPFree(px);
        return -1;
    }
    memcpy(img->rgba, px, (size_t)w * h * 4);
    WebPFree(px);
    img->width = w;
    img->height = h;
    img->mode_rgba = f.has_alpha;
    img->has_alpha = f.has_alpha;
    return 0;
}

int cd_img_encode_webp(const unsigned char *px, int width, int height,
                       int channels, int quality, unsigned char **out,
                       size_t *out_len)
{
    uint8_t *o = NULL;
    size_t n = channels == 4
                   ? WebPEncodeRGBA(px, width, height, width * 4, (float)quality, &o)
                   : WebPEncodeRGB(px, width, height, width * 3, (float)quality, &o);
    if (!n || !o) return -1;
    *out = malloc(n);
    if (!*out) {
        WebPFree(o);
        return -1;
    }
    memcpy(*out, o, n);
    WebPFree(o);
    *out_len = n;
    return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

int cd_img_decode(const unsigned char *data, size_t len, cd_image *img)
{
    memset(img, 0, sizeof(*img));
    if (len >= 8 && png_sig_cmp(data, 0, 8) == 0) return decode_png(data, len, img);
    if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(data, len, img);
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return decode_webp(data, len, img);
    return -1;
}

unsigned char *cd_img_rgba_to_rgb(const unsigned char *rgba, int width, int height)
{
    size_t n = (size_t)width * height;
    unsigned char *o = malloc(n > 0 ? n * 3 : 1);
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) memcpy(o + 3 * i, rgba + 4 * i, 3);
    return o;
}
