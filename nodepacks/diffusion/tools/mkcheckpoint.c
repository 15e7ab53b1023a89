/*
 * comfyd-mkcheckpoint — writes a deterministic single-file checkpoint.
 *
 *   comfyd-mkcheckpoint --arch sd15|sd21v|sdxl|sdxl-refiner --width full|small
 *                       [--dtype f16|bf16|f32] [--seed N] [--inpaint]
 *                       --out FILE.safetensors
 *
 * --width full gives the key names and shapes of the real release (SD1.5
 * f16 is about 2.1 GB); --width small the same names with reduced widths
 * (a few MB).  --inpaint makes the inpainting variant: the UNet takes 9
 * input channels (latent, mask, masked-image latent) as the released
 * inpainting checkpoints do.  Defaults: --dtype f16, --seed 0.  Exit status 0 on success,
 * 2 on a usage error, 1 when writing fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "ckpt_writer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: comfyd-mkcheckpoint --arch sd15|sd21v|sdxl|sdxl-refiner "
               "--width full|small [--dtype f16|bf16|f32] [--seed N] [--inpaint] "
               "--out FILE.safetensors\n");
}

int main(int argc, char **argv)
{
    const char *arch = NULL, *width = NULL, *dtype = "f16", *out = NULL;
    unsigned long long seed = 0;
    int inpaint = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--inpaint") == 0) {
            inpaint = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "comfyd-mkcheckpoint: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--arch") == 0)
            arch = v;
        else if (strcmp(a, "--width") == 0)
            width = v;
        else if (strcmp(a, "--dtype") == 0)
            dtype = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "comfyd-mkcheckpoint: --seed wants a non-negative integer\n");
                return 2;
            }
        } else {
            fprintf(stderr, "comfyd-mkcheckpoint: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    cd_arch_id id;
    if (!arch || cd_arch_parse(arch, &id) < 0) {
        fprintf(stderr, "comfyd-mkcheckpoint: --arch must be sd15, sd21v, sdxl or sdxl-refiner\n");
        return 2;
    }
    cd_arch_width w;
    if (width && strcmp(width, "full") == 0)
        w = CD_WIDTH_FULL;
    else if (width && strcmp(width, "small") == 0)
        w = CD_WIDTH_SMALL;
    else {
        fprintf(stderr, "comfyd-mkcheckpoint: --width must be full or small\n");
        return 2;
    }
    cd_dtype dt;
    if (strcmp(dtype, "f16") == 0)
        dt = CD_DT_F16;
    else if (strcmp(dtype, "bf16") == 0)
        dt = CD_DT_BF16;
    else if (strcmp(dtype, "f32") == 0)
        dt = CD_DT_F32;
    else {
        fprintf(stderr, "comfyd-mkcheckpoint: --dtype must be f16, bf16 or f32\n");
        return 2;
    }
    if (!out) {
        fprintf(stderr, "comfyd-mkcheckpoint: --out is required\n");
        usage(stderr);
        return 2;
    }
    char err[512] = "";
    uint64_t bytes = 0, params = 0;
    cd_arch a = *cd_arch_get(id, w);
    if (inpaint)
        a.unet.in_channels = 2 * a.vae.embed_dim + 1;
    if (cd_ckpt_write(&a, dt, seed, out, &bytes, &params, err, sizeof err) < 0) {
        fprintf(stderr, "comfyd-mkcheckpoint: %s\n", err);
        return 1;
    }
    printf("%s: %s%s %s %s seed %llu, %llu parameters, %llu bytes\n", out, arch,
           inpaint ? " inpaint" : "", width, dtype, seed, (unsigned long long)params,
           (unsigned long long)bytes);
    return 0;
}
