/*
 * sysinfo.c — GET /system_stats (spec/api.md §1.10).
 *
 * Real figures: "os" ("posix"), RAM total and available from
 * /proc/meminfo (as psutil reports them: MemTotal and MemAvailable), the
 * command line from /proc/self/cmdline, and one device, the CPU, whose
 * "vram" numbers are the RAM figures as ComfyUI reports them in CPU mode.
 *
 * Fields that only mean something for a Python server, and what we put:
 *  - "comfyui_version": "0.3.64", the ComfyUI release whose API comfyd
 *    implements (the frontend and scripts gate behaviour on it); comfyd's
 *    own version is added as "comfyd_version" at the end of "system".
 *  - "python_version": "comfyd <version> (C; no Python)" and
 *    "pytorch_version": "none": the frontend shows both in its About panel
 *    and requires strings.
 *  - "embedded_python": false.
 *  - "required_frontend_version" / "required_templates_version": the
 *    versions pinned by that ComfyUI release (1.27.10, 0.1.95);
 *    "installed_templates_version": null, as ComfyUI reports when the
 *    templates package is absent (comfyd ships none).
 *
 * Ours, added after ComfyUI's keys (which keep their meaning):
 *  - "comfyd_models_ram" in "system": bytes of RAM the loaded node packs
 *    hold for models between prompts (the sum of each pack's memory_used,
 *    ABI 1.3); 0 after POST /free {"unload_models": true} once nothing
 *    else references them.  Included in ram_total - ram_free.
 */
#include "runtime_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"

#ifndef COMFYD_VERSION
#define COMFYD_VERSION "0"
#endif

#define COMFYUI_API_VERSION "0.3.64"

/* MemTotal and MemAvailable in bytes.  0 or -1. */
int cd_sysinfo_ram(uint64_t *total, uint64_t *avail)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    int got = 0;
    *total = *avail = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
            *total = (uint64_t)kb * 1024;
            got |= 1;
        } else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            *avail = (uint64_t)kb * 1024;
            got |= 2;
        }
    }
    fclose(f);
    return got == 3 ? 0 : -1;
}

/* Appends the process arguments as a JSON array. */
static int put_argv(cd_buf *out)
{
    if (cd_buf_putc(out, '[') < 0)
        return -1;
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f) {
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        size_t i = 0;
        int first = 1;
        while (i < n) {
            size_t len = strnlen(buf + i, n - i);
            if ((!first && cd_buf_puts(out, ", ") < 0) ||
                cd_json_dump_string(out, buf + i, len) < 0)
                return -1;
            first = 0;
            i += len + 1;
        }
    }
    return cd_buf_putc(out, ']');
}

/* Sum of the loaded packs' memory_used (ABI 1.3; older packs count 0). */
static uint64_t models_ram(cd_runtime *rt)
{
    const comfy_host *host = cd_host_table(rt->host);
    size_t n = cd_registry_pack_count(rt->reg);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const cd_pack *p = cd_registry_pack_at(rt->reg, i);
        const comfy_pack_info *info = p ? cd_pack_info(p) : NULL;
        if (info && COMFY_HAS_FIELD(info, comfy_pack_info, memory_used) &&
            info->memory_used)
            sum += info->memory_used(host);
    }
    return sum;
}

int cd_runtime_system_stats(cd_runtime *rt, cd_buf *out)
{
    uint64_t models = rt ? models_ram(rt) : 0;
    uint64_t total = 0, avail = 0;
    cd_sysinfo_ram(&total, &avail);
    if (cd_buf_printf(out,
                      "{\"system\": {\"os\": \"posix\", \"ram_total\": %llu, "
                      "\"ram_free\": %llu, \"comfyui_version\": \"%s\", "
                      "\"required_frontend_version\": \"1.27.10\", "
                      "\"installed_templates_version\": null, "
                      "\"required_templates_version\": \"0.1.95\", "
                      "\"python_version\": \"comfyd %s (C; no Python)\", "
                      "\"pytorch_version\": \"none\", \"embedded_python\": false, "
                      "\"argv\": ",
                      (unsigned long long)total, (unsigned long long)avail,
                      COMFYUI_API_VERSION, COMFYD_VERSION) < 0 ||
        put_argv(out) < 0 ||
        cd_buf_printf(out,
                      ", \"comfyd_version\": \"%s\", \"comfyd_models_ram\": %llu}, "
                      "\"devices\": [{\"name\": "
                      "\"cpu\", \"type\": \"cpu\", \"index\": null, "
                      "\"vram_total\": %llu, \"vram_free\": %llu, "
                      "\"torch_vram_total\": %llu, \"torch_vram_free\": %llu}]}",
                      COMFYD_VERSION, (unsigned long long)models,
                      (unsigned long long)total,
                      (unsigned long long)avail, (unsigned long long)total,
                      (unsigned long long)avail) < 0)
        return 500;
    return 200;
}
