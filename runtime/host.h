/*
 * host.h — the comfy_host service table handed to node packs.
 *
 * One cd_host per runtime (tests may make their own).  It owns the table
 * and the context (comfy_host_ctx) that the table's functions receive: the
 * logger and the folder layout.  Built on the main thread; the table is
 * read-only afterwards and its functions are thread-safe.
 */
#ifndef CD_HOST_H
#define CD_HOST_H

#include "comfy/comfy.h"
#include "config.h"
#include "log.h"
#include "paths.h"

typedef struct cd_host cd_host;

/* Makes a host table whose log goes to `log` and whose folder functions
 * use `paths` (NULL: directory() gives NULL and the folder functions
 * COMFY_ENOENT).  Both are borrowed and must outlive the host.  The value,
 * tensor and call members come from value.c and call.c.  NULL when memory
 * runs out.  Caller frees with cd_host_free. */
cd_host *cd_host_new(cd_logger *log, const cd_paths *paths);
void cd_host_free(cd_host *h);

/* Makes host->setting answer from `cfg` (copied; the config need not
 * outlive the call).  Until then, or for a host without a config, every
 * setting reads as NULL.  Call before the table is shared.  0, or -1 when
 * memory runs out (the settings then read as NULL). */
int cd_host_set_config(cd_host *h, const cd_config *cfg);

/* The table (borrowed, valid for the host's lifetime). */
const comfy_host *cd_host_table(const cd_host *h);

/* The logger behind a host context (for code that gets only the table). */
cd_logger *cd_host_ctx_logger(const comfy_host_ctx *ctx);

#endif
