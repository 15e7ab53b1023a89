/*
 * test_animated.c — SaveAnimatedWEBP and SaveAnimatedPNG through the
 * harness.  The written files are read back: WebP with libwebp's
 * WebPAnimDecoder / WebPDemux (frames, timestamps, lossless pixels, the
 * EXIF block against PIL's bytes in data/animated_exif.bin), APNG with a
 * chunk parser and zlib here (CRCs, sequence numbers, the chunk list
 * against what ComfyUI's own node wrote in data/apng_chunks.txt, and the
 * composited frames' pixels).  Bad input gives clear errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>
#include <zlib.h>

#include "check.h"
#include "core.h"
#include "harness.h"

static harness *H;
static const comfy_host *X;

static const char PROMPT[] = "{\"1\": {\"class_type\": \"X\", \"inputs\": "
                             "{\"a\": 1}}}";

static comfy_value *vint(int64_t v) { return X->value_int(X->ctx, v); }
static comfy_value *vfloat(double v) { return X->value_float(X->ctx, v); }
static comfy_value *vbool(int v) { return X->value_bool(X->ctx, v); }
static comfy_value *vstr(const char *s)
{
    return X->value_string(X->ctx, s, (size_t)-1);
}

/* stitch_goldens.py's test_image() for one frame [h, w, c] at `dst`. */
static void fill(float *dst, int64_t h, int64_t w, int64_t c, int salt)
{
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int64_t k = 0; k < c; k++)
                *dst++ = (float)((x * 7 + y * 13 + k * 29 + salt) % 17) /
                         16.0f;
}

static comfy_tensor *frames(int64_t b, int64_t h, int64_t w, int64_t c)
{
    int64_t s[4] = { b, h, w, c };
    comfy_tensor *t = X->tensor_new(X->ctx, COMFY_F32, 4, s);
    for (int64_t n = 0; n < b; n++)
        fill((float *)t->data + n * h * w * c, h, w, c, (int)n * 3);
    return t;
}

static uint8_t u8(float v)
{
    float f = 255.0f * v;
    return !(f > 0.0f) ? 0 : f > 255.0f ? 255 : (uint8_t)f;
}

static void set_meta(hn_call *c)
{
    comfy_value *extra = X->value_map(X->ctx);
    X->map_set(extra, "workflow", vstr("{\"nodes\": []}"));
    X->map_set(extra, "note", vstr("\"hi\""));
    hn_set(c, "prompt", vstr(PROMPT));
    hn_set(c, "extra_pnginfo", extra);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(len > 0 ? (size_t)len + 1 : 1);
    *n = d ? fread(d, 1, (size_t)(len > 0 ? len : 0), f) : 0;
    if (d)
        d[*n] = '\0';
    fclose(f);
    return d;
}

/* The file named by the UI ({"images": [{filename, subfolder: "", type:
 * "output"}], "animated": [true]}) as a path, or "" when the UI is off. */
static void ui_file_anim(hn_call *c, const char *want, char *path,
                         size_t cap, int want_anim)
{
    const comfy_value *ui = hn_ui(c);
    const comfy_value *imgs = ui ? X->map_get(ui, "images") : NULL;
    const comfy_value *e = imgs && X->list_len(imgs) == 1 ?
                           X->list_get(imgs, 0) : NULL;
    const comfy_value *anim = ui ? X->map_get(ui, "animated") : NULL;
    int on = 0;
    CHECK(anim && X->list_len(anim) == 1 &&
              X->value_get_bool(X->list_get(anim, 0), &on) == COMFY_OK &&
              on == want_anim, "ui animated [%d]", want_anim);
    const char *fn = e ? X->value_get_string(X->map_get(e, "filename")) : 0;
    const char *sub = e ? X->value_get_string(X->map_get(e, "subfolder")) : 0;
    const char *ty = e ? X->value_get_string(X->map_get(e, "type")) : 0;
    CHECK(fn && strcmp(fn, want) == 0 && sub && !*sub && ty &&
              strcmp(ty, "output") == 0, "ui file %s, want %s",
          fn ? fn : "(none)", want);
    snprintf(path, cap, "%s/%s", hn_dir(H, "output"), fn ? fn : "");
}

static void ui_file(hn_call *c, const char *want, char *path, size_t cap)
{
    ui_file_anim(c, want, path, cap, 1);
}

/* ------------------------------------------------------------- WebP */

/* 1 when the file at `path` has the bytes of data/<golden>: ComfyUI's
 * node on the same frames (Debian's Pillow uses the same libwebp). */
static int same_bytes(const char *path, const char *golden)
{
    char g[1024];
    size_t a = 0, b = 0;
    snprintf(g, sizeof(g), "%s/%s", CORE_TEST_DATA, golden);
    uint8_t *x = slurp(path, &a), *y = slurp(g, &b);
    int same = x && y && a == b && memcmp(x, y, a) == 0;
    if (!same)
        fprintf(stderr, "%s: %zu bytes, %s: %zu bytes\n", path, a, golden, b);
    free(x);
    free(y);
    return same;
}

static void test_webp(void)
{
    char path[2048];
    size_t gl = 0, n = 0;
    char gpath[1024];
    snprintf(gpath, sizeof(gpath), "%s/animated_exif.bin", CORE_TEST_DATA);
    uint8_t *golden = slurp(gpath, &gl);
    CHECK(golden && gl > 8, "EXIF golden");

    /* 3 lossless RGB frames at 4 fps: 250 ms each */
    comfy_tensor *t = frames(3, 4, 5, 3);
    hn_call *c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx, X->tensor_retain(t)));
    hn_set(c, "filename_prefix", vstr("anim"));
    hn_set(c, "fps", vfloat(4.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("default"));
    set_meta(c);
    CHECK(hn_run(c) == COMFY_OK, "webp: %s", hn_error(c));
    ui_file(c, "anim_00001_.webp", path, sizeof(path));
    hn_end(c);
    CHECK(same_bytes(path, "anim_rgb3.webp"), "3 frames: PIL's bytes");
    uint8_t *file = slurp(path, &n);
    CHECK(file && n > 12, "webp file %s", path);
    WebPData wd = { file, n };
    WebPAnimDecoderOptions o;
    WebPAnimDecoderOptionsInit(&o);
    o.color_mode = MODE_RGBA;
    WebPAnimDecoder *dec = file ? WebPAnimDecoderNew(&wd, &o) : NULL;
    WebPAnimInfo info;
    CHECK(dec && WebPAnimDecoderGetInfo(dec, &info) && info.frame_count == 3 &&
              info.canvas_width == 5 && info.canvas_height == 4 &&
              info.loop_count == 0, "webp animation info");
    int k = 0, bad = 0;
    uint8_t *rgba;
    int ts;
    while (dec && WebPAnimDecoderHasMoreFrames(dec) &&
           WebPAnimDecoderGetNext(dec, &rgba, &ts)) {
        CHECK(ts == 250 * (k + 1), "frame %d ends at %d ms", k, ts);
        const float *src = (const float *)t->data + k * 60;
        for (int i = 0; i < 20; i++)
            bad += rgba[i * 4] != u8(src[i * 3]) ||
                   rgba[i * 4 + 1] != u8(src[i * 3 + 1]) ||
                   rgba[i * 4 + 2] != u8(src[i * 3 + 2]) ||
                   rgba[i * 4 + 3] != 255;
        k++;
    }
    CHECK(k == 3 && bad == 0, "%d frames, %d pixels differ", k, bad);
    WebPAnimDecoderDelete(dec);
    WebPDemuxer *dmx = file ? WebPDemux(&wd) : NULL;
    WebPChunkIterator it;
    if (dmx && WebPDemuxGetChunk(dmx, "EXIF", 1, &it)) {
        CHECK(it.chunk.size == gl + 6 &&
                  memcmp(it.chunk.bytes, "Exif\0\0", 6) == 0 &&
                  memcmp(it.chunk.bytes + 6, golden, gl) == 0,
              "EXIF block is PIL's (%zu bytes, want %zu)", it.chunk.size,
              gl + 6);
        WebPDemuxReleaseChunkIterator(&it);
    } else {
        CHECK(0, "no EXIF chunk");
    }
    WebPDemuxDelete(dmx);
    free(file);
    X->tensor_release(t);

    /* one RGBA frame: a still image, bare TIFF EXIF; the counter moves */
    t = frames(1, 3, 2, 4);
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx, X->tensor_retain(t)));
    hn_set(c, "filename_prefix", vstr("anim"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("fastest"));
    set_meta(c);
    CHECK(hn_run(c) == COMFY_OK, "webp still: %s", hn_error(c));
    ui_file_anim(c, "anim_00002_.webp", path, sizeof(path), 0);
    hn_end(c);
    CHECK(same_bytes(path, "anim_rgba1.webp"), "1 frame: PIL's bytes");
    file = slurp(path, &n);
    int w = 0, h = 0;
    rgba = file ? WebPDecodeRGBA(file, n, &w, &h) : NULL;
    CHECK(rgba && w == 2 && h == 3, "still decodes");
    bad = 0;
    for (int i = 0; rgba && i < 24; i++) {
        /* fully transparent pixels may lose their colour */
        if (rgba[(i / 4) * 4 + 3] != 0 || i % 4 == 3)
            bad += rgba[i] != u8(((const float *)t->data)[i]);
    }
    CHECK(bad == 0, "still RGBA: %d values differ", bad);
    WebPFree(rgba);
    wd.bytes = file;
    wd.size = n;
    dmx = file ? WebPDemux(&wd) : NULL;
    uint32_t flags = dmx ? WebPDemuxGetI(dmx, WEBP_FF_FORMAT_FLAGS) : 0;
    CHECK(dmx && !(flags & ANIMATION_FLAG) && (flags & EXIF_FLAG),
          "still image with EXIF (flags %x)", flags);
    if (dmx && WebPDemuxGetChunk(dmx, "EXIF", 1, &it)) {
        CHECK(it.chunk.size == gl && memcmp(it.chunk.bytes, golden, gl) == 0,
              "still EXIF has no prefix");
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(dmx);
    free(file);
    X->tensor_release(t);

    /* lossy, metadata off: frames and size right, EXIF header only */
    int can_off = hn_disable_metadata(H, 1);
    t = frames(2, 16, 16, 3);
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx, t));
    hn_set(c, "filename_prefix", vstr("sub/lossy"));
    hn_set(c, "fps", vfloat(1000.0));
    hn_set(c, "lossless", vbool(0));
    hn_set(c, "quality", vint(50));
    hn_set(c, "method", vstr("slowest"));
    set_meta(c);
    CHECK(hn_run(c) == COMFY_OK, "lossy: %s", hn_error(c));
    const comfy_value *ui = hn_ui(c);
    const comfy_value *e = ui ? X->list_get(X->map_get(ui, "images"), 0)
                              : NULL;
    const char *sub = e ? X->value_get_string(X->map_get(e, "subfolder"))
                        : NULL;
    CHECK(sub && strcmp(sub, "sub") == 0, "subfolder");
    snprintf(path, sizeof(path), "%s/sub/lossy_00001_.webp",
             hn_dir(H, "output"));
    hn_end(c);
    hn_disable_metadata(H, 0);
    CHECK(!can_off || same_bytes(path, "anim_lossy2.webp"),
          "lossy: PIL's bytes");
    file = slurp(path, &n);
    wd.bytes = file;
    wd.size = n;
    dec = file ? WebPAnimDecoderNew(&wd, &o) : NULL;
    CHECK(dec && WebPAnimDecoderGetInfo(dec, &info) && info.frame_count == 2 &&
              info.canvas_width == 16, "lossy animation");
    while (dec && WebPAnimDecoderHasMoreFrames(dec) &&
           WebPAnimDecoderGetNext(dec, &rgba, &ts))
        CHECK(ts >= 1 && ts <= 2, "1 ms frames (%d)", ts);
    WebPAnimDecoderDelete(dec);
    dmx = file ? WebPDemux(&wd) : NULL;
    if (can_off && dmx && WebPDemuxGetChunk(dmx, "EXIF", 1, &it)) {
        CHECK(it.chunk.size == 20, "empty EXIF (%zu bytes)", it.chunk.size);
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(dmx);
    free(file);
    free(golden);

    /* bad input */
    int64_t s0[4] = { 0, 4, 4, 3 };
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx,
                                        X->tensor_new(X->ctx, COMFY_F32, 4,
                                                      s0)));
    hn_set(c, "filename_prefix", vstr("anim"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("default"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "empty"),
          "0 frames: %s", hn_error(c));
    hn_end(c);
    int64_t s3[3] = { 4, 4, 3 };
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx,
                                        X->tensor_new(X->ctx, COMFY_F32, 3,
                                                      s3)));
    hn_set(c, "filename_prefix", vstr("anim"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("default"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "IMAGE"),
          "3-D tensor: %s", hn_error(c));
    hn_end(c);
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(2, 4, 4, 2)));
    hn_set(c, "filename_prefix", vstr("anim"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("medium"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "method"),
          "bad method: %s", hn_error(c));
    hn_end(c);
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(2, 4, 4, 1)));
    hn_set(c, "filename_prefix", vstr("anim"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("default"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "channels"),
          "1 channel: %s", hn_error(c));
    hn_end(c);
    /* 2 channels: PIL's LA, written as RGBA */
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(2, 5, 4, 2)));
    hn_set(c, "filename_prefix", vstr("la"));
    hn_set(c, "fps", vfloat(5.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("default"));
    set_meta(c);
    CHECK(hn_run(c) == COMFY_OK, "LA webp: %s", hn_error(c));
    ui_file(c, "la_00001_.webp", path, sizeof(path));
    CHECK(same_bytes(path, "anim_la2.webp"), "LA: PIL's bytes");
    hn_end(c);
    c = hn_begin(H, "SaveAnimatedWEBP");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(2, 4, 4, 3)));
    hn_set(c, "filename_prefix", vstr("../outside"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "lossless", vbool(1));
    hn_set(c, "quality", vint(80));
    hn_set(c, "method", vstr("default"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "leaves"),
          "prefix outside: %s", hn_error(c));
    hn_end(c);
}

/* ------------------------------------------------------------- APNG */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Inflates and unfilters a w×h×c frame into out; 0 on success. */
static int unpack(const uint8_t *z, size_t zn, int w, int h, int c,
                  uint8_t *out)
{
    size_t row = (size_t)w * (size_t)c, raw_n = (row + 1) * (size_t)h;
    uint8_t *raw = malloc(raw_n + 1);
    uLongf got = (uLongf)raw_n + 1;
    int bad = !raw || uncompress(raw, &got, z, (uLong)zn) != Z_OK ||
              got != raw_n;
    for (int y = 0; !bad && y < h; y++) {
        const uint8_t *in = raw + (size_t)y * (row + 1);
        uint8_t *cur = out + (size_t)y * row;
        const uint8_t *up = y ? cur - row : NULL;
        for (size_t i = 0; i < row; i++) {
            int a = i >= (size_t)c ? cur[i - (size_t)c] : 0;
            int b = up ? up[i] : 0;
            int cc = up && i >= (size_t)c ? up[i - (size_t)c] : 0;
            int pred = 0;
            switch (in[0]) {
            case 0: break;
            case 1: pred = a; break;
            case 2: pred = b; break;
            case 3: pred = (a + b) / 2; break;
            case 4: {
                int p = a + b - cc, pa = abs(p - a), pb = abs(p - b),
                    pc = abs(p - cc);
                pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : cc;
                break;
            }
            default: bad = 1; break;
            }
            cur[i] = (uint8_t)(in[i + 1] + pred);
        }
    }
    free(raw);
    return bad;
}

/* 1 when the SHA-256 of the file at `path` is the one apng_sha256.txt
 * gives for `name` (a file ComfyUI's node wrote from the same frames). */
static int same_sha(const char *path, const char *name)
{
    char g[1024], line[256], key[64], hex[65], want[65] = "";
    snprintf(g, sizeof(g), "%s/apng_sha256.txt", CORE_TEST_DATA);
    FILE *f = fopen(g, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%63s %64s", key, hex) == 2 && !strcmp(key, name))
            memcpy(want, hex, sizeof(want));
    if (f)
        fclose(f);
    size_t n = 0;
    uint8_t *d = slurp(path, &n), dg[32];
    if (!d)
        return 0;
    core_sha256(d, n, dg);
    free(d);
    char got[65];
    for (int i = 0; i < 32; i++)
        snprintf(got + 2 * i, 3, "%02x", dg[i]);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "%s: sha256 %s, want %s\n", name, got, want);
    return strcmp(got, want) == 0;
}

static void test_apng(void)
{
    /* the frames of stitch_goldens.py's SaveAnimatedPNG case */
    int64_t s[4] = { 4, 5, 6, 4 };
    comfy_tensor *t = X->tensor_new(X->ctx, COMFY_F32, 4, s);
    float *f = t->data, tmp[120];
    const size_t fr = 120;
    fill(f, 5, 6, 4, 0);
    fill(f + fr, 5, 6, 4, 3);
    memcpy(f + 2 * fr, f + fr, sizeof(float) * fr);
    for (int i = 0; i < 30; i++)
        f[2 * fr + (size_t)i * 4 + 3] = 1.0f;
    memcpy(f + 3 * fr, f + 2 * fr, sizeof(float) * fr);
    fill(tmp, 5, 6, 4, 7);
    for (int y = 1; y < 3; y++)
        for (int x = 2; x < 5; x++)
            memcpy(f + 3 * fr + (size_t)(y * 6 + x) * 4, tmp + (y * 6 + x) * 4,
                   sizeof(float) * 3);
    hn_call *c = hn_begin(H, "SaveAnimatedPNG");
    hn_set(c, "images", X->value_tensor(X->ctx, X->tensor_retain(t)));
    hn_set(c, "filename_prefix", vstr("apng"));
    hn_set(c, "fps", vfloat(8.0));
    hn_set(c, "compress_level", vint(9));
    set_meta(c);
    CHECK(hn_run(c) == COMFY_OK, "apng: %s", hn_error(c));
    char path[2048];
    ui_file(c, "apng_00001_.png", path, sizeof(path));
    hn_end(c);

    CHECK(same_sha(path, "apng_rgba4"), "4 RGBA frames: PIL's bytes");
    size_t n = 0, gn = 0;
    uint8_t *d = slurp(path, &n);
    char gpath[1024];
    snprintf(gpath, sizeof(gpath), "%s/apng_chunks.txt", CORE_TEST_DATA);
    char *golden = (char *)slurp(gpath, &gn);
    CHECK(d && n > 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0, "signature");
    CHECK(golden != NULL, "chunk golden");
    /* the golden's first line is ComfyUI's UI; then one chunk a line */
    char *line = golden ? strchr(golden, '\n') : NULL;
    line = line ? line + 1 : NULL;
    uint8_t canvas[120], frame[120];
    int frames_seen = 0, bad_px = 0;
    uint32_t expect_seq = 0;
    uint32_t fw = 0, fh = 0, fx = 0, fy = 0;
    uint8_t *z = NULL;
    size_t zn = 0;
    size_t pos = 8;
    char last[5] = "";
    while (d && pos + 12 <= n) {
        uint32_t len = rd32(d + pos);
        if (len > n - pos - 12) {
            CHECK(0, "chunk past the end");
            break;
        }
        char type[5];
        memcpy(type, d + pos + 4, 4);
        type[4] = '\0';
        const uint8_t *body = d + pos + 8;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), d + pos + 4, len + 4);
        CHECK(crc == rd32(body + len), "%s CRC", type);
        /* the folded chunk list against ComfyUI's */
        int fold = (strcmp(type, "IDAT") == 0 || strcmp(type, "fdAT") == 0) &&
                   strcmp(type, last) == 0;
        if (!fold && line) {
            char *end = strchr(line, '\n');
            char want[512], got[512];
            size_t wl = end ? (size_t)(end - line) : strlen(line);
            snprintf(want, sizeof(want), "%.*s", (int)wl, line);
            int o = snprintf(got, sizeof(got), "%s", type);
            size_t shown = strcmp(type, "IDAT") == 0 ? 0
                           : strcmp(type, "fdAT") == 0 ? 4 : len;
            if (strcmp(type, "IDAT") != 0)
                o += snprintf(got + o, sizeof(got) - (size_t)o, " ");
            for (size_t i = 0; i < shown && o < (int)sizeof(got) - 3; i++)
                o += snprintf(got + o, sizeof(got) - (size_t)o, "%02x",
                              body[i]);
            CHECK(strcmp(want, got) == 0, "chunk %s\n  got  %s\n  want %s",
                  type, got, want);
            line = end ? end + 1 : NULL;
        }
        snprintf(last, sizeof(last), "%s", type);
        /* frame data: sequence numbers, then composite when complete */
        if (strcmp(type, "fcTL") == 0 || strcmp(type, "fdAT") == 0) {
            CHECK(rd32(body) == expect_seq, "%s sequence %u, want %u", type,
                  rd32(body), expect_seq);
            expect_seq++;
        }
        int is_data = strcmp(type, "IDAT") == 0 || strcmp(type, "fdAT") == 0;
        if (is_data) {
            size_t skip = type[0] == 'f' ? 4 : 0;
            uint8_t *nz = realloc(z, zn + len - skip + 1);
            if (nz) {
                z = nz;
                memcpy(z + zn, body + skip, len - skip);
                zn += len - skip;
            }
        }
        /* a frame ends at the next fcTL, a comf chunk or IEND */
        if (zn && !is_data) {
            CHECK(unpack(z, zn, (int)fw, (int)fh, 4, frame) == 0,
                  "frame %d inflates", frames_seen);
            for (uint32_t y = 0; y < fh; y++)
                memcpy(canvas + ((fy + y) * 6 + fx) * 4, frame + y * fw * 4,
                       fw * 4);
            /* kept frames are 0, 1 and 3; frame 2 only changed alpha, so
             * outside frame 3's box the alpha is still frame 1's (as PIL
             * writes it) */
            int src = frames_seen == 2 ? 3 : frames_seen;
            for (int i = 0; i < 120; i++) {
                uint32_t px = (uint32_t)i / 4, x = px % 6, y = px / 6;
                int in_box = x >= fx && x < fx + fw && y >= fy && y < fy + fh;
                int from = i % 4 == 3 && !in_box && src == 3 ? 1 : src;
                bad_px += canvas[i] != u8(f[(size_t)from * fr + (size_t)i]);
            }
            frames_seen++;
            zn = 0;
        }
        if (strcmp(type, "fcTL") == 0) {
            fw = rd32(body + 4);
            fh = rd32(body + 8);
            fx = rd32(body + 12);
            fy = rd32(body + 16);
            CHECK(fx + fw <= 6 && fy + fh <= 5, "frame box inside");
            if (fx + fw > 6 || fy + fh > 5)
                break;
        }
        pos += 12 + len;
        if (strcmp(type, "IEND") == 0)
            break;
    }
    CHECK(pos == n, "IEND ends the file");
    CHECK(line && *line == '\0', "all golden chunks seen");
    CHECK(frames_seen == 3 && bad_px == 0, "%d frames, %d values differ",
          frames_seen, bad_px);
    free(z);
    free(d);
    free(golden);
    X->tensor_release(t);

    /* an RGB animation at level 0 decodes too; fps 0.01 is too slow */
    c = hn_begin(H, "SaveAnimatedPNG");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(3, 7, 9, 3)));
    hn_set(c, "filename_prefix", vstr("apng"));
    hn_set(c, "fps", vfloat(0.01));
    hn_set(c, "compress_level", vint(0));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "65535"),
          "fps 0.01: %s", hn_error(c));
    hn_end(c);
    c = hn_begin(H, "SaveAnimatedPNG");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(3, 7, 9, 3)));
    hn_set(c, "filename_prefix", vstr("apng"));
    hn_set(c, "fps", vfloat(0.5));
    hn_set(c, "compress_level", vint(0));
    CHECK(hn_run(c) == COMFY_OK, "rgb apng: %s", hn_error(c));
    ui_file(c, "apng_00002_.png", path, sizeof(path));
    hn_end(c);
    d = slurp(path, &n);
    /* IHDR colour type 2, acTL 3 frames, first fcTL 2000 ms, no comf */
    CHECK(d && n > 60 && d[25] == 2 && rd32(d + 41) == 3 &&
              d[81] == 0x07 && d[82] == 0xd0 && !memmem(d, n, "comf", 4),
          "RGB APNG header");
    free(d);
    /* over 64 KiB a frame: several IDAT and fdAT chunks, as PIL splits */
    static const struct {
        const char *name;
        int64_t b, h, w;
        double fps;
        int level;
    } big[] = { { "apng_rgb_big", 3, 120, 200, 0.5, 0 },
                { "apng_rgb_l4", 2, 33, 47, 24.0, 4 } };
    for (int i = 0; i < 3; i++) {
        if (i == 2) { /* LA: colour type 4 */
            c = hn_begin(H, "SaveAnimatedPNG");
            hn_set(c, "images", X->value_tensor(X->ctx, frames(3, 6, 5, 2)));
            hn_set(c, "filename_prefix", vstr("apngla"));
            hn_set(c, "fps", vfloat(10.0));
            hn_set(c, "compress_level", vint(4));
            CHECK(hn_run(c) == COMFY_OK, "LA apng: %s", hn_error(c));
            ui_file(c, "apngla_00001_.png", path, sizeof(path));
            hn_end(c);
            CHECK(same_sha(path, "apng_la"), "LA APNG: PIL's bytes");
            break;
        }
        c = hn_begin(H, "SaveAnimatedPNG");
        hn_set(c, "images", X->value_tensor(X->ctx, frames(big[i].b, big[i].h,
                                                           big[i].w, 3)));
        hn_set(c, "filename_prefix", vstr("apngbig"));
        hn_set(c, "fps", vfloat(big[i].fps));
        hn_set(c, "compress_level", vint(big[i].level));
        CHECK(hn_run(c) == COMFY_OK, "%s: %s", big[i].name, hn_error(c));
        char want[64];
        snprintf(want, sizeof(want), "apngbig_%05d_.png", i + 1);
        ui_file(c, want, path, sizeof(path));
        hn_end(c);
        CHECK(same_sha(path, big[i].name), "%s: PIL's bytes", big[i].name);
    }
    c = hn_begin(H, "SaveAnimatedPNG");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(1, 2, 2, 1)));
    hn_set(c, "filename_prefix", vstr("apng"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "compress_level", vint(4));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "channels"),
          "1 channel: %s", hn_error(c));
    hn_end(c);
    c = hn_begin(H, "SaveAnimatedPNG");
    hn_set(c, "images", X->value_tensor(X->ctx, frames(1, 2, 2, 3)));
    hn_set(c, "filename_prefix", vstr("apng"));
    hn_set(c, "fps", vfloat(6.0));
    hn_set(c, "compress_level", vint(4));
    hn_set(c, "prompt", vstr("{\"k\": \"\xe2\x82\xac\"}"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "latin-1"),
          "non-latin-1 metadata: %s", hn_error(c));
    hn_end(c);
}

/* An interrupt stops either saver before it writes. */
static void test_interrupt(void)
{
    static const char *const cls[] = { "SaveAnimatedWEBP", "SaveAnimatedPNG" };
    for (int i = 0; i < 2; i++) {
        hn_call *c = hn_begin(H, cls[i]);
        hn_set(c, "images", X->value_tensor(X->ctx, frames(2, 4, 4, 3)));
        hn_set(c, "filename_prefix", vstr("stopped"));
        hn_set(c, "fps", vfloat(6.0));
        hn_set(c, "lossless", vbool(1));
        hn_set(c, "quality", vint(80));
        hn_set(c, "method", vstr("default"));
        hn_set(c, "compress_level", vint(4));
        hn_interrupt(H, 1);
        CHECK(hn_run(c) == COMFY_EINTERRUPTED, "%s interrupted", cls[i]);
        hn_interrupt(H, 0);
        CHECK(!hn_ui(c), "%s: no UI after an interrupt", cls[i]);
        hn_end(c);
    }
    char path[2048];
    snprintf(path, sizeof(path), "%s/stopped_00001_.webp", hn_dir(H, "output"));
    FILE *f = fopen(path, "rb");
    CHECK(!f, "no file after an interrupt");
    if (f)
        fclose(f);
}

int main(void)
{
    H = hn_new(CORE_PACK_SO);
    if (!H)
        return 1;
    X = hn_host(H);
    test_webp();
    test_apng();
    test_interrupt();
    hn_free(H);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
