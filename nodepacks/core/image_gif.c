/*
 * image_gif.c — GIF decoding with our own LZW reader, frame by frame the
 * way Pillow 9.4's GifImagePlugin (default RGB_AFTER_FIRST strategy)
 * hands frames to LoadImage's ImageSequence loop.  Pillow's state is
 * modelled as it is kept: the image's mode ("P", "L", "RGB", "RGBA"),
 * the canvas it draws on (indices, with or without a palette of its own,
 * or RGBA), info["transparency"] and the pending disposal.
 *
 *   - frame 0 is mode "P" when its colour table (local, else global) is
 *     not the grey ramp 0,1,2,..., else "L"; its canvas is filled with
 *     the transparent index (else 0) and takes the local palette, or the
 *     global one (so an "L" frame can still show the global colours);
 *   - a "P" image becomes "RGBA" at the next frame (its transparent index
 *     becoming alpha 0) or "RGB", and every later frame is drawn with its
 *     own palette onto that canvas, its transparent pixels leaving the
 *     canvas as it was;
 *   - an "L" image draws later frames into its canvas when they agree on
 *     having a palette or not (skipping their transparent index), else
 *     onto a new blank canvas (grey-ramp palette), and takes the mode of
 *     that frame ("P" or "L");
 *   - before each frame the previous frame's disposal is applied to its
 *     extent: 2 fills it with the transparent colour (alpha 0) or the
 *     background colour, 3 restores what was there before that frame.
 *     The disposal method persists while frames do not set one.
 *
 * A later frame reaching past the logical screen is clipped to the
 * canvas (Pillow pastes it onto a canvas that keeps its size) in the RGB
 * modes; in "L"/"P" Pillow starts a canvas of the grown size, which
 * LoadImage skips with every later frame.  Frames come out as RGB, or
 * RGBA when a frame LoadImage keeps has a mask of its own ("P" with
 * transparency, "RGBA"), the others then opaque; frames mixing both are
 * flagged (mixed_masks) for LoadImage, whose torch.cat fails on them.
 * Layouts Pillow fails on are refused with a sentence.  Reentrant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_decode.h"

typedef struct gif_in {
    const uint8_t *d;
    size_t len, pos;
} gif_in;

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
        /* Pillow decodes only whole sub-blocks */
        if (s->block_left > s->in->len - s->in->pos)
            return -2;
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


/* A disposal to apply before the next frame. */
enum { D_NONE, D_FILL_IDX, D_FILL_RGBA, D_CROP_IDX, D_CROP_RGBA };

typedef struct gif_state {
    int64_t W, H;
    int mode;               /* self.mode: 'P', 'L', '3' RGB, '4' RGBA */
    uint8_t *idx;           /* W*H indices (modes P, L)               */
    int has_cpal;           /* the index canvas has a palette ("P")   */
    uint8_t cpal[768];
    uint8_t *rgba;          /* W*H*4 (modes RGB, RGBA)                */
    int info_trans;         /* info["transparency"], or -1            */
    int disposal;           /* persistent disposal method             */
    int dtype;              /* D_*                                    */
    uint8_t dcolor[4];
    uint8_t *dcrop;         /* saved pixels for D_CROP_*              */
    int64_t dx0, dy0, dx1, dy1;    /* its extent, clipped when made    */
    int64_t SW, SH;         /* Pillow's self.size (grows with frames) */
    int64_t FW, FH;         /* the first frame's size                 */
    uint8_t *frames;        /* n frames of W*H*4                      */
    int64_t n;
    int any_alpha, any_plain;
    int key0;               /* frame 0 grey with a transparent index  */
} gif_state;

/* Applies the pending disposal onto the canvas (raw, as Pillow's
 * core paste does). */
static void apply_dispose(gif_state *g)
{
    if (g->dtype == D_NONE)
        return;
    int64_t ew = g->dx1 - g->dx0;
    for (int64_t y = g->dy0; y < g->dy1 && y < g->H; y++) {
        for (int64_t x = g->dx0; x < g->dx1 && x < g->W; x++) {
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

/* Pillow's conversion of a "P" image to RGBA (with transparency) or RGB
 * when the next frame is sought. */
static int convert_canvas(gif_state *g)
{
    g->rgba = malloc((size_t)(g->W * g->H * 4));
    if (!g->rgba)
        return COMFY_ENOMEM;
    for (int64_t i = 0; i < g->W * g->H; i++) {
        memcpy(g->rgba + i * 4, g->cpal + g->idx[i] * 3, 3);
        g->rgba[i * 4 + 3] = g->info_trans == g->idx[i] ? 0 : 255;
    }
    g->mode = g->info_trans >= 0 ? '4' : '3';
    g->info_trans = -1;
    free(g->idx);
    g->idx = NULL;
    return 0;
}

/* Appends what LoadImage makes of the current image: RGB, and alpha when
 * it has a mask of its own (else 255). */
static int emit_frame(gif_state *g, char *err, size_t cap)
{
    int64_t px = g->W * g->H;
    if (core_check_dims(g->n + 1, g->H, g->W, 4, err, cap) < 0)
        return COMFY_EINVAL;
    uint8_t *np = realloc(g->frames, (size_t)((g->n + 1) * px * 4));
    if (!np) {
        snprintf(err, cap, "out of memory decoding a GIF");
        return COMFY_ENOMEM;
    }
    g->frames = np;
    uint8_t *o = np + g->n * px * 4;
    /* exif_transpose's copy takes the mode of the canvas: a palette
     * canvas is "P" even when Pillow calls the image "L" */
    int alpha = g->mode == '4' || (g->idx && g->has_cpal &&
                                    g->info_trans >= 0);
    for (int64_t i = 0; i < px; i++) {
        if (g->mode == 'P' || g->mode == 'L') {
            unsigned v = g->idx[i];
            if (g->has_cpal)
                memcpy(o + i * 4, g->cpal + v * 3, 3);
            else
                o[i * 4] = o[i * 4 + 1] = o[i * 4 + 2] = (uint8_t)v;
            o[i * 4 + 3] = alpha && (int)v == g->info_trans ? 0 : 255;
        } else {
            memcpy(o + i * 4, g->rgba + i * 4, 4);
            if (!alpha)
                o[i * 4 + 3] = 255;
        }
    }
    g->any_alpha |= alpha;
    g->any_plain |= !alpha;
    g->n++;
    return 0;
}

/* One frame's header: what _seek reads up to the image data. */
typedef struct gif_frame {
    int trans;                  /* -1 for none                         */
    int64_t x0, y0, fw, fh;
    int interlace, min_bits;
    int local;                  /* a local colour table was present    */
    int has_fpal;               /* Pillow's _frame_palette is truthy   */
    size_t fpal_n;              /* its entries                         */
    uint8_t fpal[768];
} gif_frame;

/* Reads extensions up to the next image descriptor.  1 with *f filled,
 * 0 at the end of the sequence, -1 truncated or corrupt (err filled). */
static int read_frame_header(gif_in *in, gif_state *g, gif_frame *f,
                             char *err, size_t cap)
{
    const uint8_t *d = in->d;
    size_t len = in->len;
    f->trans = -1;
    for (;;) {
        if (in->pos >= len || d[in->pos] == ';')
            return 0;
        uint8_t tag = d[in->pos++];
        if (tag == '!') {
            if (in->pos >= len)
                goto truncated;
            uint8_t label = d[in->pos++];
            /* Pillow's data(): a sub-block as far as the file goes, None
             * at a 0 length or the file's end (the next read then ends
             * the sequence) */
            int first = 1, netscape = 0;
            for (;;) {
                if (in->pos >= len)
                    break;
                size_t bl = d[in->pos++];
                if (bl == 0)
                    break;
                size_t got = len - in->pos < bl ? len - in->pos : bl;
                const uint8_t *b = d + in->pos;
                if (first && label == 0xF9) {
                    /* flags, duration (i16), then the transparent index */
                    if (got < 3 || ((b[0] & 1) && got < 4)) {
                        snprintf(err, cap, "the GIF data is corrupt (short "
                                 "graphic control extension)");
                        return -1;
                    }
                    if (b[0] & 1)
                        f->trans = b[3];
                    if ((b[0] >> 2) & 7)
                        g->disposal = (b[0] >> 2) & 7;
                }
                if (first && label == 0xFF && g->n == 0 && !g->idx &&
                    got >= 11 && memcmp(b, "NETSCAPE2.0", 11) == 0)
                    netscape = 1;
                else
                    netscape = 0;
                first = 0;
                in->pos += got;
                if (netscape && (in->pos >= len || d[in->pos] == 0)) {
                    /* Pillow: len() of the missing loop block */
                    snprintf(err, cap, "the GIF data is corrupt (NETSCAPE2.0 "
                             "extension without its block)");
                    return -1;
                }
                netscape = 0;
                if (got < bl)
                    break;
            }
            if (label == 0xF9 && first) {
                snprintf(err, cap, "the GIF data is corrupt (empty graphic "
                         "control extension)");
                return -1;
            }
        } else if (tag == ',') {
            if (len - in->pos < 9)
                goto truncated;
            const uint8_t *s = d + in->pos;
            f->x0 = u16le(s);
            f->y0 = u16le(s + 2);
            f->fw = u16le(s + 4);
            f->fh = u16le(s + 6);
            f->interlace = (s[8] & 64) != 0;
            in->pos += 9;
            f->local = 0;
            f->has_fpal = 0;
            if (s[8] & 128) {
                size_t n = (size_t)1 << ((s[8] & 7) + 1);
                if (len - in->pos < n * 3)
                    goto truncated;
                f->local = 1;
                if (palette_needed(d + in->pos, n)) {
                    core_palette_fill(f->fpal, d + in->pos, n, 3, 0);
                    f->fpal_n = n;
                    f->has_fpal = 1;
                }
                in->pos += n * 3;
            }
            if (in->pos >= len)
                goto truncated;
            f->min_bits = d[in->pos++];
            if (f->min_bits < 1 || f->min_bits > 11) {
                snprintf(err, cap, "the GIF data is corrupt (LZW code size "
                         "%d)", f->min_bits);
                return -1;
            }
            return 1;
        }
        /* any other byte is skipped, as Pillow does */
    }
truncated:
    snprintf(err, cap, "the GIF data is truncated");
    return -1;
}

int core_decode_gif(const uint8_t *d, size_t len, core_image *img, char *err,
                    size_t cap)
{
    gif_state g;
    gif_frame f;
    gif_in in = { d, len, 13 };
    uint8_t gpal[768];
    size_t gpal_n = 0;
    uint8_t *tmp = NULL, *set = NULL;
    int has_gpal = 0, background = 0, rc = COMFY_EINVAL;
    memset(img, 0, sizeof(*img));
    memset(&g, 0, sizeof(g));
    g.info_trans = -1;
    g.key0 = -1;
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
            gpal_n = n;
            has_gpal = 1;
        }
        in.pos += n * 3;
    }
    for (int64_t k = 0;; k++) {
        int hr = read_frame_header(&in, &g, &f, err, cap);
        if (hr < 0)
            goto fail;
        if (hr == 0) {
            if (k == 0) {
                snprintf(err, cap, "the GIF file has no image");
                goto fail;
            }
            break; /* end of the sequence */
        }
        /* _frame_palette: the local table if needed, none if a local
         * table is the ramp, else the global table */
        if (!f.local && has_gpal) {
            memcpy(f.fpal, gpal, sizeof(f.fpal));
            f.fpal_n = gpal_n;
            f.has_fpal = 1;
        }
        if (!f.has_fpal) {
            core_palette_fill(f.fpal, NULL, 0, 3, 0);
            f.fpal_n = 256;
        }
        int64_t x0 = f.x0, y0 = f.y0, fw = f.fw, fh = f.fh;
        int64_t x1 = x0 + fw, y1 = y0 + fh;
        int trans = f.trans;
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
            g.SW = g.FW = g.W;
            g.SH = g.FH = g.H;
        } else if (x1 > g.SW || y1 > g.SH) {
            /* Pillow grows self.size; an "L"/"P" frame is then drawn on a
             * new canvas of that size, an RGB one clipped to the canvas */
            g.SW = x1 > g.SW ? x1 : g.SW;
            g.SH = y1 > g.SH ? y1 : g.SH;
            if (core_check_dims(1, g.SH, g.SW, 4, err, cap) < 0)
                goto fail;
        }
        int64_t cw = x0 >= g.W ? 0 : (x1 < g.W ? x1 : g.W) - x0;
        int64_t ch = y0 >= g.H ? 0 : (y1 < g.H ? y1 : g.H) - y0;
        const int64_t dcw = cw, dch = ch; /* the disposal's extent */
        /* the previous frame's disposal, then the "P" conversion */
        apply_dispose(&g);
        if (k >= 1 && g.mode == 'P') {
            if (convert_canvas(&g)) {
                rc = COMFY_ENOMEM;
                snprintf(err, cap, "out of memory decoding a GIF");
                goto fail;
            }
        }
        int rgbmode = g.mode == '3' || g.mode == '4';
        if (k >= 1 && rgbmode && !f.has_fpal && trans >= 0) {
            snprintf(err, cap, "unsupported GIF layout (a transparent "
                     "frame without a palette: image has no palette)");
            goto fail;
        }
        /* this frame's disposal, for the next frame */
        free(g.dcrop);
        g.dcrop = NULL;
        int dtype = D_NONE;
        if (g.disposal == 2) {
            int color = k >= 1 && g.info_trans >= 0 ? g.info_trans : trans;
            if (rgbmode) {
                int alpha = 0;
                if (color < 0) {
                    color = background;
                    alpha = 255;
                    if ((size_t)color >= f.fpal_n) {
                        snprintf(err, cap, "unsupported GIF layout (the "
                                 "background index is past the palette)");
                        goto fail;
                    }
                }
                dtype = D_FILL_RGBA;
                if ((size_t)color < f.fpal_n)
                    memcpy(g.dcolor, f.fpal + color * 3, 3);
                else
                    memset(g.dcolor, 0, 3); /* Pillow's (0,) fill */
                g.dcolor[3] = (uint8_t)alpha;
            } else {
                dtype = D_FILL_IDX;
                g.dcolor[0] = (uint8_t)(color < 0 ? background : color);
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
        int lz = lzw_decode(&in, f.min_bits, f.interlace, fw, fh, tmp, set);
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
            g.mode = f.has_fpal ? 'P' : 'L';
            /* self.palette: the needed local table, else the global one */
            g.has_cpal = f.has_fpal || has_gpal;
            memcpy(g.cpal, f.has_fpal ? f.fpal : gpal, sizeof(g.cpal));
            g.info_trans = trans;
            if (!g.has_cpal)
                g.key0 = trans; /* an L frame: its grey is the index */
        } else if (!rgbmode) {
            /* mode "L": draw in place when the frame agrees on having a
             * palette and the size is unchanged, else on a new blank
             * canvas (a new "P" one has the grey-ramp palette) */
            if (f.has_fpal != g.has_cpal || g.W != g.SW || g.H != g.SH) {
                uint8_t *nc = calloc((size_t)(g.SW * g.SH), 1);
                if (!nc) {
                    rc = COMFY_ENOMEM;
                    snprintf(err, cap, "out of memory decoding a GIF");
                    goto fail;
                }
                free(g.idx);
                g.idx = nc;
                g.W = g.SW;
                g.H = g.SH;
                g.has_cpal = f.has_fpal;
                core_palette_fill(g.cpal, NULL, 0, 3, 0);
            }
            cw = x0 >= g.W ? 0 : (x1 < g.W ? x1 : g.W) - x0;
            ch = y0 >= g.H ? 0 : (y1 < g.H ? y1 : g.H) - y0;
            g.mode = f.has_fpal ? 'P' : 'L';
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
                    memcpy(o, f.fpal + v * 3, 3);
                    o[3] = 255;
                }
        }
        g.dtype = dtype;
        g.dx0 = x0;
        g.dy0 = y0;
        g.dx1 = x0 + dcw;
        g.dy1 = y0 + dch;
        /* LoadImage skips frames of another size than the first */
        if (g.W == g.FW && g.H == g.FH &&
            (rc = emit_frame(&g, err, cap)) != 0)
            goto fail;
        rc = COMFY_EINVAL;
        if (in.pos >= len)
            break;
    }
    int c = g.any_alpha ? 4 : 3;
    int64_t px = g.FW * g.FH * g.n;
    if (c == 3) { /* pack in place */
        for (int64_t i = 0; i < px; i++)
            memmove(g.frames + i * 3, g.frames + i * 4, 3);
    }
    img->w = g.FW;
    img->h = g.FH;
    img->channels = c;
    img->frames = g.n;
    img->mixed_masks = g.any_alpha && g.any_plain &&
                       !(g.FW == 64 && g.FH == 64);
    img->has_key = g.key0 >= 0;
    img->key[0] = img->key[1] = img->key[2] = g.key0;
    img->pixels = g.frames;
    g.frames = NULL;
    snprintf(img->format, sizeof(img->format), "GIF");
    rc = 0;
    goto out;
fail:
    memset(img, 0, sizeof(*img));
out:
    free(tmp);
    free(set);
    free(g.idx);
    free(g.rgba);
    free(g.dcrop);
    free(g.frames);
    return rc;
}
