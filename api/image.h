/*
 * image.h — decoding and encoding the image files /view, /upload/mask and
 * WebSocket previews deal with (PNG via libpng, JPEG via libjpeg, WebP via
 * libwebp).  Pure functions on memory; thread-safe.  Dimensions are capped
 * at CD_IMG_MAX_SIDE per side so a hostile header cannot ask for gigabytes.
 */
#ifndef CD_API_IMAGE_H
#define CD_API_IMAGE_H

#include <stddef.h>

#define CD_IMG_MAX_SIDE 16384

typedef struct cd_text_chunk {
    char *key;                       /* owned */
    char *text;                      /* owned */
} cd_text_chunk;

typedef struct cd_image {
    int width, height;
    unsigned char *rgba;             /* owned, width*height*4              */
    int mode_rgba;                   /* the file decodes as RGBA (PIL mode) */
    int has_alpha;                   /* any transparency information        */
    cd_text_chunk *texts;            /* owned, PNG text chunks              */
    size_t n_texts;
} cd_image;

/* Decodes PNG, JPEG or WebP bytes into RGBA8.  0, or -1 when the data is
 * not a decodable image (or too large); *img is then empty. */
int cd_img_decode(const unsigned char *data, size_t len, cd_image *img);
void cd_img_free(cd_image *img);

/* Encoders.  `px` holds width*height*channels bytes (3 = RGB, 4 = RGBA).
 * On success *out is a new malloc'd buffer the caller frees. 0 or -1. */
int cd_img_encode_png(const unsigned char *px, int width, int height,
                      int channels, int level, const cd_text_chunk *texts,
                      size_t n_texts, unsigned char **out, size_t *out_len);
int cd_img_encode_jpeg(const unsigned char *px, int width, int height,
                       int channels, int quality, unsigned char **out,
                       size_t *out_len);
int cd_img_encode_webp(const unsigned char *px, int width, int height,
                       int channels, int quality, unsigned char **out,
                       size_t *out_len);

/* RGBA -> RGB copy (new buffer, caller frees), or NULL. */
unsigned char *cd_img_rgba_to_rgb(const unsigned char *rgba, int width, int height);

#endif
