/*
 * image_bmp.c — Windows BMP decoding as Pillow 9.4's BmpImagePlugin does
 * it for LoadImage: OS/2 (12-byte) and Windows (40/64/108/124-byte)
 * headers; 1/4/8-bit palettes (a grey palette makes the image mode "1" or
 * "L", decoded with those modes' own unpackers as Pillow does; a short
 * palette takes the bytes after it, as Pillow's read does), 16-bit
 * 5-5-5 and BI_BITFIELDS 5-6-5, 24-bit, 32-bit (alpha only through
 * bitfields masks Pillow knows), RLE8/RLE4 with Pillow's RLE reader and
 * its quirks (the column count is not reset when a run wraps a row, a
 * delta skips by the second of the two byte pairs it reads);
 * bottom-up and top-down rows.  Layouts Pillow refuses are refused with a
 * sentence naming them.  Reentrant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_decode.h"

enum { RAW = 0, RLE8 = 1, RLE4 = 2, BITFIELDS = 3 };

/* How a row is unpacked (Pillow's raw modes). */
enum unpack {
    U_1,      /* "1": 1 bit per pixel, 0 or 255                */
    U_L,      /* "L": one byte, grey                            */
    U_P1,     /* "P;1"                                          */
    U_P4,     /* "P;4"                                          */
    U_P,      /* "P"                                            */
    U_BGR15,
    U_BGR16,
    U_BGR,
    U_BGRX,
    U_XBGR,
    U_ABGR,
    U_RGBA,
    U_BGRA
};

static const int unpack_bits[] = { 1, 8, 1, 4, 8, 16, 16, 24, 32, 32, 32,
                                   32, 32 };

static unsigned u16le(const uint8_t *p)
{
    return (unsigned)(p[0] | p[1] << 8);
}

static uint32_t u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void core_palette_fill(uint8_t out[768], const uint8_t *rgb, size_t n,
                       size_t stride, int bgr)
{
    for (int i = 0; i < 256; i++)
        out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = (uint8_t)i;
    for (size_t i = 0; i < n && i < 256; i++) {
        const uint8_t *p = rgb + i * stride;
        out[i * 3] = bgr ? p[2] : p[0];
        out[i * 3 + 1] = p[1];
        out[i * 3 + 2] = bgr ? p[0] : p[2];
    }
}

/* One stored row (`in`, at least the unpacker's bytes) to output pixels. */
static void unpack_row(enum unpack u, const uint8_t *in, int64_t w,
                       const uint8_t *pal, uint8_t *o)
{
    for (int64_t x = 0; x < w; x++) {
        unsigned v;
        switch (u) {
        case U_1:
            o[x] = (in[x >> 3] >> (7 - (x & 7))) & 1 ? 255 : 0;
            break;
        case U_L:
            o[x] = in[x];
            break;
        case U_P1:
        case U_P4:
        case U_P:
            v = u == U_P1 ? (in[x >> 3] >> (7 - (x & 7))) & 1
                : u == U_P4 ? (x & 1 ? in[x >> 1] & 15 : in[x >> 1] >> 4)
                : in[x];
            memcpy(o + x * 3, pal + v * 3, 3);
            break;
        case U_BGR15:
        case U_BGR16:
            v = u16le(in + x * 2);
            o[x * 3 + 2] = (uint8_t)((v & 31) * 255 / 31);
            if (u == U_BGR15) {
                o[x * 3 + 1] = (uint8_t)(((v >> 5) & 31) * 255 / 31);
                o[x * 3] = (uint8_t)(((v >> 10) & 31) * 255 / 31);
            } else {
                o[x * 3 + 1] = (uint8_t)(((v >> 5) & 63) * 255 / 63);
                o[x * 3] = (uint8_t)(((v >> 11) & 31) * 255 / 31);
            }
            break;
        case U_BGR:
        case U_BGRX:
        case U_XBGR: {
            const uint8_t *p = in + x * (u == U_BGR ? 3 : 4) +
                               (u == U_XBGR ? 1 : 0);
            o[x * 3] = p[2];
            o[x * 3 + 1] = p[1];
            o[x * 3 + 2] = p[0];
            break;
        }
        case U_ABGR:
            o[x * 4] = in[x * 4 + 3];
            o[x * 4 + 1] = in[x * 4 + 2];
            o[x * 4 + 2] = in[x * 4 + 1];
            o[x * 4 + 3] = in[x * 4];
            break;
        case U_RGBA:
            memcpy(o + x * 4, in + x * 4, 4);
            break;
        case U_BGRA:
            o[x * 4] = in[x * 4 + 2];
            o[x * 4 + 1] = in[x * 4 + 1];
            o[x * 4 + 2] = in[x * 4];
            o[x * 4 + 3] = in[x * 4 + 3];
            break;
        }
    }
}

/* Pillow's BmpRleDecoder: fills idx[w*h] (stored row order) from `pos`.
 * 0, or -1 when the stream ends before every pixel is set (Pillow then
 * fails with "not enough image data"). */
static int rle_decode(const uint8_t *d, size_t len, size_t pos, int rle4,
                      int64_t w, int64_t h, uint8_t *idx)
{
    const int64_t total = w * h;
    int64_t n = 0, x = 0;
#define PUT(v) do { if (n < total) idx[n] = (uint8_t)(v); n++; } while (0)
    while (n < total) {
        if (pos + 2 > len)
            break;
        unsigned count = d[pos], byte = d[pos + 1];
        pos += 2;
        if (count) {
            int64_t k = count;
            if (x + k > w)
                k = w - x > 0 ? w - x : 0;
            for (int64_t i = 0; i < k; i++)
                PUT(rle4 ? (i % 2 == 0 ? byte >> 4 : byte & 15) : byte);
            x += k;
        } else if (byte == 0) {           /* end of line */
            while (n % w != 0)
                PUT(0);
            x = 0;
        } else if (byte == 1) {           /* end of bitmap */
            break;
        } else if (byte == 2) {           /* delta */
            /* Pillow 9.4 reads two byte pairs and uses the second */
            if (pos + 4 > len)
                break;
            int64_t skip = d[pos + 2] + (int64_t)d[pos + 3] * w;
            pos += 4;
            if (skip > total - n)
                skip = total - n + 1; /* past the end: the loop stops */
            for (int64_t i = 0; i < skip; i++)
                PUT(0);
            x = n % w;
        } else {                          /* absolute run */
            size_t want = rle4 ? byte / 2 : byte;
            size_t got = len - pos < want ? len - pos : want;
            for (size_t i = 0; i < got; i++) {
                if (rle4) {
                    PUT(d[pos + i] >> 4);
                    PUT(d[pos + i] & 15);
                } else {
                    PUT(d[pos + i]);
                }
            }
            pos += got;
            if (got < want)
                break;
            x += byte;
            if (pos % 2 != 0)
                pos++;
        }
    }
#undef PUT
    return n >= total ? 0 : -1;
}

int core_decode_bmp(const uint8_t *d, size_t len, core_image *img, char *err,
                    size_t cap)
{
    uint8_t *idx = NULL, *pix = NULL, *rowbuf = NULL;
    uint8_t pal[768];
    int rc = COMFY_EINVAL;
    memset(img, 0, sizeof(*img));
    if (len < 18 || d[0] != 'B' || d[1] != 'M') {
        snprintf(err, cap, "not a BMP file");
        return COMFY_EINVAL;
    }
    size_t offset = u32le(d + 10);
    uint32_t hsize = u32le(d + 14);
    if (hsize != 12 && hsize != 40 && hsize != 64 && hsize != 108 &&
        hsize != 124) {
        snprintf(err, cap, "unsupported BMP header type (%u)", hsize);
        return COMFY_EINVAL;
    }
    if (len < 14 + (size_t)hsize) {
        snprintf(err, cap, "the BMP data is truncated");
        return COMFY_EINVAL;
    }
    const uint8_t *hd = d + 18;
    int64_t w, h;
    unsigned bits;
    uint32_t comp = RAW, colors = 0;
    int direction = -1, pad;
    size_t pos = 14 + (size_t)hsize;
    uint32_t mask[4] = { 0, 0, 0, 0 };
    if (hsize == 12) {
        w = u16le(hd);
        h = u16le(hd + 2);
        bits = u16le(hd + 6);
        pad = 3;
    } else {
        int flip = hd[7] == 0xFF;
        direction = flip ? 1 : -1;
        w = u32le(hd);
        h = flip ? (int64_t)(((uint64_t)1 << 32) - u32le(hd + 4))
                 : (int64_t)u32le(hd + 4);
        bits = u16le(hd + 10);
        comp = u32le(hd + 12);
        colors = u32le(hd + 28);
        pad = 4;
        if (comp == BITFIELDS) {
            if (hsize - 4 >= 52) {
                for (int k = 0; k < 4; k++)
                    mask[k] = u32le(hd + 36 + k * 4);
            } else {
                if (len < pos + 12) {
                    snprintf(err, cap, "the BMP data is truncated");
                    return COMFY_EINVAL;
                }
                for (int k = 0; k < 3; k++)
                    mask[k] = u32le(d + pos + k * 4);
                pos += 12;
            }
        }
    }
    if (w <= 0 || h <= 0) {
        snprintf(err, cap, "the BMP image has no pixels (%lldx%lld)",
                 (long long)w, (long long)h);
        return COMFY_EINVAL;
    }
    if (core_check_dims(1, h, w, 4, err, cap) < 0)
        return COMFY_EINVAL;
    uint64_t ncolors = colors ? colors : (uint64_t)1 << (bits < 32 ? bits : 0);
    if (offset == 14 + (size_t)hsize && bits <= 8)
        offset += 4 * (size_t)ncolors;
    if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 &&
        bits != 32) {
        snprintf(err, cap, "unsupported BMP pixel depth (%u)", bits);
        return COMFY_EINVAL;
    }
    /* mode: 1 = "1"/"L" (one channel), 3 = P or RGB, 4 = RGBA */
    int channels = 3;
    enum unpack u = bits == 1 ? U_P1 : bits == 4 ? U_P4 : bits == 8 ? U_P
                    : bits == 16 ? U_BGR15 : bits == 24 ? U_BGR : U_BGRX;
    int rle = 0;
    if (comp == BITFIELDS) {
        static const uint32_t m32[6][4] = {
            { 0xFF0000, 0xFF00, 0xFF, 0 },
            { 0xFF000000, 0xFF0000, 0xFF00, 0 },
            { 0xFF000000, 0xFF0000, 0xFF00, 0xFF },
            { 0xFF, 0xFF00, 0xFF0000, 0xFF000000 },
            { 0xFF0000, 0xFF00, 0xFF, 0xFF000000 },
            { 0, 0, 0, 0 },
        };
        static const enum unpack u32m[6] = { U_BGRX, U_XBGR, U_ABGR, U_RGBA,
                                             U_BGRA, U_BGRA };
        int found = 0;
        if (bits == 32) {
            for (int k = 0; k < 6 && !found; k++)
                if (memcmp(mask, m32[k], sizeof(mask[0]) * 4) == 0) {
                    u = u32m[k];
                    found = 1;
                }
            if (u == U_ABGR || u == U_RGBA || u == U_BGRA)
                channels = 4;
        } else if (bits == 24) {
            found = mask[0] == 0xFF0000 && mask[1] == 0xFF00 &&
                    mask[2] == 0xFF;
        } else if (bits == 16) {
            if (mask[0] == 0xF800 && mask[1] == 0x7E0 && mask[2] == 0x1F) {
                u = U_BGR16;
                found = 1;
            } else if (mask[0] == 0x7C00 && mask[1] == 0x3E0 &&
                       mask[2] == 0x1F) {
                found = 1;
            }
        }
        if (!found) {
            snprintf(err, cap, "unsupported BMP bitfields layout");
            return COMFY_EINVAL;
        }
    } else if (comp == RLE8 || comp == RLE4) {
        if (bits > 8) {
            snprintf(err, cap, "unsupported BMP layout (RLE with %u bits per "
                     "pixel)", bits);
            return COMFY_EINVAL;
        }
        rle = comp == RLE4 ? 4 : 8;
    } else if (comp != RAW) {
        snprintf(err, cap, "unsupported BMP compression (%u)", comp);
        return COMFY_EINVAL;
    }
    if (bits <= 8) {
        if (ncolors == 0 || ncolors > 256) {
            snprintf(err, cap, "unsupported BMP palette size (%llu)",
                     (unsigned long long)ncolors);
            return COMFY_EINVAL;
        }
        /* Pillow reads pad * colors bytes from here, whatever they are
         * (a short palette runs into the pixels, or the file's end) */
        size_t avail = (size_t)pad * ncolors;
        if (avail > len - pos)
            avail = len - pos;
        const uint8_t *p = d + pos;
        int grey = avail == (size_t)pad * ncolors;
        for (uint64_t i = 0; i < ncolors && grey; i++) {
            unsigned v = ncolors == 2 ? (i ? 255 : 0) : (unsigned)(i & 255);
            const uint8_t *e = p + i * (uint64_t)pad;
            grey = e[0] == v && e[1] == v && e[2] == v;
        }
        if (grey) {
            /* Pillow then reads rows with the "1" or "L" unpacker
             * whatever the depth, and RLE data as "P" (refused for "1") */
            if (ncolors == 2 && rle) {
                snprintf(err, cap, "unsupported BMP layout (RLE with a "
                         "black and white palette)");
                return COMFY_EINVAL;
            }
            u = ncolors == 2 ? U_1 : U_L;
            channels = 1;
        }
        core_palette_fill(pal, p, avail / (size_t)pad, (size_t)pad, 1);
    }
    if (offset == 0)
        offset = pos;
    if (offset > len) {
        snprintf(err, cap, "the BMP data is truncated");
        return COMFY_EINVAL;
    }
    pix = malloc((size_t)(w * h * channels));
    if (!pix) {
        snprintf(err, cap, "out of memory decoding a %lldx%lld BMP",
                 (long long)w, (long long)h);
        return COMFY_ENOMEM;
    }
    if (rle) {
        idx = malloc((size_t)(w * h));
        if (!idx) {
            rc = COMFY_ENOMEM;
            snprintf(err, cap, "out of memory decoding a BMP");
            goto out;
        }
        if (rle_decode(d, len, offset, rle == 4, w, h, idx) < 0) {
            snprintf(err, cap, "the BMP data is truncated (not enough "
                     "image data)");
            goto out;
        }
        if (u != U_L)
            u = U_P;
        for (int64_t r = 0; r < h; r++) {
            int64_t y = direction < 0 ? h - 1 - r : r;
            unpack_row(u, idx + r * w, w, pal, pix + y * w * channels);
        }
    } else {
        uint64_t stride = (((uint64_t)w * bits + 31) >> 3) & ~(uint64_t)3;
        uint64_t rowbytes = ((uint64_t)w * (uint64_t)unpack_bits[u] + 7) / 8;
        /* Rows start `stride` apart; an "L" unpacker over 1- or 4-bit
         * rows reads past its row into the next ones.  Pillow maps 8-bit
         * "L"/"P" files when h * stride bytes are there (reading past the
         * file's end then gives zeros), else decodes, which needs every
         * byte the last row reads. */
        uint64_t avail = len - offset;
        uint64_t need = stride * (uint64_t)(h - 1) + rowbytes;
        int mapped = (u == U_L || u == U_P) && avail >= stride * (uint64_t)h;
        if (!mapped && avail < need) {
            snprintf(err, cap, "the BMP data is truncated");
            goto out;
        }
        if (avail < need) {
            rowbuf = malloc((size_t)rowbytes);
            if (!rowbuf) {
                rc = COMFY_ENOMEM;
                snprintf(err, cap, "out of memory decoding a BMP");
                goto out;
            }
        }
        for (int64_t r = 0; r < h; r++) {
            int64_t y = direction < 0 ? h - 1 - r : r;
            uint64_t start = (uint64_t)r * stride;
            const uint8_t *row = d + offset + start;
            if (start + rowbytes > avail) {
                memset(rowbuf, 0, (size_t)rowbytes);
                memcpy(rowbuf, row, (size_t)(avail - start));
                row = rowbuf;
            }
            unpack_row(u, row, w, pal, pix + y * w * channels);
        }
    }
    img->w = w;
    img->h = h;
    img->channels = channels;
    img->frames = 1;
    img->pixels = pix;
    pix = NULL;
    snprintf(img->format, sizeof(img->format), "BMP");
    rc = 0;
out:
    free(idx);
    free(rowbuf);
    free(pix);
    return rc;
}
