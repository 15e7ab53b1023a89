/* runtime_config: flags, --config YAML, and exit code 2 for bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "comfy/comfy.h"
#include "config.h"

#define ARGV(...) ((char *[]){"comfyd", __VA_ARGS__, NULL})
#define ARGC(v) ((int)(sizeof(v) / sizeof((v)[0])) - 1)

static int parse(cd_config *c, int argc, char **argv)
{
    return cd_config_parse(c, argc, argv);
}

#define PARSE(c, ...)                                                         \
    parse((c), ARGC(((char *[]){"comfyd", __VA_ARGS__, NULL})),               \
          ((char *[]){"comfyd", __VA_ARGS__, NULL}))

static char tmpdir[64];

static char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

int main(void)
{
    cd_config c;
    char *no_args[] = {"comfyd", NULL};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rtcfgXXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;

    CHECK_INT(parse(&c, 1, no_args), 0);
    CHECK_STR(c.listen, "127.0.0.1");
    CHECK_INT(c.port, 8188);
    CHECK(c.max_upload_size_mb == 100.0 && !c.max_upload_size_given);
    CHECK_STR(c.preview_method, "none");
    CHECK_STR(c.hashing_function, "sha256");
    CHECK_INT(c.history_max, 10000);
    CHECK_INT(c.n_nodepack_dirs, 0);
    CHECK(c.cors_origin == NULL && c.base_directory == NULL);
    CHECK_INT(c.log_level, COMFY_LOG_INFO);
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--listen"), 0);
    CHECK_STR(c.listen, "0.0.0.0,::");
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--listen", "--port", "9001"), 0);
    CHECK_STR(c.listen, "0.0.0.0,::");
    CHECK_INT(c.port, 9001);
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--listen", "10.0.0.1", "--port=8189", "--cpu", "--multi-user"), 0);
    CHECK_STR(c.listen, "10.0.0.1");
    CHECK_INT(c.port, 8189);
    CHECK(c.cpu && c.multi_user);
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--enable-cors-header"), 0);
    CHECK_STR(c.cors_origin, "*");
    cd_config_free(&c);
    CHECK_INT(PARSE(&c, "--enable-cors-header", "http://x.example"), 0);
    CHECK_STR(c.cors_origin, "http://x.example");
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--nodepack-dir", "a", "--nodepack-dir=b",
                    "--extra-model-paths-config", "x.yaml", "y.yaml",
                    "--extra-model-paths-config", "z.yaml"), 0);
    CHECK_INT(c.n_nodepack_dirs, 2);
    CHECK_STR(c.nodepack_dirs[1], "b");
    CHECK_INT(c.n_extra_model_paths, 3);
    CHECK_STR(c.extra_model_paths[2], "z.yaml");
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--verbose"), 0);
    CHECK(c.verbose && c.log_level == COMFY_LOG_DEBUG);
    cd_config_free(&c);
    CHECK_INT(PARSE(&c, "--verbose", "WARNING", "--max-upload-size", "50"), 0);
    CHECK(!c.verbose && c.log_level == COMFY_LOG_WARNING);
    CHECK(c.max_upload_size_mb == 50.0 && c.max_upload_size_given);
    cd_config_free(&c);

    /* argparse-style unambiguous prefixes. */
    CHECK_INT(PARSE(&c, "--disable-all", "--preview-m", "auto"), 0);
    CHECK(c.disable_all_custom_nodes);
    CHECK_STR(c.preview_method, "auto");
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--cache-lru", "5", "--temp-directory", "/t", "--base-directory", "/b"), 0);
    CHECK_INT(c.cache_lru, 5);
    CHECK_STR(c.temp_directory, "/t");
    CHECK_STR(c.base_directory, "/b");
    cd_config_free(&c);

    /* Bad flags: exit code 2, config left empty. */
    fprintf(stderr, "--- the following error messages are expected ---\n");
    CHECK_INT(PARSE(&c, "--bogus"), 2);
    CHECK_INT(PARSE(&c, "--port"), 2);
    CHECK_INT(PARSE(&c, "--port", "abc"), 2);
    CHECK_INT(PARSE(&c, "--port", "70000"), 2);
    CHECK_INT(PARSE(&c, "--port", "-1"), 2);
    CHECK_INT(PARSE(&c, "stray"), 2);
    CHECK_INT(PARSE(&c, "--preview-method", "fancy"), 2);
    CHECK_INT(PARSE(&c, "--verbose", "LOUD"), 2);
    CHECK_INT(PARSE(&c, "--c"), 2); /* ambiguous: cpu, cache-*, config */
    CHECK_INT(PARSE(&c, "--cpu=yes"), 2);
    CHECK_INT(PARSE(&c, "--max-upload-size", "lots"), 2);
    CHECK_INT(PARSE(&c, "--nodepack-dir"), 2);
    CHECK_INT(PARSE(&c, "--extra-model-paths-config"), 2);
    CHECK_INT(PARSE(&c, "--config", "/nonexistent/comfyd.yaml"), 2);
    CHECK_INT(PARSE(&c, "--config", write_file("bad.yaml", "port: [1,\n")), 2);
    CHECK_INT(PARSE(&c, "--config", write_file("unknown.yaml", "colour: blue\n")), 2);
    CHECK_INT(PARSE(&c, "--config", write_file("list.yaml", "- port\n")), 2);
    CHECK_INT(PARSE(&c, "--config", write_file("badport.yaml", "port: many\n")), 2);
    CHECK_INT(PARSE(&c, "--config", write_file("badbool.yaml", "cpu: maybe\n")), 2);
    CHECK_INT(PARSE(&c, "--front-end-root", "/nonexistent/web"), 2);
    CHECK_INT(PARSE(&c, "--user-directory", "/nonexistent/user"), 2);
    CHECK_INT(PARSE(&c, "--user-directory", "/etc/hostname"), 2);
    fprintf(stderr, "--- end of expected errors ---\n");

    /* --config: the file first, then flags win. */
    char *cfg = write_file("ok.yaml",
                                 "listen: 0.0.0.0\nport: 8190\n"
                                 "nodepack-dir: [p1, p2]\nmulti_user: true\n"
                                 "enable-cors-header:\nverbose: ERROR\n"
                                 "extra-model-paths-config: one.yaml\n");
    CHECK_INT(PARSE(&c, "--config", cfg), 0);
    CHECK_STR(c.listen, "0.0.0.0");
    CHECK_INT(c.port, 8190);
    CHECK_INT(c.n_nodepack_dirs, 2);
    CHECK_STR(c.nodepack_dirs[0], "p1");
    CHECK(c.multi_user);
    CHECK_STR(c.cors_origin, "*");
    CHECK_INT(c.log_level, COMFY_LOG_ERROR);
    CHECK_INT(c.n_extra_model_paths, 1);
    cd_config_free(&c);
    CHECK_INT(PARSE(&c, "--port", "1234", "--config", cfg, "--nodepack-dir", "p3"), 0);
    CHECK_INT(c.port, 1234);
    CHECK_INT(c.n_nodepack_dirs, 1);
    CHECK_STR(c.nodepack_dirs[0], "p3");
    CHECK_STR(c.listen, "0.0.0.0");
    cd_config_free(&c);
    CHECK_INT(PARSE(&c, "--config", write_file("vb.yaml", "verbose: true\n")), 0);
    CHECK(c.verbose);
    cd_config_free(&c);
    CHECK_INT(PARSE(&c, "--config", write_file("empty.yaml", "")), 0);
    CHECK_INT(c.port, 8188);
    cd_config_free(&c);

    CHECK_INT(PARSE(&c, "--front-end-root", tmpdir, "--user-directory", tmpdir), 0);
    CHECK_STR(c.front_end_root, tmpdir);
    cd_config_free(&c);

    /* --help and --version ask the caller to exit 0. */
    CHECK_INT(PARSE(&c, "--help"), 1);
    CHECK_INT(PARSE(&c, "--version"), 1);
    cd_config_free(&c);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    CHECK_DONE();
}
