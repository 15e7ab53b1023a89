/*
 * image_tiff.c — TIFF decoding with libtiff, page by page, giving each
 * page the pixels Pillow 9.4's TiffImagePlugin gives it and then what
 * LoadImage makes of that mode:
 *
 *   bilevel and 2/4/8-bit grey ("1", "L", min-is-white inverted, lower
 *   depths scaled to 0..255), 16-bit unsigned grey ("I;16", clipped to
 *   255 by the RGB conversion), 16-bit signed and 32-bit integer grey
 *   (mode "I": LoadImage's i * (1/255), truncated, then clipped), 32-bit
 *   float grey ("F", truncated and clipped), grey + alpha ("LA"), 8- and
 *   16-bit RGB with or without an extra sample (unassociated alpha
 *   "RGBA", associated alpha "RGBa" un-premultiplied, unspecified "RGBX"
 *   dropped; 16-bit samples keep their high byte), palettes of 1..8 bits
 *   (ColorMap // 256), 8-bit CMYK (Pillow's naive CMYK to RGB) and
 *   JPEG-compressed YCbCr (converted to RGB by libjpeg, as in Pillow).
 *
 * Any compression libtiff decodes; strips or tiles, contiguous or planar
 * samples.  Each page's Orientation tag is applied twice (Pillow's load
 * and then LoadImage's exif_transpose each apply it);
 * pages of another size than the first are skipped, as LoadImage does.
 * libtiff's errors are collected per call (TIFFOpenOptions handlers), so
 * this is reentrant.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "image_decode.h"

/* At most this many pages are decoded. */
#define MAX_PAGES 4096
/* Largest tile read (a 16384x16384 tile of 4 bytes per pixel). */
#define MAX_TILE_BYTES ((uint64_t)1 << 30)

typedef struct mem_tiff {
    const uint8_t *d;
    size_t len;
    uint64_t pos;
    char msg[256];          /* the first libtiff error                */
    int failed;
} mem_tiff;

static tmsize_t m_read(thandle_t h, void *buf, tmsize_t n)
{
    mem_tiff *m = (mem_tiff *)h;
    if (n < 0 || m->pos >= m->len)
        return 0;
    uint64_t k = (uint64_t)n < m->len - m->pos ? (uint64_t)n
                                                  : m->len - m->pos;
    memcpy(buf, m->d + m->pos, (size_t)k);
    m->pos += k;
    return (tmsize_t)k;
}

static tmsize_t m_write(thandle_t h, void *buf, tmsize_t n)
{
    (void)h;
    (void)buf;
    (void)n;
    return -1;
}

static toff_t m_seek(thandle_t h, toff_t off, int whence)
{
    mem_tiff *m = (mem_tiff *)h;
    uint64_t base = whence == SEEK_CUR ? m->pos
                    : whence == SEEK_END ? m->len : 0;
    if (off > UINT64_MAX - base)
        return (toff_t)-1;
    m->pos = base + off;
    return m->pos;
}

static int m_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t m_size(thandle_t h)
{
    return ((mem_tiff *)h)->len;
}

static int m_map(thandle_t h, void **base, toff_t *size)
{
    (void)h;
    (void)base;
    (void)size;
    return 0;
}

static void m_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

static int on_error(TIFF *t, void *user, const char *module, const char *fmt,
                    va_list ap)
{
    (void)t;
    (void)module;
    mem_tiff *m = user;
    if (!m->failed)
        vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
    m->failed = 1;
    return 1;
}

static int on_warning(TIFF *t, void *user, const char *module,
                      const char *fmt, va_list ap)
{
    (void)t;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

/* A page's sample layout. */
typedef struct page {
    uint32_t w, h;
    uint16_t spp, bps, fmt, photo, planar;
    uint8_t *raw;           /* contig: h rows of `row` bytes; planar: spp
                             * planes of h rows of `row` bytes         */
    tmsize_t row;
} page;

/* Sample s of pixel x in row y as a double (integers exact). */
static double sample(const page *p, uint32_t x, uint32_t y, int s)
{
    const uint8_t *r;
    uint64_t i;
    if (p->planar == PLANARCONFIG_SEPARATE) {
        r = p->raw + ((uint64_t)s * p->h + y) * (uint64_t)p->row;
        i = x;
    } else {
        r = p->raw + (uint64_t)y * (uint64_t)p->row;
        i = (uint64_t)x * p->spp + (uint64_t)s;
    }
    switch (p->bps) {
    case 1: case 2: case 4: {
        uint64_t bit = i * p->bps;
        unsigned v = r[bit >> 3] >> (8 - p->bps - (bit & 7));
        return v & ((1u << p->bps) - 1);
    }
    case 8:
        return r[i];
    case 16: {
        uint16_t v;
        memcpy(&v, r + i * 2, 2);
        return p->fmt == SAMPLEFORMAT_INT ? (double)(int16_t)v : v;
    }
    default: {
        uint32_t v;
        memcpy(&v, r + i * 4, 4);
        if (p->fmt == SAMPLEFORMAT_IEEEFP) {
            float f;
            memcpy(&f, &v, 4);
            return f;
        }
        /* Pillow's "I;32N" keeps the bits as a signed int */
        return (double)(int32_t)v;
    }
    }
}

/* Reads the page's samples into p->raw (caller frees).  0 or -1. */
static int read_samples(TIFF *t, page *p, char *err, size_t cap)
{
    int planes = p->planar == PLANARCONFIG_SEPARATE ? p->spp : 1;
    p->row = TIFFScanlineSize(t);
    if (p->row <= 0) {
        snprintf(err, cap, "the TIFF data is corrupt (no row size)");
        return -1;
    }
    uint64_t total = (uint64_t)p->row * p->h * (uint64_t)planes;
    if (total > ((uint64_t)1 << 32)) {
        snprintf(err, cap, "the TIFF page is too large");
        return -1;
    }
    p->raw = calloc((size_t)total, 1);
    if (!p->raw) {
        snprintf(err, cap, "out of memory decoding a TIFF");
        return -1;
    }
    if (!TIFFIsTiled(t)) {
        for (int s = 0; s < planes; s++)
            for (uint32_t y = 0; y < p->h; y++)
                if (TIFFReadScanline(t, p->raw + ((uint64_t)s * p->h + y) *
                                                     (uint64_t)p->row,
                                     y, (uint16_t)s) < 0)
                    return -1;
        return 0;
    }
    uint32_t tw = 0, th = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    tmsize_t tsize = TIFFTileSize(t);
    if (p->bps < 8 || tw == 0 || th == 0 || tsize <= 0) {
        snprintf(err, cap, "unsupported TIFF layout (tiles of %u-bit "
                 "samples)", p->bps);
        return -1;
    }
    uint64_t px = p->planar == PLANARCONFIG_SEPARATE ? 1 : p->spp;
    uint64_t bpp = px * (p->bps / 8); /* bytes per pixel in a tile */
    if ((uint64_t)tsize < bpp * tw * th) {
        snprintf(err, cap, "the TIFF data is corrupt (tile size)");
        return -1;
    }
    if ((uint64_t)tsize > MAX_TILE_BYTES) {
        snprintf(err, cap, "the TIFF tiles are too large (%llu bytes, at "
                 "most %llu)", (unsigned long long)tsize,
                 (unsigned long long)MAX_TILE_BYTES);
        return -1;
    }
    uint8_t *tile = malloc((size_t)tsize);
    if (!tile) {
        snprintf(err, cap, "out of memory decoding a TIFF");
        return -1;
    }
    int rc = 0;
    for (int s = 0; s < planes && rc == 0; s++)
        for (uint32_t ty = 0; ty < p->h && rc == 0; ty += th)
            for (uint32_t tx = 0; tx < p->w && rc == 0; tx += tw) {
                if (TIFFReadTile(t, tile, tx, ty, 0, (uint16_t)s) < 0) {
                    rc = -1;
                    break;
                }
                uint32_t cw = p->w - tx < tw ? p->w - tx : tw;
                uint32_t ch = p->h - ty < th ? p->h - ty : th;
                for (uint32_t y = 0; y < ch; y++)
                    memcpy(p->raw + ((uint64_t)s * p->h + ty + y) *
                                        (uint64_t)p->row + tx * bpp,
                           tile + (uint64_t)y * tw * bpp, (size_t)(cw * bpp));
            }
    free(tile);
    return rc;
}

static uint8_t clip8(double v)
{
    if (!(v > 0))
        return 0;
    return v >= 255 ? 255 : (uint8_t)v;
}

/* Decodes the current directory into `out` (a one-frame image).
 * 0, or a negative status with err filled. */
static int decode_page(TIFF *t, mem_tiff *m, core_image *out, char *err,
                       size_t cap)
{
    page p;
    uint16_t *extra = NULL, n_extra = 0;
    uint16_t *cmap[3] = { NULL, NULL, NULL };
    int rc = COMFY_EINVAL, orient = 1;
    memset(&p, 0, sizeof(p));
    memset(out, 0, sizeof(*out));
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &p.w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &p.h);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &p.spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &p.bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &p.fmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &p.planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
    uint16_t o16 = 1, comp = COMPRESSION_NONE;
    if (TIFFGetField(t, TIFFTAG_ORIENTATION, &o16))
        orient = o16;
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &p.photo)) {
        snprintf(err, cap, "unsupported TIFF layout (no photometric "
                 "interpretation)");
        return COMFY_EINVAL;
    }
    if (p.w < 1 || p.h < 1) {
        snprintf(err, cap, "the TIFF page has no pixels");
        return COMFY_EINVAL;
    }
    if (core_check_dims(1, p.h, p.w, 4, err, cap) < 0)
        return COMFY_EINVAL;
    /* which of Pillow's modes */
    enum { M_1, M_L, M_I16, M_I, M_F, M_LA, M_RGB, M_RGBA, M_RGBa, M_RGBX,
           M_P, M_CMYK } mode;
    int inv = p.photo == PHOTOMETRIC_MINISWHITE;
    int extra0 = n_extra ? extra[0] : -1;
    int uint = p.fmt == SAMPLEFORMAT_UINT;
    if ((p.photo == PHOTOMETRIC_MINISBLACK || inv) && p.spp == 1) {
        if (p.bps <= 8 && uint && (p.bps & (p.bps - 1)) == 0)
            mode = p.bps == 1 ? M_1 : M_L;
        else if (p.bps == 16 && uint)
            mode = M_I16;
        else if (!inv && ((p.bps == 16 && p.fmt == SAMPLEFORMAT_INT) ||
                          (p.bps == 32 && (uint ||
                                           p.fmt == SAMPLEFORMAT_INT))))
            mode = M_I;
        else if (p.bps == 32 && p.fmt == SAMPLEFORMAT_IEEEFP)
            mode = M_F;
        else
            goto unsupported;
    } else if (p.photo == PHOTOMETRIC_MINISBLACK && p.spp == 2 &&
               p.bps == 8 && uint && extra0 == EXTRASAMPLE_UNASSALPHA) {
        mode = M_LA;
    } else if (p.photo == PHOTOMETRIC_RGB && uint &&
               (p.bps == 8 || p.bps == 16) && p.spp >= 3 &&
               p.spp <= (p.bps == 8 ? 6 : 4)) {
        if (p.spp == 3 && n_extra == 0)
            mode = M_RGB;
        else if (p.spp == 4 && n_extra == 0)
            mode = M_RGBA;
        else if (n_extra != p.spp - 3)
            goto unsupported;
        else if (extra0 == EXTRASAMPLE_UNSPECIFIED)
            mode = M_RGBX;
        else if (extra0 == EXTRASAMPLE_ASSOCALPHA)
            mode = M_RGBa;
        else if (extra0 == EXTRASAMPLE_UNASSALPHA ||
                 (extra0 == 999 && p.spp == 4))
            mode = M_RGBA;
        else
            goto unsupported;
        for (int k = 1; k < n_extra; k++)
            if (extra[k] != EXTRASAMPLE_UNSPECIFIED)
                goto unsupported;
    } else if (p.photo == PHOTOMETRIC_PALETTE && p.spp == 1 && uint &&
               p.bps <= 8 && (p.bps & (p.bps - 1)) == 0) {
        mode = M_P;
        if (!TIFFGetField(t, TIFFTAG_COLORMAP, &cmap[0], &cmap[1],
                          &cmap[2])) {
            snprintf(err, cap, "the TIFF palette image has no colour map");
            return COMFY_EINVAL;
        }
    } else if (p.photo == PHOTOMETRIC_YCBCR && p.spp == 3 && p.bps == 8 &&
               uint && p.planar == PLANARCONFIG_CONTIG &&
               TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp) &&
               comp == COMPRESSION_JPEG) {
        /* JPEG in TIFF: libjpeg converts to RGB, as Pillow has libtiff
         * do */
        if (!TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))
            goto unsupported;
        mode = M_RGB;
    } else if (p.photo == PHOTOMETRIC_SEPARATED && p.bps == 8 && uint &&
               p.spp >= 4 && p.spp <= 6) {
        uint16_t ink = INKSET_CMYK;
        TIFFGetFieldDefaulted(t, TIFFTAG_INKSET, &ink);
        if (ink != INKSET_CMYK)
            goto unsupported;
        mode = M_CMYK;
    } else {
        goto unsupported;
    }
    /* Pillow reads separate planes band by band with 8-bit raw modes and
     * has no raw mode for a fifth band or an associated-alpha band:
     * it fails or differs on other planar layouts */
    if (p.planar == PLANARCONFIG_SEPARATE && p.spp > 1 &&
        (p.bps != 8 || p.spp > 4 || mode == M_RGBa)) {
        snprintf(err, cap, "unsupported TIFF layout (%u separate planes of "
                 "%u bits)", p.spp, p.bps);
        goto out;
    }
    if (read_samples(t, &p, err, cap) < 0) {
        if (m->failed)
            snprintf(err, cap, "the TIFF data is truncated or corrupt (%s)",
                     m->msg);
        else if (!err[0])
            snprintf(err, cap, "the TIFF data is truncated or corrupt");
        goto out;
    }
    int c = mode == M_LA ? 2 : mode == M_RGBA || mode == M_RGBa ? 4
            : mode == M_RGB || mode == M_RGBX || mode == M_P ||
                      mode == M_CMYK ? 3 : 1;
    uint8_t *pix = malloc((size_t)p.w * p.h * (size_t)c);
    if (!pix) {
        rc = COMFY_ENOMEM;
        snprintf(err, cap, "out of memory decoding a TIFF");
        goto out;
    }
    unsigned maxv = p.bps < 8 ? (1u << p.bps) - 1 : 255;
    /* 8-bit samples kept as they are: copy rows */
    int direct = p.bps == 8 && p.planar == PLANARCONFIG_CONTIG &&
                 p.spp == c && (mode == M_RGB || mode == M_RGBA ||
                                mode == M_LA || (mode == M_L && !inv));
    for (uint32_t y = 0; direct && y < p.h; y++)
        memcpy(pix + (size_t)y * p.w * (size_t)c,
               p.raw + (uint64_t)y * (uint64_t)p.row, (size_t)p.w * c);
    for (uint32_t y = 0; !direct && y < p.h; y++) {
        for (uint32_t x = 0; x < p.w; x++) {
            uint8_t *o = pix + ((size_t)y * p.w + x) * (size_t)c;
            double v = sample(&p, x, y, 0);
            switch (mode) {
            case M_1:
            case M_L: {
                unsigned u = (unsigned)v;
                if (inv)
                    u = maxv - u;
                o[0] = (uint8_t)(u * (255 / maxv));
                break;
            }
            case M_I16:
                o[0] = v > 255 ? 255 : (uint8_t)v;
                break;
            case M_I: /* point(i * (1/255)) truncates to int, then clip */
                o[0] = clip8(trunc(v * (1.0 / 255.0)));
                break;
            case M_F:
                o[0] = isnan(v) ? 0 : clip8(v);
                break;
            case M_LA:
                o[0] = (uint8_t)v;
                o[1] = (uint8_t)sample(&p, x, y, 1);
                break;
            case M_P: {
                unsigned i = (unsigned)v;
                for (int k = 0; k < 3; k++)
                    o[k] = (uint8_t)(cmap[k][i] / 256);
                break;
            }
            case M_CMYK: {
                unsigned k4 = (unsigned)sample(&p, x, y, 3), nk = 255 - k4;
                for (int k = 0; k < 3; k++) {
                    unsigned cv = (unsigned)sample(&p, x, y, k);
                    unsigned tt = cv * nk + 128;
                    unsigned mm = ((tt >> 8) + tt) >> 8;
                    o[k] = (uint8_t)(nk > mm ? nk - mm : 0);
                }
                break;
            }
            default: { /* RGB family */
                int shift = p.bps == 16 ? 8 : 0;
                unsigned s4[4] = { 0, 0, 0, 0 };
                for (int k = 0; k < 4 && k < p.spp; k++)
                    s4[k] = (unsigned)sample(&p, x, y, k) >> shift;
                for (int k = 0; k < 3; k++)
                    o[k] = (uint8_t)s4[k];
                if (mode == M_RGBA) {
                    o[3] = (uint8_t)s4[3];
                } else if (mode == M_RGBa) {
                    unsigned a = s4[3];
                    for (int k = 0; k < 3; k++) {
                        unsigned q = a ? s4[k] * 255 / a : 0;
                        o[k] = (uint8_t)(q > 255 ? 255 : q);
                    }
                    o[3] = (uint8_t)a;
                }
                break;
            }
            }
        }
    }
    out->w = p.w;
    out->h = p.h;
    out->channels = c;
    out->frames = 1;
    out->pixels = pix;
    /* Pillow's TIFF load_end already applies the Orientation tag, and
     * LoadImage's exif_transpose then applies it a second time. */
    rc = core_image_orient(out, orient);
    if (rc == 0)
        rc = core_image_orient(out, orient);
    if (rc) {
        core_image_free(out);
        snprintf(err, cap, "out of memory rotating the image");
    }
    goto out;
unsupported:
    snprintf(err, cap, "unsupported TIFF layout (photometric %u, %u "
             "samples of %u bits, sample format %u)", p.photo, p.spp, p.bps,
             p.fmt);
out:
    free(p.raw);
    return rc;
}

/* Widens page `f` to c channels (1 -> 3, 2 -> 4).  0 or COMFY_ENOMEM. */
static int widen(core_image *f, int c)
{
    if (f->channels == c)
        return 0;
    size_t n = (size_t)(f->w * f->h);
    uint8_t *np = malloc(n * (size_t)c);
    if (!np)
        return COMFY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = f->pixels + i * (size_t)f->channels;
        uint8_t *o = np + i * (size_t)c;
        if (f->channels >= 3) {
            memcpy(o, s, 3);
        } else {
            o[0] = o[1] = o[2] = s[0];
        }
        if (c == 4) /* a page without alpha reads as opaque */
            o[3] = f->channels == 2 || f->channels == 4
                       ? s[f->channels - 1] : 255;
    }
    free(f->pixels);
    f->pixels = np;
    f->channels = c;
    return 0;
}

int core_decode_tiff(const uint8_t *d, size_t len, core_image *img,
                     char *err, size_t cap)
{
    mem_tiff m;
    core_image *pages = NULL;
    int n = 0, rc = COMFY_EINVAL;
    memset(img, 0, sizeof(*img));
    memset(&m, 0, sizeof(m));
    m.d = d;
    m.len = len;
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) {
        snprintf(err, cap, "out of memory decoding a TIFF");
        return COMFY_ENOMEM;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &m);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &m);
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)1 << 31);
    TIFF *t = TIFFClientOpenExt("image.tif", "rm", (thandle_t)&m, m_read,
                                m_write, m_seek, m_close, m_size, m_map,
                                m_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!t) {
        snprintf(err, cap, "the TIFF data is truncated or corrupt (%s)",
                 m.failed ? m.msg : "cannot read the header");
        return COMFY_EINVAL;
    }
    pages = calloc(MAX_PAGES, sizeof(*pages));
    if (!pages) {
        rc = COMFY_ENOMEM;
        snprintf(err, cap, "out of memory decoding a TIFF");
        goto out;
    }
    int alpha = -1, color = 0, mixed = 0;
    do {
        core_image f;
        err[0] = '\0';
        rc = decode_page(t, &m, &f, err, cap);
        if (rc)
            goto out;
        /* LoadImage skips pages of another size than the first */
        if (n > 0 && (f.w != pages[0].w || f.h != pages[0].h)) {
            core_image_free(&f);
            continue;
        }
        int a = f.channels == 2 || f.channels == 4;
        /* ComfyUI's torch.cat of HxW and 64x64 masks fails */
        if (alpha >= 0 && a != alpha && !(f.w == 64 && f.h == 64))
            mixed = 1;
        alpha = alpha < 0 ? a : alpha | a;
        color |= f.channels >= 3;
        pages[n++] = f;
    } while (n < MAX_PAGES && TIFFReadDirectory(t));
    if (m.failed) {
        rc = COMFY_EINVAL;
        snprintf(err, cap, "the TIFF data is truncated or corrupt (%s)",
                 m.msg);
        goto out;
    }
    int c = color ? (alpha ? 4 : 3) : (alpha ? 2 : 1);
    if (core_check_dims(n, pages[0].h, pages[0].w, c, err, cap) < 0) {
        rc = COMFY_EINVAL;
        goto out;
    }
    size_t fsz = (size_t)(pages[0].w * pages[0].h * c);
    img->pixels = malloc(fsz * (size_t)n);
    if (!img->pixels) {
        rc = COMFY_ENOMEM;
        snprintf(err, cap, "out of memory decoding a TIFF");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (widen(&pages[i], c)) {
            rc = COMFY_ENOMEM;
            core_image_free(img);
            snprintf(err, cap, "out of memory decoding a TIFF");
            goto out;
        }
        memcpy(img->pixels + fsz * (size_t)i, pages[i].pixels, fsz);
    }
    img->w = pages[0].w;
    img->h = pages[0].h;
    img->channels = c;
    img->frames = n;
    img->mixed_masks = mixed;
    snprintf(img->format, sizeof(img->format), "TIFF");
    rc = 0;
out:
    if (pages)
        for (int i = 0; i < n; i++)
            core_image_free(&pages[i]);
    free(pages);
    TIFFClose(t);
    if (rc)
        memset(img, 0, sizeof(*img));
    return rc;
}
