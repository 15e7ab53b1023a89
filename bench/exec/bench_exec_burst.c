/*
 * bench_exec_burst.c — 1,000 prompts in a burst (issue 4): every prompt is
 * either executed or rejected with a clear error, and the process's
 * resident memory after the queue drains is compared with the idle figure.
 *
 *   bench-exec-burst [N [QUEUE_MAX [SIZE]]]     defaults 1000 10000 64
 *
 * Each prompt is StubConstantImage(value = i / N, SIZE x SIZE) feeding the
 * output node TestOutputNodeWithSocketOutput, all distinct so nothing is
 * cached.  The runtime is driven in-process through runtime.h (the same
 * functions the HTTP routes call), so RSS is the server's own.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "runtime.h"
#include "value.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long finished;   /* execution_success / _error messages seen */
static long failed;

static void sink(void *user, cd_event *e)
{
    (void)user;
    if (e->kind == CD_EVENT_JSON && e->json) {
        int ok = strstr(e->json, "{\"type\": \"execution_success\"") == e->json;
        int err = strstr(e->json, "{\"type\": \"execution_error\"") == e->json ||
                  strstr(e->json, "{\"type\": \"execution_interrupted\"") == e->json;
        if (ok || err) {
            pthread_mutex_lock(&mu);
            finished++;
            failed += err;
            pthread_cond_broadcast(&cv);
            pthread_mutex_unlock(&mu);
        }
    }
    cd_event_free(e);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int post(cd_runtime *rt, int i, int n, int size, cd_buf *out)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"prompt\": {\"1\": {\"class_type\": \"StubConstantImage\", \"inputs\": {\"value\": %.6f, "
             "\"height\": %d, \"width\": %d, \"batch_size\": 1}}, "
             "\"2\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"1\", 0], "
             "\"value\": 1.0}}}, \"client_id\": \"bench\"}",
             (double)i / n, size, size);
    cd_buf_reset(out);
    return cd_runtime_post_prompt(rt, body, strlen(body), out);
}

static void wait_for(long target)
{
    pthread_mutex_lock(&mu);
    while (finished < target)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000;
    const char *qmax = argc > 2 ? argv[2] : "10000";
    int size = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 64;
    char dir[] = "/tmp/bench-exec-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char *args[] = {"comfyd", "--nodepack-dir", TESTING_PACK_DIR, "--base-directory", dir,
                    "--queue-max", (char *)qmax, NULL};
    cd_config cfg;
    if (cd_config_parse(&cfg, 7, args) != 0)
        return 1;
    cd_runtime *rt = cd_runtime_new(&cfg);
    if (!rt)
        return 1;
    cd_runtime_set_event_sink(rt, sink, NULL);
    cd_buf out;
    cd_buf_init(&out, 1 << 20);

    /* warm-up: one prompt, then the idle figure */
    if (post(rt, 0, n, size, &out) != 200)
        return 1;
    wait_for(1);
    usleep(200000);
    long idle = rss_kib();

    double t0 = now();
    long accepted = 0, rejected = 0;
    char first_reject[512] = "";
    for (int i = 1; i <= n; i++) {
        int st = post(rt, i, n, size, &out);
        if (st == 200)
            accepted++;
        else {
            rejected++;
            if (!first_reject[0])
                snprintf(first_reject, sizeof(first_reject), "%d %s", st, out.data ? out.data : "");
        }
    }
    double t_post = now() - t0;
    long peak_queue = cd_runtime_queue_remaining(rt);
    wait_for(1 + accepted);
    double t_all = now() - t0;
    usleep(300000);
    long after = rss_kib();
    /* the history keeps every entry: the same figure once it is cleared */
    cd_buf_reset(&out);
    cd_runtime_post_history(rt, "{\"clear\": true}", 15, &out);
    usleep(300000);
    long after_clear = rss_kib();

    printf("bench-exec-burst: %d prompts (%dx%d images), queue-max %s\n", n, size, size, qmax);
    printf("  accepted %ld, rejected %ld%s%s\n", accepted, rejected, rejected ? ", first: " : "",
           first_reject);
    printf("  executed %ld (errors %ld); queued in %.3f s, drained in %.3f s (%.0f prompts/s)\n",
           finished - 1, failed, t_post, t_all, accepted / t_all);
    printf("  queue_remaining right after the burst: %ld; tensor bytes live after: %llu\n", peak_queue,
           (unsigned long long)cd_tensor_bytes_live());
    printf("  RSS idle %ld KiB, after %ld KiB (%+.1f%%), after history clear %ld KiB (%+.1f%%)\n",
           idle, after, 100.0 * (after - idle) / idle, after_clear,
           100.0 * (after_clear - idle) / idle);
    cd_buf_free(&out);
    cd_runtime_free(rt);
    cd_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return finished - 1 == accepted && failed == 0 ? 0 : 1;
}
