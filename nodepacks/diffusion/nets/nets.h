/*
 * nets.h — what the UNet (unet.h) and the VAE (vae.h) share: how one
 * forward call is run (pool, scratch arena, interrupt check, error text)
 * and how weights are kept after loading.
 *
 * The networks are immutable after loading.  A forward call runs on the
 * thread that makes it and on the pool it is given; calls on one model may
 * run at the same time only with different pools and different arenas.
 */
#ifndef CD_NETS_H
#define CD_NETS_H

#include <stddef.h>
#include <stdint.h>

#include <comfyd/kernels.h>

/* How a loaded network keeps its matmul/conv weights.  Norm weights and
 * biases are always f32 copies. */
enum {
    CD_NETS_WEIGHTS_F32 = 0,    /* converted once to f32 at load (default)  */
    CD_NETS_WEIGHTS_STORED = 1, /* kept in the file's dtype (f32/f16/bf16),
                                   borrowed from the mapping when aligned,
                                   converted per call by the kernels       */
    CD_NETS_WEIGHTS_BF16 = 2    /* converted once to bf16 (for bf16 compute) */
};

typedef struct cd_nets_load_opts {
    int weights;   /* CD_NETS_WEIGHTS_*                                     */
    int prec;      /* CK_PREC_F32 (ComfyUI's CPU default) or CK_PREC_BF16   */
} cd_nets_load_opts;

/* One forward call's environment.  Every pointer is borrowed. */
typedef struct cd_nets_run {
    ck_pool *pool;     /* NULL: the calling thread only                     */
    ck_arena *arena;   /* scratch; NULL: malloc'd and freed inside the call.
                          With an arena, every temporary comes from it (the
                          caller resets it after the call) and its ceiling
                          turns into COMFY_ENOMEM with the bytes needed in
                          err.                                              */
    /* Polled between blocks when not NULL; a nonzero return stops the call
     * with COMFY_EINTERRUPTED (outputs then undefined). */
    int (*interrupted)(void *user);
    void *user;
    char *err;         /* NULL or a buffer for a message on failure         */
    size_t errlen;
} cd_nets_run;

#endif
