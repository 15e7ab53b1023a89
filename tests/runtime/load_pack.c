/* runtime_load_pack DIR CLASS...: loads the packs of DIR with the real
 * registry and host table (as comfyd does) and checks that every CLASS is
 * registered, printing its /object_info definition.  Used by the SDK
 * install test on the out-of-tree hello-pack build. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "paths.h"
#include "registry.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR CLASS...\n", argv[0]);
        return 2;
    }
    char base[64], cmd[128];
    snprintf(base, sizeof base, "/tmp/rtloadXXXXXX");
    if (!mkdtemp(base))
        return 1;
    char *cargv[] = {"comfyd", "--base-directory", base, NULL};
    cd_config cfg;
    CHECK_INT(cd_config_parse(&cfg, 3, cargv), 0);
    cd_logger *log = cd_logger_new(100, 0);
    cd_paths *paths = cd_paths_new(&cfg, log);
    cd_host *host = cd_host_new(log, paths);
    cd_registry *r = cd_registry_new(cd_host_table(host));
    CHECK(cd_registry_load_dir(r, argv[1]) >= 1);
    for (int i = 2; i < argc; i++) {
        const cd_class *c = cd_registry_find(r, argv[i]);
        CHECK(c != NULL);
        if (!c) {
            fprintf(stderr, "class %s is not registered\n", argv[i]);
            continue;
        }
        cd_buf b;
        cd_buf_init(&b, 1 << 20);
        CHECK(cd_class_object_info(r, c, &b) == 0);
        printf("%s: %s\n", argv[i], b.data);
        cd_buf_free(&b);
    }
    cd_registry_free(r);
    cd_host_free(host);
    cd_paths_free(paths);
    cd_logger_free(log);
    cd_config_free(&cfg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    CHECK_DONE();
}
