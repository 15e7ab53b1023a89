/*
 * config.h — the server's settings, from the command line and --config.
 *
 * comfyd takes ComfyUI's server flags (spec/api.md §7) plus its own
 * (--nodepack-dir, --config, --threads, --history-max, --queue-max).  A
 * YAML file given with --config holds the same keys with the leading dashes
 * dropped (listen: 0.0.0.0, port: 8189, nodepack-dir: [a, b], ...); flags on
 * the command line win over the file.
 */
#ifndef CD_CONFIG_H
#define CD_CONFIG_H

#include <stddef.h>

#define CD_CONFIG_MAX_LIST 16

typedef struct cd_config {
    char *listen;              /* "127.0.0.1"; bare --listen: "0.0.0.0,::" */
    int port;                  /* 8188 */
    char *base_directory;      /* NULL: the current directory */
    char *input_directory;     /* NULL: <base>/input */
    char *output_directory;    /* NULL: <base>/output */
    char *temp_directory;      /* NULL: <base>/temp */
    char *user_directory;      /* NULL: <base>/user */
    char *extra_model_paths[CD_CONFIG_MAX_LIST]; /* YAML files */
    size_t n_extra_model_paths;
    char *front_end_root;      /* NULL: built-in status page */
    char *cors_origin;         /* NULL: CORS off, origin check on */
    double max_upload_size_mb; /* 100 */
    int multi_user;
    int disable_all_custom_nodes; /* only packs shipped with comfyd */
    char *preview_method;      /* "none" (default), "auto", "latent2rgb", "taesd" */
    int verbose;
    int cpu;
    int enable_compress;       /* --enable-compress-response-body */
    char *nodepack_dirs[CD_CONFIG_MAX_LIST];
    size_t n_nodepack_dirs;    /* 0: the built-in default directory */
    int threads;               /* 0: online cores */
    long history_max;          /* 10000, as ComfyUI */
    long queue_max;            /* pending prompts accepted at once */
    int cache_lru;             /* --cache-lru N (0: classic) */
    int cache_none;            /* --cache-none */
    /* Added after the first contract (append-only). */
    int preview_size;          /* --preview-size, 512 */
    int log_level;             /* --verbose LEVEL as a comfy_log_level (INFO) */
    int disable_metadata;      /* --disable-metadata */
    char *hashing_function;    /* --default-hashing-function, "sha256" */
    int cache_classic;         /* --cache-classic (the default policy anyway) */
    int dont_print_server;     /* --dont-print-server */
    int list_node_classes;     /* --list-node-classes: print, then exit */
    int quick_test_for_ci;     /* --quick-test-for-ci: exit after start-up */
    int max_upload_size_given; /* --max-upload-size was given: /features then
                                  prints max_upload_size as a float (§1.11) */
    int log_stdout;            /* --log-stdout: the log goes to stdout */
    int disable_auto_launch;   /* --disable-auto-launch (comfyd never opens
                                  a browser; accepted as ComfyUI does) */
    int disable_api_nodes;     /* --disable-api-nodes */
} cd_config;

/* Parses argv into *cfg (defaults first, then --config file, then flags).
 * Returns 0 to run, 1 when --help/--version printed and the program should
 * exit 0, or 2 after printing a clear message to stderr for a bad flag or
 * an unreadable config (exit code 2).  As in ComfyUI, --front-end-root and
 * --user-directory must name existing directories.  After 1 or 2 the
 * config holds nothing (cd_config_free is still safe to call). */
int cd_config_parse(cd_config *cfg, int argc, char **argv);

/* Frees every string the config owns. */
void cd_config_free(cd_config *cfg);

/* Reading the settings back by flag name, for host->setting: the options
 * a config holds (every flag but --config, --help and --version), by index,
 * with their long names ("preview-method") and their values as text:
 * switches "1"/"0", integers in decimal, floats in Python repr ("100.0"),
 * choices as given, --verbose as the
 * level name, repeatable flags joined by "\n".  cd_config_option_text
 * appends to `out` and returns 0, 1 when the option is unset (no text),
 * or -1 (bad index, buffer full). */
#include "buf.h"
size_t cd_config_option_count(void);
const char *cd_config_option_name(size_t i);
int cd_config_option_text(const cd_config *cfg, size_t i, cd_buf *out);

#endif
