/*
 * tensor.h — element types, borrowed tensor views and error codes shared by
 * the checkpoint readers (safetensors.h, pickle_ckpt.h), the architecture
 * tables (arch.h) and the detector (detect.h).
 *
 * A cd_tensor is a view: its name and data point into memory owned by the
 * file object that produced it (an mmap'd safetensors file or an opened
 * .ckpt archive) and stay valid until that object is closed.  Data may be
 * unaligned; read it with the conversion helpers below or memcpy.
 *
 * Everything here is pure computation and thread-safe.
 */
#ifndef CD_MODEL_TENSOR_H
#define CD_MODEL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* Status codes returned (negated) by every function in this library. */
enum {
    CD_MODEL_OK = 0,
    CD_MODEL_EIO = -1,          /* open/stat/mmap/read failed            */
    CD_MODEL_EFORMAT = -2,      /* the file is malformed or lies         */
    CD_MODEL_ENOMEM = -3,       /* allocation failed                     */
    CD_MODEL_EUNSUPPORTED = -4, /* well-formed but outside what we read  */
    CD_MODEL_EINVAL = -5,       /* bad argument (programmer or user)     */
    CD_MODEL_ENOTFOUND = -6,    /* no such tensor / architecture         */
};

#define CD_MAX_DIMS 8

typedef enum cd_dtype {
    CD_DT_F64 = 0,
    CD_DT_F32,
    CD_DT_F16,
    CD_DT_BF16,
    CD_DT_F8_E4M3,   /* float8_e4m3fn: bias 7, no infinities, 0x7f/0xff NaN */
    CD_DT_F8_E5M2,   /* float8_e5m2: the top byte of an IEEE half           */
    CD_DT_I64,
    CD_DT_I32,
    CD_DT_I16,
    CD_DT_I8,
    CD_DT_U8,
    CD_DT_BOOL,
    CD_DT_U16,
    CD_DT_U32,
    CD_DT_U64,
    CD_DT_COUNT
} cd_dtype;

typedef struct cd_tensor {
    const char *name;            /* borrowed from the owning file           */
    cd_dtype dtype;
    int ndim;                    /* 0 (scalar) .. CD_MAX_DIMS               */
    int64_t shape[CD_MAX_DIMS];
    const void *data;            /* borrowed; possibly unaligned            */
    uint64_t nbytes;             /* == numel * cd_dtype_size(dtype)         */
} cd_tensor;

/* Bytes per element, or 0 for an out-of-range value. */
size_t cd_dtype_size(cd_dtype dt);

/* The safetensors spelling ("F16", "BF16", "F8_E4M3", ...). */
const char *cd_dtype_name(cd_dtype dt);

/* Parses a safetensors dtype string.  Returns 0 and sets *out, or
 * CD_MODEL_EUNSUPPORTED for an unknown name. */
int cd_dtype_parse(const char *s, cd_dtype *out);

/* 1 for F64/F32/F16/BF16/F8_*. */
int cd_dtype_is_float(cd_dtype dt);

/* Number of elements (1 for a scalar). */
int64_t cd_tensor_numel(const cd_tensor *t);

/* Converts every element of t to float32 into dst, which holds n floats.
 * Floats (fp8 included) are upcast exactly; integers and bool are converted
 * as C does.  Returns 0, or CD_MODEL_EINVAL when n != numel or the view has
 * no data for them. */
int cd_tensor_to_f32(const cd_tensor *t, float *dst, size_t n);

/* Scalar conversions (bit patterns in, value out and back).  The f32 ->
 * f16/bf16 direction rounds to nearest even like torch's .half()/.bfloat16()
 * and keeps NaN a NaN. */
float cd_f16_to_f32(uint16_t h);
float cd_bf16_to_f32(uint16_t b);
float cd_f8e4m3_to_f32(uint8_t v);
float cd_f8e5m2_to_f32(uint8_t v);
uint16_t cd_f32_to_f16(float f);
uint16_t cd_f32_to_bf16(float f);

#endif
