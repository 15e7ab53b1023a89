/* runtime_paths: folder layout, listings, traversal refusals, annotated
 * names, extra_model_paths.yaml and the output counter. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "paths.h"

static char base[64];

static void touch(const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    /* make parents */
    for (char *s = p + strlen(base) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    }
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("x", f);
        fclose(f);
    }
}

static int exists(const char *abs)
{
    struct stat st;
    return stat(abs, &st) == 0;
}

static char *joined(const cd_strlist *l)
{
    static char out[4096];
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", i ? "|" : "", l->v[i]);
    return out;
}

int main(void)
{
    snprintf(base, sizeof base, "/tmp/rtpathsXXXXXX");
    if (!mkdtemp(base))
        return 1;
    char p[PATH_MAX], q[PATH_MAX];

    /* Files present before start-up; temp must be emptied. */
    touch("temp/stale.png");
    touch("models/checkpoints/b.safetensors");
    touch("models/checkpoints/sub/a.CKPT");
    touch("models/checkpoints/notes.txt");
    touch("models/checkpoints/.git/objects.pt");
    touch("models/checkpoints/.hidden.pt");
    touch("models/clip/te.safetensors");
    touch("models/text_encoders/te2.sft");
    touch("models/classifiers/noext");
    touch("models/classifiers/has.ext");
    touch("models/diffusers/x.folder");
    touch("models/embeddings/easyneg.pt");
    touch("output/checkpoints/out.safetensors");
    touch("extra/dm/model.safetensors");
    touch("extra/mystuff/any.thing");
    touch("extra/first/ckpt.safetensors");

    snprintf(p, sizeof p, "%s/extra.yaml", base);
    FILE *y = fopen(p, "w");
    fprintf(y, "a111:\n  base_path: %s/extra\n  unet: dm\n  mystuff: |\n    mystuff\n\n"
               "    mystuff2\n"
               "first:\n  base_path: extra\n  is_default: true\n  checkpoints: first\n"
               "nullsection:\n", base);
    fclose(y);

    cd_config cfg;
    char *argv[] = {"comfyd", "--base-directory", base, "--extra-model-paths-config", p,
                    NULL};
    CHECK_INT(cd_config_parse(&cfg, 5, argv), 0);
    cd_logger *log = cd_logger_new(100, 0);
    cd_paths *ps = cd_paths_new(&cfg, log);
    CHECK(ps != NULL);
    if (!ps)
        CHECK_DONE();

    snprintf(p, sizeof p, "%s/input", base);
    CHECK_STR(cd_paths_input(ps), p);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/temp", base);
    CHECK_STR(cd_paths_temp(ps), p);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/temp/stale.png", base);
    CHECK(!exists(p));
    snprintf(p, sizeof p, "%s/user", base);
    CHECK(exists(p));
    CHECK_STR(cd_paths_by_type(ps, "output"), cd_paths_output(ps));
    CHECK(cd_paths_by_type(ps, "models") == NULL);

    /* Folder order: the 20 of §8.2, then YAML-created folders. */
    CHECK_STR(cd_paths_folder_name(ps, 0), "checkpoints");
    CHECK_STR(cd_paths_folder_name(ps, 14), "custom_nodes");
    CHECK_STR(cd_paths_folder_name(ps, 19), "audio_encoders");
    CHECK_INT(cd_paths_folder_count(ps), 21);
    CHECK_STR(cd_paths_folder_name(ps, 20), "mystuff");

    cd_strlist l = {0};
    CHECK_INT(cd_paths_list(ps, "checkpoints", 0, &l), 0);
    CHECK_STR(joined(&l), ".hidden.pt|b.safetensors|ckpt.safetensors|out.safetensors|"
                          "sub/a.CKPT");
    cd_strlist_free(&l);
    CHECK_INT(cd_paths_list(ps, "text_encoders", 0, &l), 0);
    CHECK_STR(joined(&l), "te.safetensors|te2.sft");
    cd_strlist_free(&l);
    CHECK_INT(cd_paths_list(ps, "clip", 0, &l), COMFY_ENOENT);
    CHECK_INT(cd_paths_list(ps, "clip", 1, &l), 0);
    CHECK_INT(l.n, 2);
    cd_strlist_free(&l);
    CHECK_INT(cd_paths_list(ps, "classifiers", 0, &l), 0);
    CHECK_STR(joined(&l), "noext");
    cd_strlist_free(&l);
    CHECK_INT(cd_paths_list(ps, "diffusers", 0, &l), 0);
    CHECK_INT(l.n, 0);
    cd_strlist_free(&l);
    CHECK_INT(cd_paths_list(ps, "diffusion_models", 0, &l), 0);
    CHECK_STR(joined(&l), "model.safetensors");
    cd_strlist_free(&l);
    CHECK_INT(cd_paths_list(ps, "mystuff", 0, &l), 0);
    CHECK_STR(joined(&l), "any.thing");
    cd_strlist_free(&l);
    CHECK_INT(cd_paths_list(ps, "loras", 0, &l), 0); /* directory missing */
    CHECK_INT(l.n, 0);
    cd_strlist_free(&l);

    /* is_default puts the YAML directory first. */
    const cd_strlist *dirs = cd_paths_folder_dirs(ps, "checkpoints", 0);
    snprintf(p, sizeof p, "%s/extra/first", base);
    CHECK(dirs && dirs->n == 3);
    CHECK_STR(dirs->v[0], p);
    snprintf(p, sizeof p, "%s/output/checkpoints", base);
    CHECK_STR(dirs->v[2], p);
    dirs = cd_paths_folder_dirs(ps, "mystuff", 0);
    CHECK(dirs && dirs->n == 2);

    /* Resolving model files. */
    CHECK_INT(cd_paths_resolve(ps, "checkpoints", "sub/a.CKPT", q, sizeof q), 0);
    snprintf(p, sizeof p, "%s/models/checkpoints/sub/a.CKPT", base);
    CHECK_STR(q, p);
    CHECK_INT(cd_paths_resolve(ps, "clip", "te2.sft", q, sizeof q), 0);
    CHECK_INT(cd_paths_resolve(ps, "checkpoints", "missing.pt", q, sizeof q), COMFY_ENOENT);
    CHECK_INT(cd_paths_resolve(ps, "checkpoints", "../../etc/passwd", q, sizeof q),
              COMFY_EACCES);
    CHECK_INT(cd_paths_resolve(ps, "checkpoints", "/etc/passwd", q, sizeof q), COMFY_EACCES);
    CHECK_INT(cd_paths_resolve(ps, "nope", "x", q, sizeof q), COMFY_ENOENT);
    CHECK_INT(cd_paths_resolve(ps, "checkpoints", "b.safetensors", q, 8), COMFY_EINVAL);

    /* join_beneath: traversal attempts are refused. */
    const char *in = cd_paths_input(ps);
    touch("input/img.png");
    touch("input/sub/deep.png");
    CHECK_INT(cd_paths_join_beneath(in, "img.png", q, sizeof q), 0);
    snprintf(p, sizeof p, "%s/img.png", in);
    CHECK_STR(q, p);
    CHECK_INT(cd_paths_join_beneath(in, "sub/deep.png", q, sizeof q), 0);
    CHECK_INT(cd_paths_join_beneath(in, "sub/./new.png", q, sizeof q), 0);
    CHECK_INT(cd_paths_join_beneath(in, "newdir/new.png", q, sizeof q), 0);
    CHECK_INT(cd_paths_join_beneath(in, "../temp/x.png", q, sizeof q), -1);
    CHECK_INT(cd_paths_join_beneath(in, "sub/../../x", q, sizeof q), -1);
    CHECK_INT(cd_paths_join_beneath(in, "..", q, sizeof q), -1);
    CHECK_INT(cd_paths_join_beneath(in, "/etc/passwd", q, sizeof q), -1);
    CHECK_INT(cd_paths_join_beneath(in, "", q, sizeof q), 0); /* the dir itself */
    CHECK_STR(q, in);
    CHECK_INT(cd_paths_join_beneath(in, "img.png", q, 4), -1);
    snprintf(p, sizeof p, "%s/evil", in);
    CHECK(symlink("/etc", p) == 0);
    CHECK_INT(cd_paths_join_beneath(in, "evil/passwd", q, sizeof q), -1);
    CHECK_INT(cd_paths_join_beneath(in, "evil/newfile", q, sizeof q), -1);
    CHECK_INT(cd_paths_join_beneath(in, "evil", q, sizeof q), -1);
    snprintf(p, sizeof p, "%s/dangling", in);
    CHECK(symlink("/tmp/rt-no-such-dir-xyz/file", p) == 0);
    CHECK_INT(cd_paths_join_beneath(in, "dangling", q, sizeof q), -1);
    snprintf(p, sizeof p, "%s/good", in);
    CHECK(symlink("sub", p) == 0);
    CHECK_INT(cd_paths_join_beneath(in, "good/deep.png", q, sizeof q), 0);

    /* Annotated names (§8.5). */
    touch("output/o.png");
    touch("temp/t.png");
    CHECK_INT(cd_paths_annotated(ps, "o.png [output]", NULL, q, sizeof q), 0);
    snprintf(p, sizeof p, "%s/output/o.png", base);
    CHECK_STR(q, p);
    CHECK_INT(cd_paths_annotated(ps, "t.png [temp]", NULL, q, sizeof q), 0);
    CHECK_INT(cd_paths_annotated(ps, "img.png [input]", NULL, q, sizeof q), 0);
    CHECK_INT(cd_paths_annotated(ps, "img.png", NULL, q, sizeof q), 0);
    CHECK_INT(cd_paths_annotated(ps, "sub/deep.png", NULL, q, sizeof q), 0);
    CHECK_INT(cd_paths_annotated(ps, "o.png[output]", NULL, q, sizeof q), 0);
    CHECK_INT(cd_paths_annotated(ps, "o.png", "output", q, sizeof q), 0);
    CHECK_INT(cd_paths_annotated(ps, "missing.png", NULL, q, sizeof q), COMFY_ENOENT);
    CHECK_INT(cd_paths_annotated(ps, "../output/o.png", NULL, q, sizeof q), COMFY_EACCES);
    CHECK_INT(cd_paths_annotated(ps, "evil/passwd", NULL, q, sizeof q), COMFY_EACCES);
    CHECK_INT(cd_paths_annotated(ps, " [output]", NULL, q, sizeof q), COMFY_EINVAL);

    /* The output counter (§8.7). */
    comfy_save_path sp = {.size = sizeof sp};
    CHECK_INT(cd_paths_save_path(ps, "output", "ComfyUI", 64, 32, &sp), 0);
    CHECK_INT(sp.counter, 1);
    CHECK_STR(sp.filename, "ComfyUI");
    CHECK_STR(sp.subfolder, "");
    CHECK_STR(sp.full_folder, cd_paths_output(ps));
    touch("output/ComfyUI_00001_.png");
    touch("output/ComfyUI_00005_.png");
    touch("output/ComfyUI_00007.png");      /* counts: int("00007.png") fails -> 0 */
    touch("output/ComfyUI_abc_.png");        /* counts as 0 */
    touch("output/ComfyUIx_00042_.png");     /* other prefix */
    touch("output/Other_00009_.png");
    CHECK_INT(cd_paths_save_path(ps, "output", "ComfyUI", 64, 32, &sp), 0);
    CHECK_INT(sp.counter, 6);
    touch("output/ComfyUI_100000_.png");
    CHECK_INT(cd_paths_save_path(ps, NULL, "ComfyUI", 64, 32, &sp), 0);
    CHECK_INT(sp.counter, 100001);
    CHECK_INT(cd_paths_save_path(ps, "output", "runs/day1/img", 64, 32, &sp), 0);
    CHECK_INT(sp.counter, 1);
    CHECK_STR(sp.subfolder, "runs/day1");
    CHECK_STR(sp.filename, "img");
    snprintf(p, sizeof p, "%s/output/runs/day1", base);
    CHECK_STR(sp.full_folder, p);
    CHECK(exists(p));
    CHECK_INT(cd_paths_save_path(ps, "output", "%width%x%height%/pic", 640, 480, &sp), 0);
    CHECK_STR(sp.subfolder, "640x480");
    CHECK_INT(cd_paths_save_path(ps, "output", "../escape", 1, 1, &sp), COMFY_EACCES);
    CHECK_INT(cd_paths_save_path(ps, "output", "a/../../escape", 1, 1, &sp), COMFY_EACCES);
    CHECK_INT(cd_paths_save_path(ps, "output", "/etc/escape", 1, 1, &sp), COMFY_EACCES);
    CHECK_INT(cd_paths_save_path(ps, "input", "x", 1, 1, &sp), COMFY_EINVAL);
    CHECK_INT(cd_paths_save_path(ps, "temp", "ComfyUI_temp_abcde", 1, 1, &sp), 0);
    CHECK_STR(sp.full_folder, cd_paths_temp(ps));

    /* normpath */
    CHECK(cd_path_normalize("a//b/./c/../d", q, sizeof q) == 0);
    CHECK_STR(q, "a/b/d");
    CHECK(cd_path_normalize("../../x", q, sizeof q) == 0);
    CHECK_STR(q, "../../x");
    CHECK(cd_path_normalize("/../x/", q, sizeof q) == 0);
    CHECK_STR(q, "/x");
    CHECK(cd_path_normalize("", q, sizeof q) == 0);
    CHECK_STR(q, ".");

    /* Malformed extra_model_paths files are logged and skipped. */
    static const char *const bad_yaml[] = {
        "- a\n- b\n", "x: [1, 2]\n", "s:\n  checkpoints: [a, b]\n  loras: {x: 1}\n",
        "s:\n  base_path: [x]\n  vae: v\n", "key: \"unterminated\n", "\t:::\n", "",
        "s:\n  base_path: $NO_SUCH_VAR_XYZ/~/x\n  newfolder: |\n    a\n    b\n"};
    for (size_t i = 0; i < sizeof bad_yaml / sizeof bad_yaml[0]; i++) {
        snprintf(p, sizeof p, "%s/bad%zu.yaml", base, i);
        FILE *bf = fopen(p, "w");
        fputs(bad_yaml[i], bf);
        fclose(bf);
        int rc = cd_paths_load_extra_yaml(ps, p);
        CHECK(rc == 0 || rc == -1);
    }
    CHECK(cd_paths_load_extra_yaml(ps, "/nonexistent/x.yaml") == -1);
    dirs = cd_paths_folder_dirs(ps, "newfolder", 0);
    CHECK(dirs && dirs->n == 2);
    snprintf(p, sizeof p, "%s/$NO_SUCH_VAR_XYZ/~/x/a", base);
    CHECK(dirs && strcmp(dirs->v[0], p) == 0);

    cd_paths_free(ps);
    snprintf(p, sizeof p, "%s/temp", base);
    CHECK(!exists(p)); /* emptied again at shutdown */
    cd_logger_free(log);
    cd_config_free(&cfg);
    snprintf(p, sizeof p, "rm -rf %s", base);
    if (system(p) != 0)
        fprintf(stderr, "cleanup failed\n");
    CHECK_DONE();
}
