/*
 * bench_models_load — how long loading a checkpoint takes and how much
 * memory it costs.
 *
 *   bench_models_load [FILE.safetensors|FILE.ckpt]   (default: generate a
 *                     full-width SD1.5 f16 checkpoint in $TMPDIR, ~2.1 GB)
 *
 * Prints, each step timed separately:
 *   open      mmap + header parse + validation + name index (file evicted
 *             from the page cache first with posix_fadvise, so cold)
 *   detect    architecture detection
 *   unet      touching every page of the UNet tensors (what a loader that
 *             uses the weights in place pays on first use), cold
 *   all       touching the rest of the file
 * and the peak RSS after each step (getrusage), so RSS can be compared with
 * the bytes actually touched.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "ckpt_writer.h"
#include "detect.h"
#include "modelfile.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double peak_rss_mb(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_maxrss / 1024.0;
}

static void evict(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* Reads one byte per page of t; returns a checksum so it is not elided. */
static unsigned touch(const cd_tensor *t)
{
    const volatile unsigned char *p = t->data;
    unsigned s = 0;
    for (uint64_t i = 0; i < t->nbytes; i += 4096)
        s += p[i];
    if (t->nbytes)
        s += p[t->nbytes - 1];
    return s;
}

int main(int argc, char **argv)
{
    char path[1024], err[512] = "";
    int generated = 0;
    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/bench_models_sd15_full_%d.safetensors",
                 tmp && *tmp ? tmp : "/tmp", (int)getpid());
        uint64_t bytes = 0, params = 0;
        double t0 = now();
        if (cd_ckpt_write(cd_arch_get(CD_ARCH_SD15, CD_WIDTH_FULL), CD_DT_F16, 0, path, &bytes,
                          &params, err, sizeof err) < 0) {
            fprintf(stderr, "bench_models_load: %s\n", err);
            return 1;
        }
        printf("generate  %8.3f s   sd15 full f16: %llu parameters, %.1f MB\n", now() - t0,
               (unsigned long long)params, (double)bytes / 1e6);
        generated = 1;
    }
    evict(path);
    double base = peak_rss_mb();
    printf("baseline                peak RSS %8.1f MB\n", base);

    cd_model_file *f;
    double t0 = now();
    if (cd_model_file_open(path, &f, err, sizeof err) < 0) {
        fprintf(stderr, "bench_models_load: %s\n", err);
        return 1;
    }
    double t_open = now() - t0;
    printf("open      %8.3f s   %zu tensors, %.1f MB file   peak RSS %8.1f MB\n", t_open,
           cd_model_file_count(f), (double)cd_model_file_size(f) / 1e6, peak_rss_mb());

    cd_detect d;
    t0 = now();
    int rc = cd_detect_checkpoint(cd_model_file_index(f), &d, err, sizeof err);
    double t_det = now() - t0;
    printf("detect    %8.3f s   %s%s (%s)   peak RSS %8.1f MB\n", t_det,
           rc == 0 ? d.name : err, d.reduced_width ? " reduced width" : "",
           rc == 0 ? cd_prediction_name(d.prediction) : "-", peak_rss_mb());

    unsigned sum = 0;
    uint64_t unet_bytes = 0, other_bytes = 0;
    size_t plen = strlen(d.unet_prefix);
    t0 = now();
    for (size_t i = 0; i < cd_model_file_count(f); i++) {
        const cd_tensor *t = cd_model_file_tensor(f, i);
        if (strncmp(t->name, d.unet_prefix, plen) == 0 && plen) {
            sum += touch(t);
            unet_bytes += t->nbytes;
        }
    }
    double t_unet = now() - t0;
    printf("unet      %8.3f s   touched %.1f MB (%.0f MB/s)   peak RSS %8.1f MB\n", t_unet,
           (double)unet_bytes / 1e6, (double)unet_bytes / 1e6 / (t_unet > 0 ? t_unet : 1e-9),
           peak_rss_mb());
    t0 = now();
    for (size_t i = 0; i < cd_model_file_count(f); i++) {
        const cd_tensor *t = cd_model_file_tensor(f, i);
        if (!(strncmp(t->name, d.unet_prefix, plen) == 0 && plen)) {
            sum += touch(t);
            other_bytes += t->nbytes;
        }
    }
    printf("all       %8.3f s   touched %.1f MB more   peak RSS %8.1f MB   (checksum %u)\n",
           now() - t0, (double)other_bytes / 1e6, peak_rss_mb(), sum & 0xff);
    printf("load (open + detect) %.3f s\n", t_open + t_det);
    cd_model_file_unref(f);
    if (generated)
        unlink(path);
    return 0;
}
