/*
 * runtime_int.h — the cd_runtime struct, shared by runtime.c (lifetime and
 * forwarding), catalog.c (catalogue routes) and sysinfo.c (/system_stats).
 * Not for api/ or node packs.
 */
#ifndef CD_RUNTIME_INT_H
#define CD_RUNTIME_INT_H

#include "config.h"
#include "executor.h"
#include "host.h"
#include "log.h"
#include "paths.h"
#include "registry.h"
#include "runtime.h"

struct cd_runtime {
    const cd_config *cfg;   /* borrowed */
    cd_logger *log;         /* owned when own_log */
    int own_log;
    cd_paths *paths;        /* owned */
    cd_host *host;          /* owned */
    cd_registry *reg;       /* owned */
    cd_executor *ex;        /* owned */
    char *builtin_pack_dir; /* owned: the directory shipped packs live in */
};

/* The largest response body the catalogue routes build. */
#define CD_RUNTIME_BODY_MAX ((size_t)256 << 20)

#endif
