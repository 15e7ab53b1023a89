/*
 * eltwise.c — activations, GEGLU, broadcast binary ops, concat and the
 * timestep embedding.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

#define CHUNK 16384 /* elements per pool task */

CK_CLONES
static void act_range(int act, const float *x, float *y, int64_t n)
{
    switch (act) {
    case CK_ACT_SILU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + ck_expf(-x[i]));
        break;
    case CK_ACT_GELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * x[i] * (1.0f + ck_erff(x[i] * 0.70710678118654752f));
        break;
    case CK_ACT_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
            y[i] = 0.5f * v * (1.0f + ck_tanhf(u));
        }
        break;
    default: /* CK_ACT_QUICK_GELU */
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + ck_expf(-1.702f * x[i]));
        break;
    }
}

struct act_job {
    int act;
    const float *x;
    float *y;
    int64_t n;
    float a, b;
};

static void act_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct act_job *j = arg;
    int64_t b = t * CHUNK, len = CK_MIN(CHUNK, j->n - b);
    act_range(j->act, j->x + b, j->y + b, len);
}

int ck_activation(ck_pool *p, int act, const float *x, float *y, int64_t n)
{
    if (!x || !y || n < 0 || act < CK_ACT_SILU || act > CK_ACT_QUICK_GELU)
        return COMFY_EINVAL;
    struct act_job j = { act, x, y, n, 0, 0 };
    ck_pool_run(p, (n + CHUNK - 1) / CHUNK, act_task, &j);
    return 0;
}

CK_CLONES
static void axpb_range(const float *x, float *y, int64_t n, float a, float b)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * a + b;
}

static void axpb_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct act_job *j = arg;
    int64_t b = t * CHUNK, len = CK_MIN(CHUNK, j->n - b);
    axpb_range(j->x + b, j->y + b, len, j->a, j->b);
}

void ck_axpb(ck_pool *p, const float *x, float *y, int64_t n, float a, float b)
{
    if (!x || !y || n <= 0)
        return;
    struct act_job j = { 0, x, y, n, a, b };
    ck_pool_run(p, (n + CHUNK - 1) / CHUNK, axpb_task, &j);
}

/* ---- GEGLU -------------------------------------------------------------- */

CK_CLONES
static void geglu_row(const float *x, float *y, int64_t cols)
{
    const float *g = x + cols;
    for (int64_t i = 0; i < cols; i++)
        y[i] = x[i] * (0.5f * g[i] * (1.0f + ck_erff(g[i] * 0.70710678118654752f)));
}

struct geglu_job {
    const float *x;
    float *y;
    int64_t rows, cols, per;
};

static void geglu_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct geglu_job *j = arg;
    int64_t r1 = CK_MIN(j->rows, (t + 1) * j->per);
    for (int64_t r = t * j->per; r < r1; r++)
        geglu_row(j->x + r * 2 * j->cols, j->y + r * j->cols, j->cols);
}

int ck_geglu(ck_pool *p, const float *x, float *y, int64_t rows, int64_t cols)
{
    if (!x || !y || rows < 0 || cols <= 0)
        return COMFY_EINVAL;
    if (rows == 0)
        return 0;
    struct geglu_job j = { x, y, rows, cols, CK_MAX(1, CHUNK / cols) };
    ck_pool_run(p, (rows + j.per - 1) / j.per, geglu_task, &j);
    return 0;
}

/* ---- broadcast binary ops ----------------------------------------------- */

int ck_broadcast_shape(const int64_t *a_shape, int a_ndim,
                       const int64_t *b_shape, int b_ndim,
                       int64_t y_shape[COMFY_MAX_DIMS])
{
    if (a_ndim < 0 || b_ndim < 0 || a_ndim > COMFY_MAX_DIMS ||
        b_ndim > COMFY_MAX_DIMS)
        return COMFY_EINVAL;
    int nd = CK_MAX(a_ndim, b_ndim);
    for (int i = 0; i < nd; i++) {
        int ai = a_ndim - nd + i, bi = b_ndim - nd + i;
        int64_t da = ai >= 0 ? a_shape[ai] : 1, db = bi >= 0 ? b_shape[bi] : 1;
        if (da < 0 || db < 0 || (da != db && da != 1 && db != 1))
            return COMFY_EINVAL;
        y_shape[i] = da == 1 ? db : da;
    }
    return nd;
}

struct bin_job {
    int op;
    const float *a, *b;
    float *y;
    int nd;                          /* coalesced dims                      */
    int64_t shape[COMFY_MAX_DIMS];
    int64_t sa[COMFY_MAX_DIMS], sb[COMFY_MAX_DIMS]; /* strides, 0 = broadcast */
    int64_t inner, outer, per;
};

CK_CLONES
static void bin_inner(int op, const float *a, int64_t sa, const float *b,
                      int64_t sb, float *y, int64_t n)
{
    /* the common cases are contiguous or broadcast scalars: specialise */
#define BIN_LOOP(EXPR)                                                     \
    if (sa == 1 && sb == 1) {                                              \
        for (int64_t i = 0; i < n; i++) { float u = a[i], v = b[i]; y[i] = EXPR; } \
    } else if (sa == 1) {                                                  \
        float v = b[0];                                                    \
        for (int64_t i = 0; i < n; i++) { float u = a[i]; y[i] = EXPR; }   \
    } else if (sb == 1) {                                                  \
        float u = a[0];                                                    \
        for (int64_t i = 0; i < n; i++) { float v = b[i]; y[i] = EXPR; }   \
    } else {                                                               \
        float u = a[0], v = b[0];                                          \
        for (int64_t i = 0; i < n; i++) y[i] = EXPR;                       \
    }
    switch (op) {
    case CK_BIN_ADD: BIN_LOOP(u + v) break;
    case CK_BIN_SUB: BIN_LOOP(u - v) break;
    case CK_BIN_MUL: BIN_LOOP(u * v) break;
    default: BIN_LOOP(u / v) break;
    }
#undef BIN_LOOP
}

static void bin_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct bin_job *j = arg;
    int64_t o1 = CK_MIN(j->outer, (t + 1) * j->per);
    for (int64_t o = t * j->per; o < o1; o++) {
        /* offsets of outer index o over dims 0..nd-2 */
        int64_t rem = o, offa = 0, offb = 0;
        for (int d = j->nd - 2; d >= 0; d--) {
            int64_t idx = rem % j->shape[d];
            rem /= j->shape[d];
            offa += idx * j->sa[d];
            offb += idx * j->sb[d];
        }
        bin_inner(j->op, j->a + offa, j->sa[j->nd - 1], j->b + offb,
                  j->sb[j->nd - 1], j->y + o * j->inner, j->inner);
    }
}

int ck_binary(ck_pool *p, int op, const float *a, const int64_t *a_shape,
              int a_ndim, const float *b, const int64_t *b_shape, int b_ndim,
              float *y)
{
    int64_t ys[COMFY_MAX_DIMS];
    if (!a || !b || !y || op < CK_BIN_ADD || op > CK_BIN_DIV)
        return COMFY_EINVAL;
    int nd = ck_broadcast_shape(a_shape, a_ndim, b_shape, b_ndim, ys);
    if (nd < 0)
        return nd;
    int64_t total = 1;
    for (int i = 0; i < nd; i++)
        total *= ys[i];
    if (total == 0)
        return 0;
    /* contiguous strides of a and b aligned to y, 0 where broadcast */
    int64_t sa[COMFY_MAX_DIMS], sb[COMFY_MAX_DIMS];
    int64_t ma = 1, mb = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int ai = a_ndim - nd + i, bi = b_ndim - nd + i;
        int64_t da = ai >= 0 ? a_shape[ai] : 1, db = bi >= 0 ? b_shape[bi] : 1;
        sa[i] = da == 1 ? 0 : ma;
        sb[i] = db == 1 ? 0 : mb;
        ma *= da;
        mb *= db;
    }
    /* coalesce: drop size-1 dims, merge neighbours that stay linear */
    struct bin_job j = { 0 };
    j.op = op; j.a = a; j.b = b; j.y = y;
    for (int i = 0; i < nd; i++) {
        if (ys[i] == 1)
            continue;
        if (j.nd > 0) {
            int k = j.nd - 1;
            if (j.sa[k] == sa[i] * ys[i] && j.sb[k] == sb[i] * ys[i]) {
                j.shape[k] *= ys[i];
                j.sa[k] = sa[i];
                j.sb[k] = sb[i];
                continue;
            }
        }
        j.shape[j.nd] = ys[i];
        j.sa[j.nd] = sa[i];
        j.sb[j.nd] = sb[i];
        j.nd++;
    }
    if (j.nd == 0) {
        j.nd = 1;
        j.shape[0] = 1;
        j.sa[0] = j.sb[0] = 0;
    }
    j.inner = j.shape[j.nd - 1];
    j.outer = total / j.inner;
    j.per = CK_MAX(1, CHUNK / j.inner);
    ck_pool_run(p, (j.outer + j.per - 1) / j.per, bin_task, &j);
    return 0;
}

/* ---- concat ------------------------------------------------------------- */

struct cat_job {
    int n_in;
    const void *const *in;
    const int64_t *const *shapes;
    int axis, ndim;
    size_t elem, out_row;        /* bytes of one output row at the axis   */
    int64_t outer;
    size_t *in_row;              /* bytes of one row of each input        */
    char *y;
};

static void cat_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct cat_job *j = arg;
    char *dst = j->y + (size_t)t * j->out_row;
    for (int i = 0; i < j->n_in; i++) {
        memcpy(dst, (const char *)j->in[i] + (size_t)t * j->in_row[i], j->in_row[i]);
        dst += j->in_row[i];
    }
}

int ck_concat(ck_pool *p, int n_in, const void *const *in,
              const int64_t *const *shapes, int ndim, int axis,
              size_t elem_size, void *y)
{
    if (n_in <= 0 || n_in > 4096 || !in || !shapes || !y || ndim <= 0 ||
        ndim > COMFY_MAX_DIMS || axis < 0 || axis >= ndim || elem_size == 0)
        return COMFY_EINVAL;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < ndim; d++) {
        for (int i = 0; i < n_in; i++)
            if (!shapes[i] || shapes[i][d] < 0 ||
                (d != axis && shapes[i][d] != shapes[0][d]) || !in[i])
                return COMFY_EINVAL;
        if (d < axis)
            outer *= shapes[0][d];
        else if (d > axis)
            inner *= shapes[0][d];
    }
    struct cat_job j = { n_in, in, shapes, axis, ndim, elem_size, 0, outer, NULL,
                         y };
    j.in_row = calloc((size_t)n_in, sizeof(size_t));
    if (!j.in_row)
        return COMFY_ENOMEM;
    for (int i = 0; i < n_in; i++) {
        j.in_row[i] = (size_t)(shapes[i][axis] * inner) * elem_size;
        j.out_row += j.in_row[i];
    }
    if (j.out_row > 0)
        ck_pool_run(p, outer, cat_task, &j);
    free(j.in_row);
    return 0;
}

/* ---- timestep embedding ------------------------------------------------- */

int ck_timestep_embedding(const float *t, int64_t n, int64_t dim,
                          float max_period, float *y)
{
    if (!t || !y || n < 0 || dim <= 0 || !(max_period > 0))
        return COMFY_EINVAL;
    int64_t half = dim / 2;
    for (int64_t r = 0; r < n; r++) {
        float *row = y + r * dim;
        for (int64_t i = 0; i < half; i++) {
            /* torch: exp(-log(max_period) * arange(half, f32) / half) in f32 */
            float e = -logf(max_period) * (float)i / (float)half;
            float freq = expf(e);
            float arg = t[r] * freq;
            row[i] = cosf(arg);
            row[half + i] = sinf(arg);
        }
        if (dim % 2)
            row[dim - 1] = 0.0f;
    }
    return 0;
}
