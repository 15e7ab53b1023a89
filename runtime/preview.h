/*
 * preview.h — the size a latent preview is sent at (spec
 * nodes-and-models.md §15.2).
 *
 * ComfyUI's server fits every preview image inside
 * --preview-size x --preview-size with Pillow's ImageOps.contain and
 * bilinear resampling before it JPEG-encodes it: a 64x64 latent2rgb
 * preview goes out as 512x512, a 1024x1024 TAESD one as 512x512, a 96x64
 * one as 512x341.  This module does the same with Pillow's 8-bit
 * fixed-point resampler (Resample.c: separable, horizontal pass first,
 * each pass rounded to 8 bits, the filter widened by the scale when
 * shrinking), so the pixels are Pillow's byte for byte.
 */
#ifndef CD_PREVIEW_H
#define CD_PREVIEW_H

/* ImageOps.contain's output size for a w x h image in a box of
 * max x max (max > 0): the aspect ratio kept, the longer side = max, the
 * other rounded half to even (Python's round). */
void cd_preview_fit(int w, int h, int max, int *ow, int *oh);

/* Resamples packed RGB (3 bytes a pixel, rows of w pixels) to ow x oh
 * with Pillow's BILINEAR filter.  Returns a malloc'd ow*oh*3 buffer the
 * caller frees, or NULL when memory runs out or a size is not positive. */
unsigned char *cd_preview_resize(const unsigned char *rgb, int w, int h, int ow, int oh);

#endif
