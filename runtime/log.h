/*
 * log.h — the server log: stderr (or stdout) plus a bounded in-memory ring that
 * /internal/logs serves.  One cd_logger per runtime, passed explicitly to
 * whoever logs; thread-safe.
 */
#ifndef CD_LOG_H
#define CD_LOG_H

#include <stdarg.h>

#include "buf.h"
#include "comfy/comfy.h"   /* comfy_log_level */

typedef struct cd_logger cd_logger;

/* A logger keeping the last `ring_entries` lines; verbose enables DEBUG. */
cd_logger *cd_logger_new(size_t ring_entries, int verbose);
void cd_logger_free(cd_logger *lg);

/* Logs one line (a trailing newline is added).  lg may be NULL: stderr. */
void cd_log(cd_logger *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cd_vlog(cd_logger *lg, int level, const char *fmt, va_list ap);

/* /internal/logs: the kept lines joined as one string (JSON string);
 * /internal/logs/raw: {"entries": [{"t": ..., "m": ...}], "size": {...}}. */
int cd_logger_dump(cd_logger *lg, int raw, cd_buf *out);

/* Called after each line is kept (on the logging thread, without the
 * logger's lock held) with the time stamp and the text ending in "\n";
 * both borrowed for the call.  api/ uses it for `logs` WebSocket messages.
 * The listener must not block and must not log. */
typedef void (*cd_log_listener)(void *user, const char *t, const char *m);
void cd_logger_set_listener(cd_logger *lg, cd_log_listener fn, void *user);

/* Lines below `level` (a comfy_log_level) are dropped; the default is
 * INFO, or DEBUG for a logger made with verbose. */
void cd_logger_set_level(cd_logger *lg, int level);

/* Writes lines to stdout instead of stderr (--log-stdout).  Main thread,
 * before other threads log. */
void cd_logger_to_stdout(cd_logger *lg, int on);

#endif
