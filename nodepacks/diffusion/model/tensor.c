/* tensor.c — dtype tables and element conversions (see tensor.h). */
#include "tensor.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
    int is_float;
} dtypes[CD_DT_COUNT] = {
    [CD_DT_F64] = {"F64", 8, 1},      [CD_DT_F32] = {"F32", 4, 1},
    [CD_DT_F16] = {"F16", 2, 1},      [CD_DT_BF16] = {"BF16", 2, 1},
    [CD_DT_F8_E4M3] = {"F8_E4M3", 1, 1},
    [CD_DT_F8_E5M2] = {"F8_E5M2", 1, 1},
    [CD_DT_I64] = {"I64", 8, 0},      [CD_DT_I32] = {"I32", 4, 0},
    [CD_DT_I16] = {"I16", 2, 0},      [CD_DT_I8] = {"I8", 1, 0},
    [CD_DT_U8] = {"U8", 1, 0},        [CD_DT_BOOL] = {"BOOL", 1, 0},
    [CD_DT_U16] = {"U16", 2, 0},      [CD_DT_U32] = {"U32", 4, 0},
    [CD_DT_U64] = {"U64", 8, 0},
};

size_t cd_dtype_size(cd_dtype dt)
{
    return ((unsigned)dt < CD_DT_COUNT) ? dtypes[dt].size : 0;
}

const char *cd_dtype_name(cd_dtype dt)
{
    return ((unsigned)dt < CD_DT_COUNT) ? dtypes[dt].name : "?";
}

int cd_dtype_is_float(cd_dtype dt)
{
    return ((unsigned)dt < CD_DT_COUNT) ? dtypes[dt].is_float : 0;
}

int cd_dtype_parse(const char *s, cd_dtype *out)
{
    for (int i = 0; i < CD_DT_COUNT; i++) {
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (cd_dtype)i;
            return 0;
        }
    }
    return CD_MODEL_EUNSUPPORTED;
}

int64_t cd_tensor_numel(const cd_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float cd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31)
        return bits_to_f32(sign | 0x7f800000u | (man << 13));
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

float cd_bf16_to_f32(uint16_t b)
{
    return bits_to_f32((uint32_t)b << 16);
}

float cd_f8e5m2_to_f32(uint8_t v)
{
    return cd_f16_to_f32((uint16_t)(v << 8));
}

float cd_f8e4m3_to_f32(uint8_t v)
{
    int sign = v & 0x80;
    int exp = (v >> 3) & 0xf;
    int man = v & 7;
    float r;
    if (exp == 15 && man == 7)
        return NAN;
    if (exp == 0)
        r = (float)man * 0.001953125f; /* man/8 * 2^-6 */
    else
        r = ldexpf(1.0f + (float)man / 8.0f, exp - 7);
    return sign ? -r : r;
}

uint16_t cd_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520 -> inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) {
        /* result is subnormal (or zero): value / 2^-24 rounded to even */
        float a;
        memcpy(&a, &ax, 4);
        float m = a * 16777216.0f; /* exact scaling by 2^24 */
        uint32_t r = (uint32_t)nearbyintf(m);
        return (uint16_t)(sign | r);
    }
    uint32_t exp = (ax >> 23) - 112;
    uint32_t man = ax & 0x7fffff;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

uint16_t cd_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int cd_tensor_to_f32(const cd_tensor *t, float *dst, size_t n)
{
    int64_t numel = cd_tensor_numel(t);
    const unsigned char *p = t->data;
    if (numel < 0 || (uint64_t)numel != n || (n && (!t->data ||
        t->nbytes < (uint64_t)n * cd_dtype_size(t->dtype))))
        return CD_MODEL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case CD_DT_F64: { double v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; break; }
        case CD_DT_F32: memcpy(&dst[i], p + 4 * i, 4); break;
        case CD_DT_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = cd_f16_to_f32(v); break; }
        case CD_DT_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = cd_bf16_to_f32(v); break; }
        case CD_DT_F8_E4M3: dst[i] = cd_f8e4m3_to_f32(p[i]); break;
        case CD_DT_F8_E5M2: dst[i] = cd_f8e5m2_to_f32(p[i]); break;
        case CD_DT_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; break; }
        case CD_DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = (float)v; break; }
        case CD_DT_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = (float)v; break; }
        case CD_DT_I8: dst[i] = (float)(int8_t)p[i]; break;
        case CD_DT_U8: dst[i] = (float)p[i]; break;
        case CD_DT_BOOL: dst[i] = p[i] ? 1.0f : 0.0f; break;
        case CD_DT_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = (float)v; break; }
        case CD_DT_U32: { uint32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = (float)v; break; }
        case CD_DT_U64: { uint64_t v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; break; }
        default: return CD_MODEL_EINVAL;
        }
    }
    return 0;
}
