/*
 * image_gif.c — GIF decoding with our own LZW reader, frame by frame the
 * way Pillow 9.4's GifImagePlugin (default RGB_AFTER_FIRST strategy)
 * hands frames to LoadImage's ImageSequence loop:
 *
 *   - frame 0 is mode "P" (its palette; "transparency" set from its
 *     graphic control extension) or "L" when no palette is needed (no
 *     colour table, or one that is the grey ramp 0,1,2,...); pixels
 *     outside the frame are the transparent index, else 0;
 *   - at frame 1 a "P" canvas becomes "RGBA" (when frame 0 had a
 *     transparent index; that index becomes alpha 0) or "RGB", and every
 *     later frame is decoded with its own palette and pasted onto the
 *     canvas, its transparent pixels leaving the canvas as it was;
 *   - an "L" canvas stays "L": later frames are written into it, skipping
 *     their transparent index;
 *   - before each frame, the previous frame's disposal is applied to the
 *     previous frame's extent: 2 fills it with the transparent colour
 *     (alpha 0) or else the background colour, 3 restores what was there
 *     before that frame was drawn.  The disposal method persists from one
 *     frame to the next when a frame does not set one, as in Pillow.
 *
 * Output channels: 4 (P with transparency, then RGBA), 3 (P, then RGB) or
 * 1 (L).  A later frame reaching past the logical screen is clipped to
 * the canvas (Pillow pastes it onto a canvas that keeps its size); in an
 * "L" sequence it ends the frames LoadImage keeps.  Layouts Pillow fails
 * on (a transparent later frame without a palette, a palette frame after
 * an "L" first frame) are refused with a sentence.  Reentrant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_decode.h"

typedef struct gif_in {
    const uint8_t *d;
    size_t len, pos;
} gif_in;

/* A disposal to apply before the next frame. */
enum { D_NONE, D_FILL_IDX, D_FILL_RGBA, D_CROP_IDX, D_CROP_RGBA };

typedef struct gif_state {
    int64_t W, H;
    int mode;               /* 'P', 'L', '3' (RGB), '4' (RGBA)        */
    uint8_t *idx;           /* W*H indices (modes P, L)               */
    uint8_t *rgba;          /* W*H*4 (modes RGB, RGBA)                */
    uint8_t pal0[768];      /* frame 0's palette (mode P)             */
    int info_trans;         /* Pillow's info["transparency"], or -1   */
    int disposal;           /* persistent disposal method             */
    int dtype;              /* D_*                                    */
    uint8_t dcolor[4];
    uint8_t *dcrop;         /* saved pixels for D_CROP_*              */
    int64_t dx0, dy0, dx1, dy1;
} gif_state;

static unsigned u16le(const uint8_t *p)
{
    return (unsigned)(p[0] | p[1] << 8);
}

/* Pillow's _is_palette_needed: anything but the ramp 0,1,2,... */
static int palette_needed(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i * 3] != i || p[i * 3 + 1] != i || p[i * 3 + 2] != i)
            return 1;
    return 0;
}

/* ------------------------------------------------------------- LZW */

typedef struct lzw_src {
    gif_in *in;
    size_t block_left;      /* bytes left in the current sub-block   */
    int ended;              /* the 0-length terminator was read      */
    uint32_t acc;
    int nbits;
} lzw_src;

/* Next byte of the sub-block stream: 0..255, -1 at the terminator,
 * -2 when the file ends first. */
static int lzw_byte(lzw_src *s)
{
    while (s->block_left == 0) {
        if (s->ended)
            return -1;
        if (s->in->pos >= s->in->len)
            return -2;
        s->block_left = s->in->d[s->in->pos++];
        if (s->block_left == 0) {
            s->ended = 1;
            return -1;
        }
    }
    if (s->in->pos >= s->in->len)
        return -2;
    s->block_left--;
    return s->in->d[s->in->pos++];
}

/* Decodes one frame's image data into out[fw*fh] (row-major, interlace
 * undone), marking written pixels in `set`.  Stops at the end code, when
 * every pixel is set, or at the sub-block terminator; then skips to the
 * end of the frame's sub-blocks.  0; -1 corrupt codes; -2 the file ends
 * inside the pixel data. */
static int lzw_decode(gif_in *in, int min_bits, int interlace, int64_t fw,
                      int64_t fh, uint8_t *out, uint8_t *set)
{
    static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
    uint16_t *prefix = malloc(4096 * sizeof(uint16_t));
    uint8_t *suffix = malloc(4096), *stack = malloc(4097);
    int rc = 0;
    if (!prefix || !suffix || !stack) {
        rc = -3;
        goto out;
    }
    lzw_src s = { in, 0, 0, 0, 0 };
    const int clear = 1 << min_bits, eoi = clear + 1;
    int size = min_bits + 1, next = clear + 2, prev = -1;
    uint8_t first = 0;
    int64_t total = fw * fh, p = 0, row = 0, col = 0;
    int pass = 0;
    for (int c = 0; c < clear; c++) {
        prefix[c] = 0xFFFF;
        suffix[c] = (uint8_t)c;
    }
    while (p < total) {
        while (s.nbits < size) {
            int b = lzw_byte(&s);
            if (b < 0) {
                rc = b == -2 ? -2 : 0;
                goto out;
            }
            s.acc |= (uint32_t)b << s.nbits;
            s.nbits += 8;
        }
        int code = (int)(s.acc & ((1u << size) - 1));
        s.acc >>= size;
        s.nbits -= size;
        if (code == clear) {
            size = min_bits + 1;
            next = clear + 2;
            prev = -1;
            continue;
        }
        if (code == eoi)
            break;
        int sp = 0, cur;
        if (prev < 0) {
            if (code > clear) {
                rc = -1;
                goto out;
            }
            stack[sp++] = (uint8_t)code;
            first = (uint8_t)code;
        } else {
            if (code > next || (code == next && next >= 4096)) {
                rc = -1;
                goto out;
            }
            cur = code;
            if (code == next) {
                stack[sp++] = first;
                cur = prev;
            }
            while (cur >= clear) {
                if (sp >= 4096) {
                    rc = -1;
                    goto out;
                }
                stack[sp++] = suffix[cur];
                cur = prefix[cur];
            }
            stack[sp++] = (uint8_t)cur;
            first = (uint8_t)cur;
            if (next < 4096) {
                prefix[next] = (uint16_t)prev;
                suffix[next] = first;
                next++;
                if (next == (1 << size) && size < 12)
                    size++;
            }
        }
        prev = code;
        while (sp > 0 && p < total) {
            int64_t y = interlace ? row : p / fw;
            int64_t x = interlace ? col : p % fw;
            out[y * fw + x] = stack[--sp];
            set[y * fw + x] = 1;
            p++;
            if (interlace && ++col == fw) {
                col = 0;
                row += step[pass];
                while (row >= fh && pass < 3) {
                    pass++;
                    row = start[pass];
                }
            }
        }
    }
    /* skip the rest of the frame's sub-blocks */
    while (!s.ended) {
        if (in->pos >= in->len)
            break; /* Pillow stops reading frames here */
        if (s.block_left) {
            size_t k = s.block_left < in->len - in->pos ? s.block_left
                                                        : in->len - in->pos;
            in->pos += k;
            s.block_left -= k;
            continue;
        }
        s.block_left = in->d[in->pos++];
        if (s.block_left == 0)
            s.ended = 1;
    }
out:
    free(prefix);
    free(suffix);
    free(stack);
    return rc;
}

/* ---------------------------------------------------------- frames */

/* Applies the pending disposal onto the canvas. */
static void apply_dispose(gif_state *g)
{
    if (g->dtype == D_NONE)
        return;
    int64_t ew = g->dx1 - g->dx0;
    for (int64_t y = g->dy0; y < g->dy1; y++) {
        for (int64_t x = g->dx0; x < g->dx1; x++) {
            int64_t i = y * g->W + x, k = (y - g->dy0) * ew + (x - g->dx0);
            switch (g->dtype) {
            case D_FILL_IDX: g->idx[i] = g->dcolor[0]; break;
            case D_CROP_IDX: g->idx[i] = g->dcrop[k]; break;
            case D_FILL_RGBA: memcpy(g->rgba + i * 4, g->dcolor, 4); break;
            default: memcpy(g->rgba + i * 4, g->dcrop + k * 4, 4); break;
            }
        }
    }
}

/* Pillow's frame-1 conversion of the "P" canvas to RGB or RGBA. */
static int convert_canvas(gif_state *g)
{
    g->rgba = malloc((size_t)(g->W * g->H * 4));
    if (!g->rgba)
        return COMFY_ENOMEM;
    for (int64_t i = 0; i < g->W * g->H; i++) {
        memcpy(g->rgba + i * 4, g->pal0 + g->idx[i] * 3, 3);
        g->rgba[i * 4 + 3] = g->info_trans == g->idx[i] ? 0 : 255;
    }
    g->mode = g->info_trans >= 0 ? '4' : '3';
    g->info_trans = -1;
    free(g->idx);
    g->idx = NULL;
    return 0;
}

/* Appends the canvas as one output frame of `c` channels. */
static int emit_frame(gif_state *g, core_image *img, int c, char *err,
                      size_t cap)
{
    int64_t n = img->frames + 1, px = g->W * g->H;
    if (core_check_dims(n, g->H, g->W, c, err, cap) < 0)
        return COMFY_EINVAL;
    uint8_t *np = realloc(img->pixels, (size_t)(n * px * c));
    if (!np) {
        snprintf(err, cap, "out of memory decoding a GIF");
        return COMFY_ENOMEM;
    }
    img->pixels = np;
    uint8_t *o = np + img->frames * px * c;
    for (int64_t i = 0; i < px; i++) {
        if (g->mode == 'L') {
            o[i] = g->idx[i];
        } else if (g->mode == 'P') {
            memcpy(o + i * c, g->pal0 + g->idx[i] * 3, 3);
            if (c == 4)
                o[i * 4 + 3] = g->info_trans == g->idx[i] ? 0 : 255;
        } else {
            memcpy(o + i * c, g->rgba + i * 4, (size_t)c);
        }
    }
    img->frames = n;
    return 0;
}

int core_decode_gif(const uint8_t *d, size_t len, core_image *img, char *err,
                    size_t cap)
{
    gif_state g;
    gif_in in = { d, len, 13 };
    uint8_t gpal[768], fpal[768];
    uint8_t *tmp = NULL, *set = NULL;
    int has_gpal = 0, background = 0, channels = 0, rc = COMFY_EINVAL;
    memset(img, 0, sizeof(*img));
    memset(&g, 0, sizeof(g));
    g.info_trans = -1;
    if (len < 13 || (memcmp(d, "GIF87a", 6) && memcmp(d, "GIF89a", 6))) {
        snprintf(err, cap, "not a GIF file");
        return COMFY_EINVAL;
    }
    g.W = u16le(d + 6);
    g.H = u16le(d + 8);
    if (d[10] & 128) {
        size_t n = (size_t)1 << ((d[10] & 7) + 1);
        background = d[11];
        if (len - in.pos < n * 3) {
            snprintf(err, cap, "the GIF data is truncated");
            return COMFY_EINVAL;
        }
        if (palette_needed(d + in.pos, n)) {
            core_palette_fill(gpal, d + in.pos, n, 3, 0);
            has_gpal = 1;
        }
        in.pos += n * 3;
    }
    for (int64_t k = 0;; k++) {
        int trans = -1;
        int have_image = 0, truncated = 0;
        int64_t x0 = 0, y0 = 0, fw = 0, fh = 0;
        int interlace = 0, has_fpal = 0, local = 0, min_bits = 0;
        while (!have_image) {
            if (in.pos >= len || d[in.pos] == ';')
                break;
            uint8_t tag = d[in.pos++];
            if (tag == '!') {
                if (in.pos >= len) {
                    truncated = 1;
                    break;
                }
                uint8_t label = d[in.pos++];
                int firstblk = 1;
                for (;;) { /* the extension's sub-blocks */
                    if (in.pos >= len) {
                        truncated = 1;
                        break;
                    }
                    size_t bl = d[in.pos++];
                    if (bl == 0)
                        break;
                    if (len - in.pos < bl) {
                        truncated = 1;
                        break;
                    }
                    if (firstblk && label == 0xF9) {
                        const uint8_t *b = d + in.pos;
                        if (bl < 4) {
                            truncated = 1;
                            break;
                        }
                        if (b[0] & 1)
                            trans = b[3];
                        int bits = (b[0] >> 2) & 7;
                        if (bits)
                            g.disposal = bits;
                    }
                    firstblk = 0;
                    in.pos += bl;
                }
                if (label == 0xF9 && firstblk)
                    truncated = 1; /* Pillow: block[0] of None */
                if (truncated)
                    break;
            } else if (tag == ',') {
                if (len - in.pos < 9) {
                    truncated = 1;
                    break;
                }
                const uint8_t *s = d + in.pos;
                x0 = u16le(s);
                y0 = u16le(s + 2);
                fw = u16le(s + 4);
                fh = u16le(s + 6);
                interlace = (s[8] & 64) != 0;
                in.pos += 9;
                if (s[8] & 128) {
                    size_t n = (size_t)1 << ((s[8] & 7) + 1);
                    if (len - in.pos < n * 3) {
                        truncated = 1;
                        break;
                    }
                    local = 1;
                    if (palette_needed(d + in.pos, n)) {
                        core_palette_fill(fpal, d + in.pos, n, 3, 0);
                        has_fpal = 1;
                    }
                    in.pos += n * 3;
                }
                if (in.pos >= len) {
                    truncated = 1;
                    break;
                }
                min_bits = d[in.pos++];
                have_image = 1;
            }
            /* any other byte is skipped, as Pillow does */
        }
        if (truncated) {
            snprintf(err, cap, "the GIF data is truncated");
            goto fail;
        }
        if (!have_image) {
            if (k == 0) {
                snprintf(err, cap, "the GIF file has no image");
                goto fail;
            }
            break; /* end of the sequence */
        }
        if (!local && has_gpal) {
            memcpy(fpal, gpal, sizeof(fpal));
            has_fpal = 1;
        }
        if (!has_fpal)
            core_palette_fill(fpal, NULL, 0, 3, 0);
        if (min_bits < 1 || min_bits > 11) {
            snprintf(err, cap, "the GIF data is corrupt (LZW code size %d)",
                     min_bits);
            goto fail;
        }
        int64_t x1 = x0 + fw, y1 = y0 + fh;
        if (k == 0) {
            if (x1 > g.W)
                g.W = x1;
            if (y1 > g.H)
                g.H = y1;
            if (g.W < 1 || g.H < 1) {
                snprintf(err, cap, "the GIF image has no pixels");
                goto fail;
            }
            if (core_check_dims(1, g.H, g.W, 4, err, cap) < 0)
                goto fail;
        } else if ((x1 > g.W || y1 > g.H) && g.mode == 'L') {
            /* Pillow grows the image size; an "L" frame then starts on a
             * new blank canvas of that size, which LoadImage skips, as
             * it does every later frame */
            break;
        }
        /* a later frame reaching past the canvas: Pillow pastes it onto
         * the canvas, which keeps its size, so only what lies inside
         * counts */
        int64_t cw = x0 >= g.W ? 0 : (x1 < g.W ? x1 : g.W) - x0;
        int64_t ch = y0 >= g.H ? 0 : (y1 < g.H ? y1 : g.H) - y0;
        /* the previous frame's disposal, then Pillow's frame-1 conversion */
        apply_dispose(&g);
        if (k == 1 && g.mode == 'P' && (rc = convert_canvas(&g)) != 0) {
            snprintf(err, cap, "out of memory decoding a GIF");
            goto fail;
        }
        rc = COMFY_EINVAL;
        int rgbmode = g.mode == '3' || g.mode == '4';
        if (k >= 1 && g.mode == 'L' && has_fpal) {
            snprintf(err, cap, "unsupported GIF layout (a palette frame "
                     "after a grey first frame)");
            goto fail;
        }
        if (k >= 1 && rgbmode && !has_fpal && trans >= 0) {
            snprintf(err, cap, "unsupported GIF layout (a transparent "
                     "frame without a palette)");
            goto fail;
        }
        /* this frame's disposal, for the next frame */
        free(g.dcrop);
        g.dcrop = NULL;
        int dtype = D_NONE;
        if (g.disposal == 2) {
            int color = g.mode == 'L' && k >= 1 && g.info_trans >= 0
                            ? g.info_trans : trans;
            int alpha = 0;
            if (color < 0) {
                color = background;
                alpha = 255;
            }
            if (rgbmode) {
                dtype = D_FILL_RGBA;
                memcpy(g.dcolor, fpal + color * 3, 3);
                g.dcolor[3] = (uint8_t)alpha;
            } else {
                dtype = D_FILL_IDX;
                g.dcolor[0] = (uint8_t)color;
            }
        } else if (g.disposal >= 3) {
            if (k >= 1) {
                int c = rgbmode ? 4 : 1;
                g.dcrop = malloc((size_t)(cw * ch * c) + 1);
                if (!g.dcrop) {
                    rc = COMFY_ENOMEM;
                    snprintf(err, cap, "out of memory decoding a GIF");
                    goto fail;
                }
                const uint8_t *src = rgbmode ? g.rgba : g.idx;
                for (int64_t y = 0; y < ch; y++)
                    memcpy(g.dcrop + y * cw * c,
                           src + ((y0 + y) * g.W + x0) * c, (size_t)(cw * c));
                dtype = rgbmode ? D_CROP_RGBA : D_CROP_IDX;
            } else if (trans >= 0) {
                dtype = D_FILL_IDX;
                g.dcolor[0] = (uint8_t)trans;
            }
        }
        /* decode this frame's indices */
        free(tmp);
        free(set);
        tmp = malloc((size_t)(fw * fh) + 1);
        set = calloc((size_t)(fw * fh) + 1, 1);
        if (!tmp || !set) {
            rc = COMFY_ENOMEM;
            snprintf(err, cap, "out of memory decoding a GIF");
            goto fail;
        }
        memset(tmp, trans > 0 ? trans : 0, (size_t)(fw * fh));
        int lz = lzw_decode(&in, min_bits, interlace, fw, fh, tmp, set);
        if (lz < 0) {
            rc = lz == -3 ? COMFY_ENOMEM : COMFY_EINVAL;
            snprintf(err, cap, lz == -3 ? "out of memory decoding a GIF"
                     : lz == -2 ? "the GIF data is truncated"
                     : "the GIF data is corrupt (bad LZW code)");
            goto fail;
        }
        if (k == 0) {
            g.idx = malloc((size_t)(g.W * g.H));
            if (!g.idx) {
                rc = COMFY_ENOMEM;
                snprintf(err, cap, "out of memory decoding a GIF");
                goto fail;
            }
            memset(g.idx, trans >= 0 ? trans : 0, (size_t)(g.W * g.H));
            for (int64_t y = 0; y < fh; y++)
                memcpy(g.idx + (y0 + y) * g.W + x0, tmp + y * fw,
                       (size_t)fw);
            g.mode = has_fpal ? 'P' : 'L';
            memcpy(g.pal0, fpal, sizeof(g.pal0));
            g.info_trans = trans;
            channels = g.mode == 'L' ? 1 : trans >= 0 ? 4 : 3;
        } else if (g.mode == 'L') {
            for (int64_t y = 0; y < ch; y++)
                for (int64_t x = 0; x < cw; x++) {
                    int64_t s = y * fw + x;
                    if (set[s] && tmp[s] != trans)
                        g.idx[(y0 + y) * g.W + x0 + x] = tmp[s];
                }
        } else {
            for (int64_t y = 0; y < ch; y++)
                for (int64_t x = 0; x < cw; x++) {
                    uint8_t v = tmp[y * fw + x];
                    if (v == trans)
                        continue;
                    uint8_t *o = g.rgba + ((y0 + y) * g.W + x0 + x) * 4;
                    memcpy(o, fpal + v * 3, 3);
                    o[3] = 255;
                }
        }
        g.dtype = dtype;
        g.dx0 = x0;
        g.dy0 = y0;
        g.dx1 = x0 + cw;
        g.dy1 = y0 + ch;
        if (k == 0)
            img->w = g.W, img->h = g.H, img->channels = channels;
        if ((rc = emit_frame(&g, img, channels, err, cap)) != 0)
            goto fail;
        rc = COMFY_EINVAL;
        if (in.pos >= len)
            break;
    }
    snprintf(img->format, sizeof(img->format), "GIF");
    rc = 0;
    goto out;
fail:
    core_image_free(img);
    memset(img, 0, sizeof(*img));
out:
    free(tmp);
    free(set);
    free(g.idx);
    free(g.rgba);
    free(g.dcrop);
    return rc;
}
