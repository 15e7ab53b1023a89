/*
 * main.c — the comfyd binary: flags and config, logger, runtime (folders,
 * packs, executor), then the network loop until SIGINT/SIGTERM.
 *
 * Exit codes: 0 after a clean stop (or --help / --version /
 * --list-node-classes / --quick-test-for-ci), 1 when start-up fails (folders, port), 2 for a bad
 * flag or an unreadable --config file.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "registry.h"
#include "log.h"
#include "runtime.h"
#include "server.h"

#define LOG_RING_ENTRIES 300   /* ComfyUI keeps the last 300 writes */

int main(int argc, char **argv)
{
    cd_config cfg;
    int rc = cd_config_parse(&cfg, argc, argv);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return 2;

    cd_logger *log = cd_logger_new(LOG_RING_ENTRIES, cfg.verbose);
    if (!log) {
        fprintf(stderr, "comfyd: out of memory\n");
        cd_config_free(&cfg);
        return 1;
    }
    cd_logger_set_level(log, cfg.log_level);
    cd_logger_to_stdout(log, cfg.log_stdout);
    cd_log(log, COMFY_LOG_INFO, "comfyd %s (node-pack SDK ABI %d.%d)",
           COMFYD_VERSION, COMFY_ABI_MAJOR, COMFY_ABI_MINOR);

    /* oneDNN (loaded with the packs) runs on libgomp, whose idle threads spin
     * by default and steal cores from our own thread pool between ops.  Set
     * before the packs are loaded, since libgomp reads it once; a value the
     * user set wins. */
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);

    cd_runtime *rt = cd_runtime_new_log(&cfg, log);
    if (!rt) {
        rc = 1;
        goto out;
    }
    if (cfg.list_node_classes) {
        const cd_registry *reg = cd_runtime_registry(rt);
        for (size_t i = 0; i < cd_registry_count(reg); i++) {
            const cd_class *c = cd_registry_at(reg, i);
            printf("%s %s\n", cd_pack_name(c->pack), c->def->name);
        }
        rc = fflush(stdout) == 0 ? 0 : 1;
    } else if (cfg.quick_test_for_ci) {
        cd_log(log, COMFY_LOG_INFO, "--quick-test-for-ci: start-up complete, "
                                    "exiting");
        rc = 0;
    } else {
        rc = cd_api_serve(rt, &cfg, log);
    }
    cd_runtime_free(rt);
out:
    cd_logger_free(log);
    cd_config_free(&cfg);
    return rc;
}
