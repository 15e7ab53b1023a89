/*
 * pool.c — the thread pool every kernel runs on (ck_pool), and per-call
 * scratch allocation.
 *
 * n-1 worker threads sleep on a condition variable; ck_pool_run publishes a
 * job (function, argument, task count), bumps the generation and wakes them.
 * Threads claim tasks with an atomic counter; the caller works too and then
 * waits until every worker has left the job.  Workers spin briefly before
 * sleeping so back-to-back ops do not pay a futex wake each.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#ifdef CK_HAVE_DNNL
#include <dnnl.h>
#endif

#define POOL_MAX_THREADS 256
#define POOL_SPIN 4000 /* pause loops (~50 us) before sleeping: oneDNN's OpenMP
                         * threads need the cores right after our ops */

struct ck_pool {
    int n;                      /* threads including the caller            */
    pthread_t *threads;         /* n-1 workers                             */
    int started;                /* workers actually started                */
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* workers wait for a new generation       */
    pthread_cond_t done;        /* the caller waits for workers to finish  */
    atomic_uint gen;            /* job generation                          */
    atomic_int stop;
    /* the current job */
    ck_task_fn fn;
    void *arg;
    int64_t n_tasks;
    atomic_llong next;          /* next unclaimed task                     */
    atomic_int active;          /* workers still inside the job            */
    atomic_int running;         /* 1 while a job is being run (nesting)    */
    int use_dnnl;
#ifdef CK_HAVE_DNNL
    dnnl_engine_t engine;
    dnnl_stream_t stream;
#endif
};

struct worker_arg {
    ck_pool *p;
    int index;
};

void *ck_alloc(size_t bytes)
{
    void *ptr = NULL;
    if (bytes == 0)
        bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&ptr, 64, bytes) != 0)
        return NULL;
    return ptr;
}

void ck_free(void *p) { free(p); }

static void run_tasks(ck_pool *p, int thread)
{
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks)
            break;
        p->fn(p->arg, t, thread);
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    ck_pool *p = wa.p;
    free(arg);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop) && spins < POOL_SPIN) {
            spins++;
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
        if (g == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        run_tasks(p, wa.index);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

ck_pool *ck_pool_new(int n_threads)
{
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > POOL_MAX_THREADS)
        n_threads = POOL_MAX_THREADS;
    ck_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->n = n_threads;
    p->use_dnnl = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->running, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!p->threads)
            goto fail;
        for (int i = 1; i < n_threads; i++) {
            struct worker_arg *wa = malloc(sizeof(*wa));
            if (!wa)
                goto fail;
            wa->p = p;
            wa->index = i;
            if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
                free(wa);
                goto fail;
            }
            p->started++;
        }
    }
#ifdef CK_HAVE_DNNL
    if (dnnl_engine_create(&p->engine, dnnl_cpu, 0) != dnnl_success)
        goto fail;
    if (dnnl_stream_create(&p->stream, p->engine, dnnl_stream_default_flags) !=
        dnnl_success)
        goto fail;
    {
        /* oneDNN (Debian's build) threads with OpenMP; match our count. */
        extern void omp_set_num_threads(int);
        omp_set_num_threads(n_threads);
    }
#endif
    return p;
fail:
    ck_pool_free(p);
    return NULL;
}

void ck_pool_free(ck_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
#ifdef CK_HAVE_DNNL
    if (p->stream)
        dnnl_stream_destroy(p->stream);
    if (p->engine)
        dnnl_engine_destroy(p->engine);
#endif
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int ck_pool_threads(const ck_pool *p) { return p ? p->n : 1; }

void ck_pool_use_dnnl(ck_pool *p, int on)
{
    if (p)
        p->use_dnnl = on ? 1 : 0;
}

int ck_pool_dnnl_on(const ck_pool *p)
{
#ifdef CK_HAVE_DNNL
    return p && p->use_dnnl;
#else
    (void)p;
    return 0;
#endif
}

void *ck_pool_dnnl_engine(ck_pool *p)
{
#ifdef CK_HAVE_DNNL
    return p ? (void *)p->engine : NULL;
#else
    (void)p;
    return NULL;
#endif
}

void *ck_pool_dnnl_stream(ck_pool *p)
{
#ifdef CK_HAVE_DNNL
    return p ? (void *)p->stream : NULL;
#else
    (void)p;
    return NULL;
#endif
}

void ck_pool_run(ck_pool *p, int64_t n_tasks, ck_task_fn fn, void *arg)
{
    if (n_tasks <= 0)
        return;
    int expect = 0;
    if (!p || p->n == 1 || n_tasks == 1 || p->started != p->n - 1 ||
        !atomic_compare_exchange_strong(&p->running, &expect, 1)) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(arg, t, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->active, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->active, memory_order_acquire) != 0 &&
           spins < POOL_SPIN) {
        spins++;
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
    if (atomic_load_explicit(&p->active, memory_order_acquire) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->active) != 0)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    atomic_store(&p->running, 0);
}
