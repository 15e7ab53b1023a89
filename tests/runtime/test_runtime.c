/* runtime_facade: a whole runtime (folders, packs, executor) and its
 * catalogue routes.  Usage: runtime_facade GOOD_PACK_DIR BAD_PACK_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "pyjson.h"
#include "runtime.h"

static int starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static struct json_object *parse(const cd_buf *b)
{
    char err[128];
    return cd_json_parse(b->data ? b->data : "", b->len, 64, err, sizeof err);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    char base[64], p[512];
    snprintf(base, sizeof base, "/tmp/rtfacXXXXXX");
    if (!mkdtemp(base))
        return 1;
    snprintf(p, sizeof p, "mkdir -p %s/models/embeddings/sub %s/models/loras && touch "
                          "%s/models/embeddings/easyneg.pt %s/models/embeddings/sub/bad.hands.safetensors "
                          "%s/models/loras/l1.safetensors",
             base, base, base, base, base);
    CHECK(system(p) == 0);
    char *cargv[] = {"comfyd", "--base-directory", base, "--nodepack-dir", argv[1],
                     "--nodepack-dir", argv[2], NULL};
    cd_config cfg;
    CHECK_INT(cd_config_parse(&cfg, 7, cargv), 0);
    cd_runtime *rt = cd_runtime_new(&cfg);
    CHECK(rt != NULL);
    if (!rt)
        CHECK_DONE();

    cd_buf b;
    cd_buf_init(&b, 1 << 24);
    CHECK_INT(cd_runtime_object_info(rt, NULL, &b), 200);
    struct json_object *o = parse(&b);
    CHECK(o && json_object_object_length(o) == 4);
    CHECK(o && json_object_object_get_ex(o, "SaveImage", NULL));
    json_object_put(o);
    CHECK(starts_with(b.data, "{\"LoadImage\": {\"input\": "));

    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_object_info(rt, "RtDouble", &b), 200);
    CHECK(starts_with(b.data, "{\"RtDouble\": {\"input\": {\"required\": {\"value\": "));
    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_object_info(rt, "NoSuchNode", &b), 200);
    CHECK_STR(b.data, "{}");

    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_models(rt, NULL, &b), 200);
    CHECK(starts_with(b.data, "[\"checkpoints\", \"configs\", \"loras\", \"vae\", "
                              "\"text_encoders\", \"diffusion_models\", \"clip_vision\", "));
    CHECK(strstr(b.data, "\"audio_encoders\"]") != NULL);
    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_models(rt, "loras", &b), 200);
    CHECK_STR(b.data, "[\"l1.safetensors\"]");
    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_models(rt, "unet", &b), 404);
    CHECK_INT(b.len, 0);
    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_embeddings(rt, &b), 200);
    CHECK_STR(b.data, "[\"easyneg\", \"sub/bad.hands\"]");

    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_folder_paths(rt, &b), 200);
    o = parse(&b);
    CHECK(o && json_object_object_length(o) == 20);
    struct json_object *te;
    CHECK(o && json_object_object_get_ex(o, "text_encoders", &te) &&
          json_object_array_length(te) == 3);
    json_object_put(o);

    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_system_stats(rt, &b), 200);
    o = parse(&b);
    struct json_object *sys, *dev, *v;
    CHECK(o && json_object_object_get_ex(o, "system", &sys) &&
          json_object_object_get_ex(o, "devices", &dev));
    CHECK(o && json_object_object_get_ex(sys, "ram_total", &v) && json_object_get_int64(v) > 0);
    CHECK(o && json_object_object_get_ex(sys, "os", &v) &&
          strcmp(json_object_get_string(v), "posix") == 0);
    CHECK(o && json_object_array_length(dev) == 1);
    json_object_put(o);
    CHECK(strstr(b.data, "\"devices\": [{\"name\": \"cpu\", \"type\": \"cpu\", \"index\": null, ") != NULL);

    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_extensions(rt, &b), 200);
    CHECK_STR(b.data, "[\"/extensions/rt_good/main.js\", \"/extensions/rt_good/sub/more.js\"]");
    CHECK(cd_runtime_extension_dir(rt, "rt_good") != NULL);
    CHECK(cd_runtime_extension_dir(rt, "nope") == NULL);

    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_logs(rt, 1, &b), 200);
    o = parse(&b);
    CHECK(o != NULL);
    json_object_put(o);
    CHECK(strstr(b.data, "Skipped node pack") != NULL);
    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_logs(rt, 0, &b), 200);
    CHECK(b.data[0] == '"' && strstr(b.data, " - Loaded node pack rt_good") != NULL);

    cd_buf_reset(&b);
    CHECK_INT(cd_runtime_status_message(rt, "abc", &b), 0);
    CHECK_STR(b.data, "{\"type\": \"status\", \"data\": {\"status\": {\"exec_info\": "
                      "{\"queue_remaining\": 0}}, \"sid\": \"abc\"}}");
    CHECK_INT(cd_runtime_queue_remaining(rt), 0);

    cd_buf_free(&b);
    cd_runtime_free(rt);
    cd_config_free(&cfg);
    snprintf(p, sizeof p, "rm -rf %s", base);
    if (system(p) != 0)
        fprintf(stderr, "cleanup failed\n");
    CHECK_DONE();
}
