/*
 * log.c — the server log: stderr plus a bounded ring for /internal/logs
 * (see log.h).  Lines longer than LINE_MAX_BYTES are cut.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pyjson.h"

#define LINE_MAX_BYTES 8192

typedef struct log_entry {
    char t[32];   /* "2025-10-12T10:00:00.123456" */
    char *m;      /* owned, ends in "\n" */
} log_entry;

struct cd_logger {
    pthread_mutex_t mu;
    log_entry *ring;     /* owned, `cap` slots */
    size_t cap;
    size_t head;         /* index of the oldest entry */
    size_t count;
    int min_level;       /* lines below are dropped */
    int fd;              /* where lines are written: stderr, or stdout */
    cd_log_listener listener;
    void *listener_user;
};

cd_logger *cd_logger_new(size_t ring_entries, int verbose)
{
    if (ring_entries == 0)
        ring_entries = 1;
    cd_logger *lg = calloc(1, sizeof *lg);
    if (!lg)
        return NULL;
    lg->ring = calloc(ring_entries, sizeof *lg->ring);
    if (!lg->ring) {
        free(lg);
        return NULL;
    }
    lg->cap = ring_entries;
    lg->min_level = verbose ? COMFY_LOG_DEBUG : COMFY_LOG_INFO;
    lg->fd = STDERR_FILENO;
    pthread_mutex_init(&lg->mu, NULL);
    return lg;
}

void cd_logger_free(cd_logger *lg)
{
    if (!lg)
        return;
    for (size_t i = 0; i < lg->cap; i++)
        free(lg->ring[i].m);
    free(lg->ring);
    pthread_mutex_destroy(&lg->mu);
    free(lg);
}

void cd_logger_set_listener(cd_logger *lg, cd_log_listener fn, void *user)
{
    if (!lg)
        return;
    pthread_mutex_lock(&lg->mu);
    lg->listener = fn;
    lg->listener_user = user;
    pthread_mutex_unlock(&lg->mu);
}

void cd_logger_to_stdout(cd_logger *lg, int on)
{
    if (lg)
        lg->fd = on ? STDOUT_FILENO : STDERR_FILENO;
}

void cd_logger_set_level(cd_logger *lg, int level)
{
    if (lg)
        lg->min_level = level;
}

/* Local time in ISO form without zone, as Python's datetime.isoformat(). */
static void iso_now(char *out, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t s = tv.tv_sec;
    localtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%06ld", base, (long)tv.tv_usec);
}

void cd_vlog(cd_logger *lg, int level, const char *fmt, va_list ap)
{
    if (level < (lg ? lg->min_level : COMFY_LOG_INFO))
        return;
    char line[LINE_MAX_BYTES];
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
    line[len++] = '\n';
    line[len] = '\0';
    /* One write so concurrent lines do not interleave. */
    ssize_t w = write(lg ? lg->fd : STDERR_FILENO, line, len);
    (void)w;
    if (!lg)
        return;

    char *m = malloc(len + 1);
    if (!m)
        return;
    memcpy(m, line, len + 1);
    char t[32];
    iso_now(t, sizeof t);

    pthread_mutex_lock(&lg->mu);
    size_t slot;
    if (lg->count < lg->cap) {
        slot = (lg->head + lg->count) % lg->cap;
        lg->count++;
    } else {
        slot = lg->head;
        lg->head = (lg->head + 1) % lg->cap;
        free(lg->ring[slot].m);
    }
    memcpy(lg->ring[slot].t, t, sizeof t);
    lg->ring[slot].m = m;
    cd_log_listener fn = lg->listener;
    void *user = lg->listener_user;
    pthread_mutex_unlock(&lg->mu);
    if (fn)
        fn(user, t, line);
}

void cd_log(cd_logger *lg, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cd_vlog(lg, level, fmt, ap);
    va_end(ap);
}

int cd_logger_dump(cd_logger *lg, int raw, cd_buf *out)
{
    int rc = -1;
    cd_buf joined;
    cd_buf_init(&joined, out->max);
    if (!lg)
        return raw ? cd_buf_puts(out, "{\"entries\": [], \"size\": {\"cols\": 80, "
                                      "\"rows\": 24}}")
                   : cd_buf_puts(out, "\"\"");
    pthread_mutex_lock(&lg->mu);
    if (raw) {
        if (cd_buf_puts(out, "{\"entries\": [") < 0)
            goto out;
        for (size_t i = 0; i < lg->count; i++) {
            const log_entry *e = &lg->ring[(lg->head + i) % lg->cap];
            if ((i && cd_buf_puts(out, ", ") < 0) ||
                cd_buf_puts(out, "{\"t\": ") < 0 ||
                cd_json_dump_string(out, e->t, strlen(e->t)) < 0 ||
                cd_buf_puts(out, ", \"m\": ") < 0 ||
                cd_json_dump_string(out, e->m, strlen(e->m)) < 0 ||
                cd_buf_putc(out, '}') < 0)
                goto out;
        }
        struct winsize ws;
        int cols = 80, rows = 24;
        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
            cols = ws.ws_col;
            rows = ws.ws_row;
        }
        if (cd_buf_printf(out, "], \"size\": {\"cols\": %d, \"rows\": %d}}",
                          cols, rows) < 0)
            goto out;
    } else {
        for (size_t i = 0; i < lg->count; i++) {
            const log_entry *e = &lg->ring[(lg->head + i) % lg->cap];
            if (cd_buf_printf(&joined, "%s - %s", e->t, e->m) < 0)
                goto out;
        }
        if (cd_json_dump_string(out, joined.data ? joined.data : "", joined.len) < 0)
            goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&lg->mu);
    cd_buf_free(&joined);
    return rc;
}
