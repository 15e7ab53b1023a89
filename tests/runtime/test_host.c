/* runtime_host: the comfy_host table — every member filled, folder and
 * file services, logging through the host. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "paths.h"
#include "value.h"

int main(void)
{
    char base[64], p[512], q[4096];
    snprintf(base, sizeof base, "/tmp/rthostXXXXXX");
    if (!mkdtemp(base))
        return 1;
    snprintf(p, sizeof p, "mkdir -p %s/models/loras/sub %s/input && touch "
                          "%s/models/loras/sub/b.safetensors %s/models/loras/a.pt "
                          "%s/input/x.png",
             base, base, base, base, base);
    CHECK(system(p) == 0);
    char *argv[] = {"comfyd", "--base-directory", base, "--preview-method", "auto",
                    "--disable-metadata", "--nodepack-dir", "a", "--nodepack-dir", "b",
                    "--max-upload-size", "50", NULL};
    cd_config cfg;
    CHECK_INT(cd_config_parse(&cfg, 12, argv), 0);
    cd_logger *log = cd_logger_new(50, 0);
    cd_paths *paths = cd_paths_new(&cfg, log);
    cd_host *host = cd_host_new(log, paths);
    const comfy_host *h = cd_host_table(host);

    CHECK_INT(h->size, sizeof(comfy_host));
    CHECK_INT(h->abi_major, COMFY_ABI_MAJOR);
    CHECK(h->ctx != NULL);
    /* Every member after ctx is a function pointer and must be set. */
    const unsigned char *raw = (const unsigned char *)h;
    size_t first = offsetof(comfy_host, register_node);
    int missing = 0;
    for (size_t off = first; off + sizeof(void (*)(void)) <= sizeof(comfy_host);
         off += sizeof(void (*)(void))) {
        void (*fn)(void);
        memcpy(&fn, raw + off, sizeof fn);
        if (!fn) {
            fprintf(stderr, "host member at offset %zu is NULL\n", off);
            missing++;
        }
    }
    CHECK_INT(missing, 0);

    /* host->setting (ABI 1.1). */
    CHECK(COMFY_HAS_FIELD(h, comfy_host, setting));
    CHECK(h->setting(h->ctx, "preview-method") == NULL); /* not set up yet */
    CHECK_INT(cd_host_set_config(host, &cfg), 0);
    CHECK_STR(h->setting(h->ctx, "preview-method"), "auto");
    CHECK_STR(h->setting(h->ctx, "preview_method"), "auto");
    CHECK_STR(h->setting(h->ctx, "disable-metadata"), "1");
    CHECK_STR(h->setting(h->ctx, "cpu"), "0");
    CHECK_STR(h->setting(h->ctx, "preview-size"), "512");
    CHECK_STR(h->setting(h->ctx, "threads"), "0");
    CHECK_STR(h->setting(h->ctx, "verbose"), "INFO");
    CHECK_STR(h->setting(h->ctx, "max-upload-size"), "50.0");
    CHECK_STR(h->setting(h->ctx, "nodepack-dir"), "a\nb");
    CHECK_STR(h->setting(h->ctx, "listen"), "127.0.0.1");
    CHECK_STR(h->setting(h->ctx, "base-directory"), base);
    CHECK(h->setting(h->ctx, "front-end-root") == NULL);
    CHECK(h->setting(h->ctx, "extra-model-paths-config") == NULL);
    CHECK(h->setting(h->ctx, "config") == NULL);
    CHECK(h->setting(h->ctx, "no-such-flag") == NULL);
    CHECK(h->setting(h->ctx, NULL) == NULL);

    snprintf(p, sizeof p, "%s/input", base);
    CHECK_STR(h->directory(h->ctx, "input"), p);
    snprintf(p, sizeof p, "%s/user", base);
    CHECK_STR(h->directory(h->ctx, "user"), p);
    CHECK(h->directory(h->ctx, "models") == NULL);

    comfy_value *l = h->value_list(h->ctx);
    CHECK_INT(h->folder_list(h->ctx, "loras", l), COMFY_OK);
    CHECK_INT(h->list_len(l), 2);
    CHECK_STR(h->value_get_string(h->list_get(l, 0)), "a.pt");
    CHECK_STR(h->value_get_string(h->list_get(l, 1)), "sub/b.safetensors");
    CHECK_INT(h->folder_list(h->ctx, "nope", l), COMFY_ENOENT);
    CHECK_INT(h->folder_list(h->ctx, "loras", NULL), COMFY_EINVAL);
    h->value_release(l);

    CHECK_INT(h->folder_resolve(h->ctx, "loras", "sub/b.safetensors", q, sizeof q), COMFY_OK);
    snprintf(p, sizeof p, "%s/models/loras/sub/b.safetensors", base);
    CHECK_STR(q, p);
    CHECK_INT(h->folder_resolve(h->ctx, "loras", "../loras/a.pt", q, sizeof q), COMFY_EACCES);
    CHECK_INT(h->annotated_path(h->ctx, "x.png", q, sizeof q), COMFY_OK);
    CHECK_INT(h->annotated_path(h->ctx, "x.png [output]", q, sizeof q), COMFY_ENOENT);

    comfy_save_path sp = {.size = sizeof sp};
    CHECK_INT(h->save_path(h->ctx, "output", "run/ComfyUI", 8, 8, &sp), COMFY_OK);
    CHECK_INT(sp.counter, 1);
    CHECK_STR(sp.subfolder, "run");
    comfy_save_path old = {.size = 16}; /* too small for the fields */
    CHECK_INT(h->save_path(h->ctx, "output", "x", 8, 8, &old), COMFY_EINVAL);

    /* Logging through the host lands in the ring; a failed tensor_new
     * says why. */
    h->log(h->ctx, COMFY_LOG_WARNING, "from a pack: %d", 7);
    int64_t bad[1] = {-3};
    CHECK(h->tensor_new(h->ctx, COMFY_F32, 1, bad) == NULL);
    cd_buf b;
    cd_buf_init(&b, 1 << 16);
    CHECK(cd_logger_dump(log, 0, &b) == 0);
    CHECK(strstr(b.data, "from a pack: 7\\n") != NULL);
    CHECK(strstr(b.data, "tensor_new(float32, [-3]) failed") != NULL);
    cd_buf_free(&b);

    /* A host without folders. */
    cd_host *bare = cd_host_new(NULL, NULL);
    const comfy_host *hb = cd_host_table(bare);
    CHECK(hb->directory(hb->ctx, "input") == NULL);
    CHECK_INT(hb->folder_resolve(hb->ctx, "loras", "a.pt", q, sizeof q), COMFY_ENOENT);
    cd_host_free(bare);

    cd_host_free(host);
    cd_paths_free(paths);
    cd_logger_free(log);
    cd_config_free(&cfg);
    snprintf(p, sizeof p, "rm -rf %s", base);
    if (system(p) != 0)
        fprintf(stderr, "cleanup failed\n");
    CHECK_DONE();
}
