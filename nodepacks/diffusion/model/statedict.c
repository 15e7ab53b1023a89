/* statedict.c — sorted name index over tensor views (see statedict.h). */
#include "statedict.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* qsort has no context argument in C11; a merge sort with one keeps this
 * reentrant. */
static void msort(uint32_t *v, uint32_t *tmp, size_t n, const cd_tensor *t)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    msort(v, tmp, h, t);
    msort(v + h, tmp, n - h, t);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (strcmp(t[v[j]].name, t[v[i]].name) < 0)
            tmp[k++] = v[j++];
        else
            tmp[k++] = v[i++];
    }
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

int cd_sd_init(cd_sd *sd, const cd_tensor *t, size_t n, char *err, size_t errlen)
{
    uint32_t *tmp = NULL;
    memset(sd, 0, sizeof *sd);
    if (n > UINT32_MAX)
        return CD_MODEL_EINVAL;
    sd->order = malloc((n ? n : 1) * sizeof *sd->order);
    tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!sd->order || !tmp) {
        free(tmp);
        free(sd->order);
        sd->order = NULL;
        return CD_MODEL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        sd->order[i] = (uint32_t)i;
    msort(sd->order, tmp, n, t);
    free(tmp);
    sd->t = t;
    sd->n = n;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(t[sd->order[i - 1]].name, t[sd->order[i]].name) == 0) {
            if (err)
                snprintf(err, errlen, "duplicate tensor name '%s'", t[sd->order[i]].name);
            cd_sd_free(sd);
            return CD_MODEL_EFORMAT;
        }
    }
    return 0;
}

void cd_sd_free(cd_sd *sd)
{
    free(sd->order);
    sd->order = NULL;
    sd->n = 0;
    sd->t = NULL;
}

/* First position whose name is >= key. */
static size_t lower_bound(const cd_sd *sd, const char *key)
{
    size_t lo = 0, hi = sd->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(sd->t[sd->order[mid]].name, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const cd_tensor *cd_sd_find(const cd_sd *sd, const char *name)
{
    size_t i = lower_bound(sd, name);
    if (i < sd->n && strcmp(sd->t[sd->order[i]].name, name) == 0)
        return &sd->t[sd->order[i]];
    return NULL;
}

const cd_tensor *cd_sd_findf(const cd_sd *sd, const char *fmt, ...)
{
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof name)
        return NULL;
    return cd_sd_find(sd, name);
}

size_t cd_sd_count_prefix(const cd_sd *sd, const char *prefix)
{
    size_t len = strlen(prefix);
    size_t i = lower_bound(sd, prefix), c = 0;
    while (i < sd->n && strncmp(sd->t[sd->order[i]].name, prefix, len) == 0) {
        c++;
        i++;
    }
    return c;
}

static int has_prefix(const cd_sd *sd, const char *prefix)
{
    size_t i = lower_bound(sd, prefix);
    return i < sd->n && strncmp(sd->t[sd->order[i]].name, prefix, strlen(prefix)) == 0;
}

int cd_sd_count_blocks(const cd_sd *sd, const char *fmt)
{
    char p[512];
    for (int k = 0; k < 100000; k++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        int w = snprintf(p, sizeof p, fmt, k);
#pragma GCC diagnostic pop
        if (w < 0 || (size_t)w >= sizeof p || !has_prefix(sd, p))
            return k;
    }
    return 100000;
}

const cd_tensor *cd_sd_at(const cd_sd *sd, size_t i)
{
    return i < sd->n ? &sd->t[sd->order[i]] : NULL;
}
