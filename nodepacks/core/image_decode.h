/*
 * image_decode.h — the decoders behind core_image_decode() (image_io.c)
 * for the formats that have a file of their own: BMP (image_bmp.c), GIF
 * (image_gif.c) and TIFF (image_tiff.c).  Private to core_pixels.
 *
 * Each decodes a whole file held in memory into `img` the way Pillow 9.4
 * presents it to ComfyUI's LoadImage: 8-bit interleaved, 1 (L), 3 (RGB)
 * or 4 (RGBA) channels, palettes already applied, every frame of the
 * sequence.  On success returns 0 and img owns its pixels (free with
 * core_image_free); on failure returns a negative COMFY_ status, leaves
 * img empty and writes a sentence into err[cap].  Reentrant.
 */
#ifndef CORE_IMAGE_DECODE_H
#define CORE_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

int core_decode_bmp(const uint8_t *data, size_t len, core_image *img,
                    char *err, size_t cap);
int core_decode_gif(const uint8_t *data, size_t len, core_image *img,
                    char *err, size_t cap);
int core_decode_tiff(const uint8_t *data, size_t len, core_image *img,
                     char *err, size_t cap);

/* Applies EXIF orientation 1..8 (PIL's exif_transpose) to every frame
 * of img.  0 or COMFY_ENOMEM (img unchanged). */
int core_image_orient(core_image *img, int orientation);

/* Pillow's 256-entry palette: `n` RGB triples from `rgb` (`stride` bytes
 * apart, in B,G,R order when bgr), the entries past n a grey ramp (i,i,i)
 * as Pillow leaves them.  out is 768 bytes. */
void core_palette_fill(uint8_t out[768], const uint8_t *rgb, size_t n,
                       size_t stride, int bgr);

#endif
