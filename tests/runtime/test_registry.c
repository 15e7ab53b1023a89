/* runtime_registry: loading the test packs (good and broken ones) and the
 * /object_info text of their classes, byte for byte.
 * Usage: runtime_registry DIR...  (each a directory of test packs). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "paths.h"
#include "registry.h"
#include "value.h"

static const char *const LOAD_IMAGE =
    "{\"input\": {\"required\": {\"image\": [[\"a.png\", \"b.jpg\"], {\"image_upload\": "
    "true}]}}, \"input_order\": {\"required\": [\"image\"]}, \"output\": [\"IMAGE\", "
    "\"MASK\"], \"output_is_list\": [false, false], \"output_name\": [\"IMAGE\", "
    "\"MASK\"], \"name\": \"LoadImage\", \"display_name\": \"Load Image\", "
    "\"description\": \"\", \"python_module\": \"nodes\", \"category\": \"image\", "
    "\"output_node\": false}";

static const char *const SAVE_IMAGE =
    "{\"input\": {\"required\": {\"images\": [\"IMAGE\", {\"tooltip\": \"The images to "
    "save.\"}], \"filename_prefix\": [\"STRING\", {\"default\": \"ComfyUI\", "
    "\"tooltip\": \"The prefix for the file to save. This may include formatting "
    "information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include "
    "values from nodes.\"}]}, \"hidden\": {\"prompt\": \"PROMPT\", \"extra_pnginfo\": "
    "\"EXTRA_PNGINFO\"}}, \"input_order\": {\"required\": [\"images\", "
    "\"filename_prefix\"], \"hidden\": [\"prompt\", \"extra_pnginfo\"]}, \"output\": [], "
    "\"output_is_list\": [], \"output_name\": [], \"name\": \"SaveImage\", "
    "\"display_name\": \"Save Image\", \"description\": \"Saves the input images to "
    "your ComfyUI output directory.\", \"python_module\": \"nodes\", \"category\": "
    "\"image\", \"output_node\": true}";

static const char *const V3_NODE =
    "{\"input\": {\"required\": {\"value\": [\"INT\", {\"default\": 0, \"min\": "
    "-9223372036854775807, \"max\": 18446744073709551615, \"step\": 1.0}], "
    "\"method\": [\"COMBO\", {\"multiselect\": false, \"options\": [\"nearest-exact\", "
    "\"bilinear\"]}]}, \"optional\": {\"extra\": [\"FLOAT\", {}]}, \"hidden\": "
    "{\"prompt\": [\"PROMPT\"], \"extra_pnginfo\": [\"EXTRA_PNGINFO\"]}}, "
    "\"input_order\": {\"required\": [\"value\", \"method\"], \"optional\": [\"extra\"], "
    "\"hidden\": [\"prompt\", \"extra_pnginfo\"]}, \"output\": [\"INT\", \"STRING\"], "
    "\"output_is_list\": [false, true], \"output_name\": [\"result\", \"STRING\"], "
    "\"output_tooltips\": [\"The result.\", null], \"name\": \"RtV3Node\", "
    "\"display_name\": null, \"description\": \"\", \"python_module\": "
    "\"custom_nodes.rt_good\", \"category\": \"testing\", \"output_node\": true, "
    "\"deprecated\": false, \"experimental\": false, \"api_node\": false}";

static const char *const DOUBLE_NODE =
    "{\"input\": {\"required\": {\"value\": [\"INT\", {\"default\": 1, \"min\": -1000, "
    "\"max\": 1000}]}}, \"input_order\": {\"required\": [\"value\"]}, \"output\": "
    "[\"INT\"], \"output_is_list\": [false], \"output_name\": [\"INT\"], \"name\": "
    "\"RtDouble\", \"display_name\": \"RtDouble\", \"description\": \"\", "
    "\"python_module\": \"custom_nodes.rt_good\", \"category\": \"sd\", "
    "\"output_node\": false, \"output_tooltips\": [\"Twice the value.\"], "
    "\"deprecated\": true}";

static void check_info(const cd_registry *r, const char *name, const char *want)
{
    const cd_class *c = cd_registry_find(r, name);
    CHECK(c != NULL);
    if (!c)
        return;
    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    CHECK(cd_class_object_info(r, c, &b) == 0);
    CHECK_STR(b.data, want);
    cd_buf_free(&b);
}

int main(int argc, char **argv)
{
    char base[64], p[512];
    snprintf(base, sizeof base, "/tmp/rtregXXXXXX");
    if (!mkdtemp(base))
        return 1;
    char *cargv[] = {"comfyd", "--base-directory", base, NULL};
    cd_config cfg;
    CHECK_INT(cd_config_parse(&cfg, 3, cargv), 0);
    cd_logger *log = cd_logger_new(300, 0);
    cd_paths *paths = cd_paths_new(&cfg, log);
    cd_host *host = cd_host_new(log, paths);
    const char *files[] = {"b.jpg", "a.png", "c.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/input/%s", base, files[i]);
        FILE *f = fopen(p, "w");
        if (f)
            fclose(f);
    }

    cd_registry *r = cd_registry_new(cd_host_table(host));
    int loaded = 0;
    for (int i = 1; i < argc; i++) {
        int n = cd_registry_load_dir(r, argv[i]);
        if (n > 0)
            loaded += n;
    }
    CHECK_INT(cd_registry_load_dir(r, "/nonexistent/packs"), -1);
    CHECK_INT(loaded, 2);
    CHECK_INT(cd_registry_pack_count(r), 2);
    CHECK_STR(cd_pack_name(cd_registry_pack_at(r, 0)), "rt_good");
    CHECK_STR(cd_pack_name(cd_registry_pack_at(r, 1)), "rt_oldminor");
    CHECK_INT(cd_registry_count(r), 5);
    CHECK_STR(cd_registry_at(r, 0)->def->name, "LoadImage");
    CHECK_STR(cd_registry_at(r, 3)->def->name, "RtDouble");
    CHECK(cd_registry_find(r, "RtInitFail") == NULL);
    CHECK(cd_registry_find(r, "RtDupOwn") == NULL);
    CHECK(cd_registry_find(r, "RtFromTheFuture") == NULL);
    CHECK(cd_registry_find(r, "RtMalformed") == NULL);
    CHECK_INT(cd_pack_class_count(cd_registry_pack_at(r, 0)), 4);

    /* Each broken pack was logged with its reason. */
    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    CHECK(cd_logger_dump(log, 0, &b) == 0);
    CHECK(strstr(b.data, "Loaded node pack rt_good 1.0: 4 nodes") != NULL);
    CHECK(strstr(b.data, "badabi.so: built for SDK ABI 99.0") != NULL);
    CHECK(strstr(b.data, "initfail.so: init failed with status -1") != NULL);
    CHECK(strstr(b.data, "dup.so: init failed: duplicate node class RtDouble") != NULL);
    CHECK(strstr(b.data, "noentry.so: no comfy_pack_entry symbol") != NULL);
    CHECK(strstr(b.data, "malformed.so: init failed: node RtMalformed: input x: options "
                         "are not a JSON object") != NULL);
    CHECK(strstr(b.data, "RtNoExecute has no execute function") != NULL);
    cd_buf_free(&b);

    /* The older-minor pack: fields beyond each struct's size read as 0. */
    const cd_class *old = cd_registry_find(r, "RtOldNode");
    CHECK(old && old->def->size == sizeof(comfy_node_def));
    CHECK(old && old->def->is_changed == NULL && old->def->validate_inputs == NULL);
    CHECK(old && old->def->inputs[0].combo_as_type == 0 &&
          old->def->inputs[0].choices_fn == NULL);
    CHECK(old && old->def->outputs[0].is_list == 0);
    CHECK(cd_pack_info(cd_registry_pack_at(r, 1))->fini == NULL);
    check_info(r, "RtOldNode",
               "{\"input\": {\"required\": {\"mode\": [[\"a\", \"b\"]]}}, "
               "\"input_order\": {\"required\": [\"mode\"]}, \"output\": [\"STRING\"], "
               "\"output_is_list\": [false], \"output_name\": [\"STRING\"], \"name\": "
               "\"RtOldNode\", \"display_name\": \"RtOldNode\", \"description\": \"\", "
               "\"python_module\": \"custom_nodes.rt_oldminor\", \"category\": \"sd\", "
               "\"output_node\": false}");

    check_info(r, "LoadImage", LOAD_IMAGE);
    check_info(r, "SaveImage", SAVE_IMAGE);
    check_info(r, "RtV3Node", V3_NODE);
    check_info(r, "RtDouble", DOUBLE_NODE);

    /* COMBO choices follow the disk. */
    const cd_class *li = cd_registry_find(r, "LoadImage");
    snprintf(p, sizeof p, "%s/input/0.png", base);
    FILE *f = fopen(p, "w");
    if (f)
        fclose(f);
    comfy_value *ch = cd_input_choices(r, cd_class_input(li, "image"));
    CHECK_INT(cd_list_len(ch), 3);
    CHECK_STR(cd_value_get_string(cd_list_get(ch, 0)), "0.png");
    cd_value_release(ch);
    const cd_class *v3 = cd_registry_find(r, "RtV3Node");
    ch = cd_input_choices(r, cd_class_input(v3, "method"));
    CHECK_INT(cd_list_len(ch), 2);
    cd_value_release(ch);
    CHECK(cd_class_input(v3, "nope") == NULL);
    CHECK(cd_class_input(v3, "value")->options != NULL);
    CHECK(cd_class_input(v3, "extra")->options == NULL);

    /* A node runs through the host table. */
    const cd_class *dbl = cd_registry_find(r, "RtDouble");
    CHECK(dbl && dbl->def->execute != NULL);
    const char *web = cd_pack_web_dir(cd_registry_pack_at(r, 0));
    CHECK(web == NULL || strstr(web, "rt_good_web") != NULL);

    cd_registry_free(r);
    cd_host_free(host);
    cd_paths_free(paths);
    cd_logger_free(log);
    cd_config_free(&cfg);
    snprintf(p, sizeof p, "rm -rf %s", base);
    if (system(p) != 0)
        fprintf(stderr, "cleanup failed\n");
    CHECK_DONE();
}
