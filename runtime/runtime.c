/*
 * runtime.c — the runtime facade (see runtime.h): creates folders, host
 * table, registry (loading every pack) and executor, rescans the pack
 * directories on request (SIGHUP), and forwards the prompt, queue and
 * history routes to the executor (with the /free unload hook that reaches
 * each pack's free_memory).  The catalogue routes
 * live in catalog.c and /system_stats in sysinfo.c.
 */
#include "runtime_int.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pyjson.h"

#ifndef COMFYD_INSTALL_PACK_DIR
#define COMFYD_INSTALL_PACK_DIR "/usr/local/lib/comfyd/nodepacks"
#endif

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *cd_runtime_builtin_pack_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            char dir[PATH_MAX + 16];
            *slash = '\0';
            snprintf(dir, sizeof dir, "%s/nodepacks", exe);
            if (is_dir(dir))
                return strdup(dir);
        }
    }
    return strdup(COMFYD_INSTALL_PACK_DIR);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The pack directories in force: the built-in one alone when no
 * directory is configured or with --disable-all-custom-nodes, else the
 * configured ones.  Sets *n; the strings are borrowed from rt and cfg. */
static const char *const *pack_dirs(const cd_runtime *rt, size_t *n)
{
    const cd_config *cfg = rt->cfg;
    if (cfg->disable_all_custom_nodes || cfg->n_nodepack_dirs == 0) {
        *n = 1;
        return (const char *const *)&rt->builtin_pack_dir;
    }
    *n = cfg->n_nodepack_dirs;
    return (const char *const *)cfg->nodepack_dirs;
}

/* Loads the packs of every configured directory. */
static void load_packs(cd_runtime *rt)
{
    const cd_config *cfg = rt->cfg;
    double t0 = now_ms();
    if (cfg->disable_all_custom_nodes && cfg->n_nodepack_dirs)
        cd_log(rt->log, COMFY_LOG_INFO,
               "--disable-all-custom-nodes: only the built-in packs of %s "
               "are loaded", rt->builtin_pack_dir);
    size_t n;
    const char *const *dirs = pack_dirs(rt, &n);
    for (size_t i = 0; i < n; i++)
        cd_registry_load_dir(rt->reg, dirs[i]);
    cd_log(rt->log, COMFY_LOG_INFO, "Node packs: %zu loaded, %zu node classes, "
                                    "%.1f ms",
           cd_registry_pack_count(rt->reg), cd_registry_count(rt->reg),
           now_ms() - t0);
}

/* The executor's unload hook (POST /free {"unload_models": true}): runs
 * on the executor thread between prompts and calls every loaded pack's
 * free_memory (ABI 1.3; older packs have none: their copy of the info is
 * zero-padded, so the field reads NULL). */
static void unload_packs(void *user)
{
    cd_runtime *rt = user;
    const comfy_host *host = cd_host_table(rt->host);
    size_t n = cd_registry_pack_count(rt->reg);
    for (size_t i = 0; i < n; i++) {
        const cd_pack *p = cd_registry_pack_at(rt->reg, i);
        const comfy_pack_info *info = p ? cd_pack_info(p) : NULL;
        if (!info || !COMFY_HAS_FIELD(info, comfy_pack_info, free_memory) ||
            !info->free_memory)
            continue;
        cd_log(rt->log, COMFY_LOG_DEBUG, "unload_models: freeing pack %s", cd_pack_name(p));
        info->free_memory(host, 1);
    }
}

cd_runtime *cd_runtime_new_log(const cd_config *cfg, cd_logger *log)
{
    cd_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->cfg = cfg;
    if (log) {
        rt->log = log;
    } else {
        rt->log = cd_logger_new(300, cfg->verbose);
        rt->own_log = 1;
        if (!rt->log)
            goto fail;
    }
    /* A SIGHUP during start-up waits (blocked, pending) until the server
     * installs its handler and unblocks it; the threads started from here
     * on (executor, compute pools) inherit the block and never take it. */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    rt->builtin_pack_dir = cd_runtime_builtin_pack_dir();
    if (!rt->builtin_pack_dir)
        goto fail;
    rt->paths = cd_paths_new(cfg, rt->log);
    if (!rt->paths)
        goto fail;
    rt->host = cd_host_new(rt->log, rt->paths);
    if (!rt->host || cd_host_set_config(rt->host, cfg) < 0)
        goto fail;
    rt->reg = cd_registry_new(cd_host_table(rt->host));
    if (!rt->reg)
        goto fail;
    load_packs(rt);
    rt->ex = cd_executor_new(cfg, rt->reg, rt->paths, cd_host_table(rt->host),
                             rt->log);
    if (!rt->ex)
        goto fail;
    cd_executor_set_unload_hook(rt->ex, unload_packs, rt);
    return rt;
fail:
    cd_log(log ? log : rt->log, COMFY_LOG_ERROR, "comfyd: start-up failed");
    cd_runtime_free(rt);
    return NULL;
}

cd_runtime *cd_runtime_new(const cd_config *cfg)
{
    return cd_runtime_new_log(cfg, NULL);
}

void cd_runtime_free(cd_runtime *rt)
{
    if (!rt)
        return;
    /* Executor first: its cache holds values the packs made. */
    cd_executor_free(rt->ex);
    cd_registry_free(rt->reg);
    cd_host_free(rt->host);
    cd_paths_free(rt->paths);
    free(rt->builtin_pack_dir);
    if (rt->own_log)
        cd_logger_free(rt->log);
    free(rt);
}

int cd_runtime_rescan_packs(cd_runtime *rt)
{
    if (!rt)
        return 0;
    double t0 = now_ms();
    size_t pack0 = cd_registry_pack_count(rt->reg);
    size_t class0 = cd_registry_count(rt->reg);
    cd_log(rt->log, COMFY_LOG_INFO, "Rescanning node packs");
    size_t n;
    const char *const *dirs = pack_dirs(rt, &n);
    int added = cd_registry_rescan(rt->reg, dirs, n);
    size_t pack1 = cd_registry_pack_count(rt->reg);
    size_t class1 = cd_registry_count(rt->reg);
    if (added <= 0) {
        cd_log(rt->log, COMFY_LOG_INFO, "Rescan of node packs: no new pack "
                                        "(%zu loaded, %zu node classes), %.1f ms",
               pack1, class1, now_ms() - t0);
        return 0;
    }
    cd_log(rt->log, COMFY_LOG_INFO, "Rescan of node packs: added %zu pack%s with "
                                    "%zu node class%s, %.1f ms",
           pack1 - pack0, pack1 - pack0 == 1 ? "" : "s", class1 - class0,
           class1 - class0 == 1 ? "" : "es", now_ms() - t0);
    /* One line per added pack, listing its classes (bounded). */
    cd_buf line;
    cd_buf_init(&line, 4096);
    size_t c = class0;
    for (size_t i = pack0; i < pack1; i++) {
        const cd_pack *p = cd_registry_pack_at(rt->reg, i);
        cd_buf_reset(&line);
        for (size_t k = 0; k < cd_pack_class_count(p) && c < class1; k++, c++) {
            const cd_class *cls = cd_registry_at(rt->reg, c);
            if (cd_buf_printf(&line, "%s%s", k ? ", " : "", cls->def->name) < 0) {
                cd_buf_reset(&line);
                cd_buf_printf(&line, "(%zu classes, too many to list)",
                              cd_pack_class_count(p));
                c += cd_pack_class_count(p) - k;
                break;
            }
        }
        cd_log(rt->log, COMFY_LOG_INFO, "Rescan added node pack %s (%s): %s",
               cd_pack_name(p), cd_pack_path(p), line.len ? line.data : "");
    }
    cd_buf_free(&line);
    return added;
}

const cd_paths *cd_runtime_paths(const cd_runtime *rt) { return rt->paths; }
cd_logger *cd_runtime_logger(const cd_runtime *rt) { return rt->log; }
const cd_registry *cd_runtime_registry(const cd_runtime *rt) { return rt->reg; }
const comfy_host *cd_runtime_host(const cd_runtime *rt)
{
    return cd_host_table(rt->host);
}

void cd_event_free(cd_event *ev)
{
    if (!ev)
        return;
    free(ev->client_id);
    free(ev->json);
    free(ev->rgb);
    free(ev->node_id);
    free(ev->prompt_id);
    free(ev->display_node);
    free(ev->parent_node);
    free(ev->real_node_id);
    free(ev);
}

void cd_runtime_set_event_sink(cd_runtime *rt, cd_event_sink sink, void *user)
{
    cd_executor_set_event_sink(rt->ex, sink, user);
}

int cd_runtime_queue_remaining(cd_runtime *rt)
{
    return cd_executor_queue_remaining(rt->ex);
}

int cd_runtime_status_message(cd_runtime *rt, const char *sid, cd_buf *out)
{
    if (cd_buf_printf(out, "{\"type\": \"status\", \"data\": {\"status\": "
                           "{\"exec_info\": {\"queue_remaining\": %d}}",
                      cd_runtime_queue_remaining(rt)) < 0)
        return -1;
    if (sid && (cd_buf_puts(out, ", \"sid\": ") < 0 ||
                cd_json_dump_string(out, sid, strlen(sid)) < 0))
        return -1;
    return cd_buf_puts(out, "}}");
}

/* ---- forwarded to the executor --------------------------------------------- */

int cd_runtime_get_prompt(cd_runtime *rt, cd_buf *out)
{
    return cd_executor_get_prompt(rt->ex, out);
}

int cd_runtime_post_prompt(cd_runtime *rt, const char *body, size_t len, cd_buf *out)
{
    return cd_executor_post_prompt(rt->ex, body, len, out);
}

int cd_runtime_get_queue(cd_runtime *rt, cd_buf *out)
{
    return cd_executor_get_queue(rt->ex, out);
}

int cd_runtime_post_queue(cd_runtime *rt, const char *body, size_t len, cd_buf *out)
{
    return cd_executor_post_queue(rt->ex, body, len, out);
}

int cd_runtime_get_history(cd_runtime *rt, long max_items, long offset, cd_buf *out)
{
    return cd_executor_get_history(rt->ex, max_items, offset, out);
}

int cd_runtime_get_history_item(cd_runtime *rt, const char *prompt_id, cd_buf *out)
{
    return cd_executor_get_history_item(rt->ex, prompt_id, out);
}

int cd_runtime_post_history(cd_runtime *rt, const char *body, size_t len, cd_buf *out)
{
    return cd_executor_post_history(rt->ex, body, len, out);
}

int cd_runtime_interrupt(cd_runtime *rt, const char *body, size_t len, cd_buf *out)
{
    return cd_executor_interrupt(rt->ex, body, len, out);
}

int cd_runtime_free_memory(cd_runtime *rt, const char *body, size_t len, cd_buf *out)
{
    return cd_executor_free_memory(rt->ex, body, len, out);
}

int cd_runtime_get_jobs(cd_runtime *rt, const char *query, cd_buf *out)
{
    return cd_executor_get_jobs(rt->ex, query, out);
}

int cd_runtime_get_job(cd_runtime *rt, const char *id, cd_buf *out)
{
    return cd_executor_get_job(rt->ex, id, out);
}
