/*
 * golden.h — reads a golden case of tests/nets/data: NAME.json lists
 * tensors (name, shape) stored back to back as little-endian f32 in
 * NAME.bin.  Test helper, header-only.
 */
#ifndef NETS_TEST_GOLDEN_H
#define NETS_TEST_GOLDEN_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_MAX 16

typedef struct gtensor {
    char name[64];
    int ndim;
    int64_t shape[8];
    int64_t n;
    float *v; /* points into golden.data */
} gtensor;

typedef struct golden {
    char name[64];
    int n;
    gtensor t[GOLDEN_MAX];
    float *data;
} golden;

static inline void golden_free(golden *g)
{
    free(g->data);
    g->data = NULL;
}

static inline const gtensor *golden_get(const golden *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->t[i].name, name) == 0)
            return &g->t[i];
    return NULL;
}

static inline int golden_load(golden *g, const char *dir, const char *name)
{
    char path[1024];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    json_object *j = json_object_from_file(path), *arr;
    if (!j || !json_object_object_get_ex(j, "tensors", &arr)) {
        fprintf(stderr, "cannot read %s\n", path);
        json_object_put(j);
        return -1;
    }
    int64_t total = 0;
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n && i < GOLDEN_MAX; i++) {
        json_object *e = json_object_array_get_idx(arr, i), *nm, *sh;
        gtensor *t = &g->t[g->n++];
        json_object_object_get_ex(e, "name", &nm);
        json_object_object_get_ex(e, "shape", &sh);
        snprintf(t->name, sizeof t->name, "%s", json_object_get_string(nm));
        t->ndim = (int)json_object_array_length(sh);
        t->n = 1;
        for (int d = 0; d < t->ndim && d < 8; d++) {
            t->shape[d] = json_object_get_int64(json_object_array_get_idx(sh, (size_t)d));
            t->n *= t->shape[d];
        }
        total += t->n;
    }
    json_object_put(j);
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "rb");
    g->data = malloc((size_t)(total > 0 ? total : 1) * sizeof(float));
    if (!f || !g->data || fread(g->data, sizeof(float), (size_t)total, f) != (size_t)total) {
        fprintf(stderr, "cannot read %s\n", path);
        if (f)
            fclose(f);
        golden_free(g);
        return -1;
    }
    fclose(f);
    int64_t off = 0;
    for (int i = 0; i < g->n; i++) {
        g->t[i].v = g->data + off;
        off += g->t[i].n;
    }
    return 0;
}

#endif
