/*
 * test_object_info.c — loads core.so through the runtime's registry and
 * compares each class's /object_info text, byte for byte, with what
 * ComfyUI prints (tests/core/data/object_info.txt, made by
 * tests/core/gen/object_info.py), in registration order.
 * Usage: core_test_object_info CORE_SO EXPECTED_TXT
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "host.h"
#include "log.h"
#include "paths.h"
#include "registry.h"

static int rm_entry(const char *p, const struct stat *st, int f,
                    struct FTW *w)
{
    (void)st;
    (void)f;
    (void)w;
    return remove(p);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CORE_SO EXPECTED_TXT\n", argv[0]);
        return 2;
    }
    int failures = 0;
    char base[64], p[1200], packs[128];
    snprintf(base, sizeof(base), "/tmp/core_oi_XXXXXX");
    if (!mkdtemp(base))
        return 1;
    char *cargv[] = { "comfyd", "--base-directory", base, NULL };
    cd_config cfg;
    if (cd_config_parse(&cfg, 3, cargv) != 0)
        return 1;
    cd_logger *log = cd_logger_new(300, 0);
    cd_paths *paths = cd_paths_new(&cfg, log);
    cd_host *host = cd_host_new(log, paths);
    const char *files[] = { "b.txt", "a.png" };
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/input/%s", base, files[i]);
        FILE *f = fopen(p, "w");
        if (f)
            fclose(f);
    }
    snprintf(packs, sizeof(packs), "%s/packs", base);
    mkdir(packs, 0755);
    snprintf(p, sizeof(p), "%s/core.so", packs);
    char so[4096];
    if (!realpath(argv[1], so) || symlink(so, p) != 0) {
        perror("symlink");
        return 1;
    }
    cd_registry *r = cd_registry_new(cd_host_table(host));
    if (cd_registry_load_dir(r, packs) != 1) {
        fprintf(stderr, "core.so did not load\n");
        failures++;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, i = 0;
    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        const cd_class *c = i < cd_registry_count(r) ? cd_registry_at(r, i)
                                                     : NULL;
        i++;
        if (!c || strcmp(c->def->name, line) != 0) {
            fprintf(stderr, "class %zu: expected %s, got %s\n", i - 1, line,
                    c ? c->def->name : "(none)");
            failures++;
            continue;
        }
        cd_buf_reset(&b);
        if (cd_class_object_info(r, c, &b) != 0 ||
            strcmp(b.data, tab + 1) != 0) {
            fprintf(stderr, "%s:\n  got:  %s\n  want: %s\n", line,
                    b.data ? b.data : "(error)", tab + 1);
            failures++;
        }
    }
    if (i != cd_registry_count(r)) {
        fprintf(stderr, "%zu classes registered, %zu expected\n",
                cd_registry_count(r), i);
        failures++;
    }
    free(line);
    fclose(f);
    cd_buf_free(&b);
    cd_registry_free(r);
    cd_host_free(host);
    cd_paths_free(paths);
    cd_logger_free(log);
    cd_config_free(&cfg);
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("core object_info matches ComfyUI for %zu classes\n", i);
    return 0;
}
