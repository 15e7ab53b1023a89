/*
 * fuzz_safetensors — fuzz target for the safetensors header parser (and,
 * on the same inputs, the restricted .ckpt reader: zip directory + pickle).
 *
 * Built two ways: with clang's -fsanitize=fuzzer it is a libFuzzer target
 * (models_libfuzzer_safetensors, run by hand: ./models_libfuzzer_safetensors
 * tests/models/corpus); with CD_FUZZ_DRIVER it has its own main that replays
 * every file of the corpus directories given, then applies random mutations
 * (bit flips, byte sets, truncation, length-field edits, splices) to them
 * for --seconds (bounded, for ctest), checking that every input is either
 * accepted with consistent tensors or refused with a message.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pickle_ckpt.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink; /* keeps the reads below from being elided */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_st_file *f = NULL;
    char err[256] = "";
    if (cd_st_open_mem(data, size, &f, err, sizeof err) == 0) {
        /* touch every byte the reader hands out */
        unsigned sum = 0;
        for (size_t i = 0; i < cd_st_count(f); i++) {
            const cd_tensor *t = cd_st_tensor(f, i);
            const unsigned char *p = t->data;
            if (cd_st_find(f, t->name) != t)
                abort();
            if (p < data || p + t->nbytes > data + size)
                abort();
            for (uint64_t k = 0; k < t->nbytes; k++)
                sum += p[k];
            if (t->nbytes <= 4096) {
                size_t n = (size_t)cd_tensor_numel(t);
                float *v = malloc((n ? n : 1) * sizeof *v);
                if (v && cd_tensor_to_f32(t, v, n) != 0)
                    abort();
                free(v);
            }
        }
        for (size_t i = 0; i < cd_st_metadata_count(f); i++)
            sum += (unsigned)strlen(cd_st_metadata_value(f, i));
        sink = sum;
        cd_st_close(f);
    } else if (!err[0]) {
        abort(); /* a refusal always says why */
    }
    cd_ckpt_file *c = NULL;
    err[0] = 0;
    if (cd_ckpt_open_mem(data, size, &c, err, sizeof err) == 0) {
        unsigned sum = 0;
        for (size_t i = 0; i < cd_ckpt_count(c); i++) {
            const cd_tensor *t = cd_ckpt_tensor(c, i);
            const unsigned char *p = t->data;
            for (uint64_t k = 0; k < t->nbytes; k++)
                sum += p[k];
        }
        sink = sum;
        cd_ckpt_close(c);
    } else if (!err[0]) {
        abort();
    }
    return 0;
}

#ifdef CD_FUZZ_DRIVER
typedef struct input {
    unsigned char *p;
    size_t n;
} input;

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = (rng_state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int load_dir(const char *dir, input **v, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *fp = fopen(path, "rb");
        if (!fp)
            continue;
        unsigned char *buf = malloc(1 << 20);
        size_t got = buf ? fread(buf, 1, 1 << 20, fp) : 0;
        fclose(fp);
        input *nv = realloc(*v, (*n + 1) * sizeof *nv);
        if (!nv) {
            free(buf);
            break;
        }
        *v = nv;
        (*v)[*n].p = buf;
        (*v)[(*n)++].n = got;
    }
    closedir(d);
    return 0;
}

static size_t mutate(const input *src, const input *other, unsigned char *out, size_t cap)
{
    size_t n = src->n < cap ? src->n : cap;
    memcpy(out, src->p, n);
    int k = 1 + (int)(rnd() % 4);
    for (int m = 0; m < k && n; m++) {
        switch (rnd() % 7) {
        case 0: out[rnd() % n] ^= (unsigned char)(1u << (rnd() % 8)); break;
        case 1: out[rnd() % n] = (unsigned char)rnd(); break;
        case 2: n = rnd() % (n + 1); break;
        case 3: /* edit the length field */
            if (n >= 8) {
                uint64_t l = 0;
                for (int i = 7; i >= 0; i--)
                    l = (l << 8) | out[i];
                l += (uint64_t)((int64_t)(rnd() % 64) - 32);
                for (int i = 0; i < 8; i++)
                    out[i] = (unsigned char)(l >> (8 * i));
            }
            break;
        case 4: { /* splice from another input */
            if (!other->n)
                break;
            size_t at = rnd() % n, from = rnd() % other->n;
            size_t len = rnd() % 64;
            if (len > other->n - from)
                len = other->n - from;
            if (at + len > cap)
                len = cap - at;
            memcpy(out + at, other->p + from, len);
            if (at + len > n)
                n = at + len;
            break;
        }
        case 5: { /* replace a digit with another digit (offsets, shapes) */
            size_t at = rnd() % n;
            for (size_t i = 0; i < n; i++) {
                size_t j = (at + i) % n;
                if (out[j] >= '0' && out[j] <= '9') {
                    out[j] = (unsigned char)('0' + rnd() % 10);
                    break;
                }
            }
            break;
        }
        default: { /* duplicate a chunk */
            size_t at = rnd() % n, len = rnd() % 32;
            if (at + len > n)
                len = n - at;
            if (n + len <= cap) {
                memmove(out + at + len, out + at, n - at);
                n += len;
            }
            break;
        }
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    double seconds = 5;
    input *in = NULL;
    size_t nin = 0;
    rng_state = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 10);
        else if (load_dir(argv[i], &in, &nin) < 0) {
            fprintf(stderr, "fuzz_safetensors: cannot read corpus %s\n", argv[i]);
            return 2;
        }
    }
    if (!nin) {
        fprintf(stderr, "fuzz_safetensors: empty corpus\n");
        return 2;
    }
    for (size_t i = 0; i < nin; i++)
        LLVMFuzzerTestOneInput(in[i].p, in[i].n);
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long runs = 0;
    for (;;) {
        for (int b = 0; b < 256; b++) {
            const input *s = &in[rnd() % nin], *o = &in[rnd() % nin];
            size_t n = mutate(s, o, buf, cap);
            /* exact-size copy so ASan sees reads past the end */
            unsigned char *exact = malloc(n ? n : 1);
            memcpy(exact, buf, n);
            LLVMFuzzerTestOneInput(exact, n);
            free(exact);
            runs++;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9 >= seconds)
            break;
    }
    printf("fuzz_safetensors: %zu corpus files, %llu mutated inputs, no crash\n", nin, runs);
    free(buf);
    for (size_t i = 0; i < nin; i++)
        free(in[i].p);
    free(in);
    return 0;
}
#endif
