/*
 * config.c — command line and --config YAML (see config.h).
 *
 * One table describes every option: its flag, how it takes a value, where
 * it is stored and its --help text.  The command line is parsed as
 * Python's argparse parses ComfyUI's (the same flags, "--flag=value",
 * unambiguous prefixes such as "--verb", optional values for --listen,
 * --enable-cors-header and --verbose); a YAML file given with --config sets
 * the same keys first, and the command line wins over it.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "buf.h"
#include "comfy/comfy.h"
#include "pyjson.h"

typedef enum opt_kind {
    K_STR,      /* --flag VALUE                                   */
    K_OPTSTR,   /* --flag [VALUE]: bare gives `konst`             */
    K_INT,      /* --flag N                                       */
    K_LONG,
    K_FLOAT,
    K_BOOL,     /* --flag: sets 1                                 */
    K_LIST,     /* --flag VALUE, repeatable                       */
    K_LISTPLUS, /* --flag VALUE [VALUE...], repeatable            */
    K_CHOICE,   /* --flag VALUE among `choices`                   */
    K_VERBOSE,  /* --verbose [LEVEL]                              */
    K_CONFIG,   /* --config FILE (read before everything else)    */
    K_HELP,
    K_VERSION
} opt_kind;

typedef struct opt {
    const char *name;       /* without the leading "--" */
    opt_kind kind;
    size_t off;             /* field in cd_config */
    size_t count_off;       /* K_LIST*: the size_t count field */
    const char *konst;      /* K_OPTSTR: the bare value */
    const char *const *choices;
    const char *metavar;
    const char *help;
} opt;

static const char *const preview_choices[] = {"none", "auto", "latent2rgb",
                                              "taesd", NULL};
static const char *const hash_choices[] = {"md5", "sha1", "sha256", "sha512",
                                           NULL};
static const char *const verbose_choices[] = {"DEBUG", "INFO", "WARNING",
                                              "ERROR", "CRITICAL", NULL};

#define F(field) offsetof(cd_config, field)
static const opt opts[] = {
    {"listen", K_OPTSTR, F(listen), 0, "0.0.0.0,::", NULL, "[IP]",
     "Listen on IP or comma-separated IPs (default 127.0.0.1; the bare flag "
     "means 0.0.0.0,:: - every IPv4 and IPv6 address)."},
    {"port", K_INT, F(port), 0, NULL, NULL, "PORT",
     "Listen port (default 8188)."},
    {"base-directory", K_STR, F(base_directory), 0, NULL, NULL, "DIR",
     "Base directory for models/, custom_nodes/, input/, output/, temp/ and "
     "user/ (default: the current directory)."},
    {"input-directory", K_STR, F(input_directory), 0, NULL, NULL, "DIR",
     "Input directory (default <base>/input)."},
    {"output-directory", K_STR, F(output_directory), 0, NULL, NULL, "DIR",
     "Output directory (default <base>/output)."},
    {"temp-directory", K_STR, F(temp_directory), 0, NULL, NULL, "DIR",
     "Temp directory: temporary files go to DIR/temp (default <base>/temp)."},
    {"user-directory", K_STR, F(user_directory), 0, NULL, NULL, "DIR",
     "User directory; must exist (default <base>/user)."},
    {"extra-model-paths-config", K_LISTPLUS, F(extra_model_paths),
     F(n_extra_model_paths), NULL, NULL, "PATH [PATH ...]",
     "Load one or more extra_model_paths.yaml files (repeatable)."},
    {"front-end-root", K_STR, F(front_end_root), 0, NULL, NULL, "DIR",
     "Directory of the web frontend to serve; must exist."},
    {"enable-cors-header", K_OPTSTR, F(cors_origin), 0, "*", NULL, "[ORIGIN]",
     "Send CORS headers allowing ORIGIN (bare flag: '*'); also turns the "
     "origin check off."},
    {"max-upload-size", K_FLOAT, F(max_upload_size_mb), 0, NULL, NULL, "MB",
     "Largest request body in MB (default 100)."},
    {"multi-user", K_BOOL, F(multi_user), 0, NULL, NULL, NULL,
     "Per-user storage chosen by the Comfy-User header."},
    {"disable-all-custom-nodes", K_BOOL, F(disable_all_custom_nodes), 0, NULL,
     NULL, NULL,
     "Load only the node packs shipped with comfyd (the built-in pack "
     "directory); --nodepack-dir directories are skipped."},
    {"preview-method", K_CHOICE, F(preview_method), 0, NULL, preview_choices,
     "{none,auto,latent2rgb,taesd}",
     "Sampler preview images (default none; auto means latent2rgb)."},
    {"preview-size", K_INT, F(preview_size), 0, NULL, NULL, "N",
     "Largest side of preview images (default 512)."},
    {"verbose", K_VERBOSE, F(log_level), 0, NULL, verbose_choices, "[LEVEL]",
     "Log level DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO; the "
     "bare flag means DEBUG)."},
    {"cpu", K_BOOL, F(cpu), 0, NULL, NULL, NULL,
     "Run every computation on the CPU."},
    {"enable-compress-response-body", K_BOOL, F(enable_compress), 0, NULL,
     NULL, NULL, "Gzip JSON and text responses when the client accepts it."},
    {"disable-metadata", K_BOOL, F(disable_metadata), 0, NULL, NULL, NULL,
     "Do not write the prompt and workflow into saved image files."},
    {"default-hashing-function", K_CHOICE, F(hashing_function), 0, NULL,
     hash_choices, "{md5,sha1,sha256,sha512}",
     "Hash used to detect duplicate uploads (default sha256)."},
    {"cache-classic", K_BOOL, F(cache_classic), 0, NULL, NULL, NULL,
     "Classic output cache: keep the last prompt's outputs (default)."},
    {"cache-lru", K_INT, F(cache_lru), 0, NULL, NULL, "N",
     "LRU output cache of N node results."},
    {"cache-none", K_BOOL, F(cache_none), 0, NULL, NULL, NULL,
     "No output cache: every node runs every time."},
    {"dont-print-server", K_BOOL, F(dont_print_server), 0, NULL, NULL, NULL,
     "Do not log each request."},
    {"quick-test-for-ci", K_BOOL, F(quick_test_for_ci), 0, NULL, NULL, NULL,
     "Exit right after start-up (loads packs and folders, then quits)."},
    {"list-node-classes", K_BOOL, F(list_node_classes), 0, NULL, NULL, NULL,
     "Print one line \"PACK CLASS\" per registered node class and exit "
     "(packaging fills Comfyd-Node-Classes from it)."},
    {"log-stdout", K_BOOL, F(log_stdout), 0, NULL, NULL, NULL,
     "Write the log to stdout instead of stderr."},
    {"disable-auto-launch", K_BOOL, F(disable_auto_launch), 0, NULL, NULL, NULL,
     "Accepted for ComfyUI compatibility: comfyd never opens a browser."},
    {"disable-api-nodes", K_BOOL, F(disable_api_nodes), 0, NULL, NULL, NULL,
     "Accepted for ComfyUI compatibility: no pack marks API nodes to load "
     "or skip (packs may read it with host->setting)."},
    {"nodepack-dir", K_LIST, F(nodepack_dirs), F(n_nodepack_dirs), NULL, NULL,
     "DIR",
     "Load node packs (*.so) from DIR (repeatable; default: the built-in "
     "pack directory)."},
    {"config", K_CONFIG, 0, 0, NULL, NULL, "FILE",
     "YAML file with the same keys as these flags without the dashes "
     "(port: 8189, nodepack-dir: [a, b], ...); flags win over it."},
    {"threads", K_INT, F(threads), 0, NULL, NULL, "N",
     "Compute threads (default: the number of online cores)."},
    {"history-max", K_LONG, F(history_max), 0, NULL, NULL, "N",
     "History entries kept (default 10000)."},
    {"queue-max", K_LONG, F(queue_max), 0, NULL, NULL, "N",
     "Pending prompts accepted at once (default 10000)."},
    {"help", K_HELP, 0, 0, NULL, NULL, NULL, "Show this help and exit."},
    {"version", K_VERSION, 0, 0, NULL, NULL, NULL,
     "Show the version and exit."},
};
#undef F
#define N_OPTS (sizeof opts / sizeof opts[0])

#ifndef COMFYD_VERSION
#define COMFYD_VERSION "0"
#endif

static void defaults(cd_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = 8188;
    c->max_upload_size_mb = 100;
    c->threads = 0;
    c->history_max = 10000;
    c->queue_max = 10000;
    c->preview_size = 512;
    c->log_level = COMFY_LOG_INFO;
}

void cd_config_free(cd_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt *o = &opts[i];
        char **pp = (char **)((char *)c + o->off);
        switch (o->kind) {
        case K_STR: case K_OPTSTR: case K_CHOICE:
            free(*pp);
            *pp = NULL;
            break;
        case K_LIST: case K_LISTPLUS: {
            size_t *n = (size_t *)((char *)c + o->count_off);
            for (size_t j = 0; j < *n; j++) {
                free(pp[j]);
                pp[j] = NULL;
            }
            *n = 0;
            break;
        }
        default:
            break;
        }
    }
}

static void print_help(FILE *f)
{
    fprintf(f, "usage: comfyd [options]\n\n"
               "A ComfyUI-compatible workflow server.\n\noptions:\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", opts[i].name,
                 opts[i].metavar ? " " : "",
                 opts[i].metavar ? opts[i].metavar : "");
        fprintf(f, "  %-40s %s\n", left, opts[i].help);
    }
}

/* Finds an option by exact name or unique prefix (argparse's rule).
 * Returns it, or NULL with *ambiguous set when two or more match. */
static const opt *find_opt(const char *name, size_t len, int *ambiguous)
{
    const opt *hit = NULL;
    int n = 0;
    *ambiguous = 0;
    for (size_t i = 0; i < N_OPTS; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
        if (strncmp(opts[i].name, name, len) == 0) {
            hit = &opts[i];
            n++;
        }
    }
    if (n > 1) {
        *ambiguous = 1;
        return NULL;
    }
    return hit;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int set_str(char **field, const char *v)
{
    char *d = strdup(v);
    if (!d)
        return -1;
    free(*field);
    *field = d;
    return 0;
}

/* Stores `v` into option `o`.  `from` names the source for messages.
 * Returns 0, or 2 after printing the reason. */
static int apply(cd_config *c, const opt *o, const char *v, const char *from)
{
    void *field = (char *)c + o->off;
    switch (o->kind) {
    case K_STR:
    case K_OPTSTR:
        if (set_str((char **)field, v) < 0)
            goto nomem;
        return 0;
    case K_CHOICE:
    case K_VERBOSE: {
        size_t i;
        for (i = 0; o->choices[i]; i++)
            if (strcmp(o->choices[i], v) == 0)
                break;
        if (!o->choices[i]) {
            fprintf(stderr, "comfyd: error: %s --%s: invalid choice: '%s' "
                            "(choose from", from, o->name, v);
            for (size_t j = 0; o->choices[j]; j++)
                fprintf(stderr, "%s'%s'", j ? ", " : " ", o->choices[j]);
            fprintf(stderr, ")\n");
            return 2;
        }
        if (o->kind == K_VERBOSE) {
            /* DEBUG..CRITICAL -> comfy_log_level; CRITICAL logs errors. */
            int lvl = (int)i;
            if (lvl > COMFY_LOG_ERROR)
                lvl = COMFY_LOG_ERROR;
            c->log_level = lvl;
            c->verbose = lvl == COMFY_LOG_DEBUG;
            return 0;
        }
        if (set_str((char **)field, v) < 0)
            goto nomem;
        return 0;
    }
    case K_INT:
    case K_LONG: {
        long n;
        long lo = 0;
        long hi = o->kind == K_INT ? 2147483647L : 0x7fffffffffffffffL;
        if (strcmp(o->name, "port") == 0)
            hi = 65535;
        if (parse_long(v, lo, hi, &n) < 0) {
            fprintf(stderr, "comfyd: error: %s --%s: invalid value: '%s' "
                            "(expected an integer from %ld to %ld)\n",
                    from, o->name, v, lo, hi);
            return 2;
        }
        if (o->kind == K_INT)
            *(int *)field = (int)n;
        else
            *(long *)field = n;
        return 0;
    }
    case K_FLOAT: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(d) || d < 0) {
            fprintf(stderr, "comfyd: error: %s --%s: invalid value: '%s' "
                            "(expected a non-negative number)\n",
                    from, o->name, v);
            return 2;
        }
        *(double *)field = d;
        if (strcmp(o->name, "max-upload-size") == 0)
            c->max_upload_size_given = 1;
        return 0;
    }
    case K_BOOL:
        *(int *)field = 1;
        return 0;
    case K_LIST:
    case K_LISTPLUS: {
        size_t *n = (size_t *)((char *)c + o->count_off);
        char **list = field;
        if (*n >= CD_CONFIG_MAX_LIST) {
            fprintf(stderr, "comfyd: error: %s --%s: at most %d values\n",
                    from, o->name, CD_CONFIG_MAX_LIST);
            return 2;
        }
        list[*n] = strdup(v);
        if (!list[*n])
            goto nomem;
        (*n)++;
        return 0;
    }
    default:
        return 0;
    }
nomem:
    fprintf(stderr, "comfyd: error: out of memory\n");
    return 2;
}

static void clear_list(cd_config *c, const opt *o)
{
    size_t *n = (size_t *)((char *)c + o->count_off);
    char **list = (char **)((char *)c + o->off);
    for (size_t j = 0; j < *n; j++) {
        free(list[j]);
        list[j] = NULL;
    }
    *n = 0;
}

/* ---- YAML ------------------------------------------------------------------ */

static int yaml_truth(const char *s, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES", "on", "On", "ON", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO", "off", "Off", "OFF", NULL};
    for (size_t i = 0; yes[i]; i++)
        if (strcmp(s, yes[i]) == 0)
            return *out = 1, 0;
    for (size_t i = 0; no[i]; i++)
        if (strcmp(s, no[i]) == 0)
            return *out = 0, 0;
    return -1;
}

static int is_null_scalar(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
            strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

/* Applies one key of the --config file.  0 or 2. */
static int apply_yaml(cd_config *c, const char *path, yaml_document_t *doc,
                      const char *key, yaml_node_t *val)
{
    char name[64];
    size_t k = 0;
    for (; key[k] && k < sizeof name - 1; k++)
        name[k] = key[k] == '_' ? '-' : key[k];
    name[k] = '\0';
    const opt *o = NULL;
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            o = &opts[i];
    char from[300];
    snprintf(from, sizeof from, "%s:", path);
    if (!o || o->kind == K_CONFIG || o->kind == K_HELP || o->kind == K_VERSION) {
        fprintf(stderr, "comfyd: error: %s unknown key '%s'\n", path, key);
        return 2;
    }
    if (o->kind == K_LIST || o->kind == K_LISTPLUS) {
        clear_list(c, o);
        if (val->type == YAML_SCALAR_NODE) {
            if (is_null_scalar(val))
                return 0;
            return apply(c, o, (const char *)val->data.scalar.value, from);
        }
        if (val->type != YAML_SEQUENCE_NODE)
            goto bad;
        for (yaml_node_item_t *it = val->data.sequence.items.start;
             it < val->data.sequence.items.top; it++) {
            yaml_node_t *n = yaml_document_get_node(doc, *it);
            if (!n || n->type != YAML_SCALAR_NODE)
                goto bad;
            int rc = apply(c, o, (const char *)n->data.scalar.value, from);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (val->type != YAML_SCALAR_NODE)
        goto bad;
    const char *s = (const char *)val->data.scalar.value;
    if (o->kind == K_BOOL) {
        int b;
        if (yaml_truth(s, &b) < 0)
            goto bad;
        *(int *)((char *)c + o->off) = b;
        return 0;
    }
    if (o->kind == K_OPTSTR && is_null_scalar(val))
        return apply(c, o, o->konst, from);
    if (o->kind == K_VERBOSE) {
        int b;
        if (is_null_scalar(val))
            return apply(c, o, "DEBUG", from);
        if (yaml_truth(s, &b) == 0) /* verbose: true/false */
            return apply(c, o, b ? "DEBUG" : "INFO", from);
    }
    if (is_null_scalar(val))
        return 0;
    return apply(c, o, s, from);
bad:
    fprintf(stderr, "comfyd: error: %s key '%s' has a value of the wrong kind\n",
            path, key);
    return 2;
}

/* Reads the --config YAML file into c.  0, or 2 after a message. */
static int load_yaml(cd_config *c, const char *path)
{
    int rc = 2;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "comfyd: error: cannot read config file '%s': %s\n",
                path, strerror(errno));
        return 2;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        fprintf(stderr, "comfyd: error: out of memory\n");
        return 2;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "comfyd: error: config file '%s': %s at line %zu\n",
                path, parser.problem ? parser.problem : "invalid YAML",
                parser.problem_mark.line + 1);
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) { /* an empty file sets nothing */
        rc = 0;
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        fprintf(stderr, "comfyd: error: config file '%s' is not a mapping of "
                        "option names to values\n", path);
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            fprintf(stderr, "comfyd: error: config file '%s': keys must be "
                            "option names\n", path);
            goto out;
        }
        if (apply_yaml(c, path, &doc, (const char *)k->data.scalar.value, v))
            goto out;
    }
    rc = 0;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- command line ---------------------------------------------------------- */

/* Whether argv[i] may be taken as the value of an optional-value flag:
 * argparse takes it unless it looks like an option. */
static int takes_value(int i, int argc, char **argv)
{
    return i < argc && !(argv[i][0] == '-' && argv[i][1] != '\0' &&
                         !(argv[i][1] >= '0' && argv[i][1] <= '9'));
}

int cd_config_parse(cd_config *c, int argc, char **argv)
{
    defaults(c);
    int rc;

    /* --config first: the file sets values the command line then overrides. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strncmp(a, "--", 2) != 0)
            continue;
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        int amb;
        const opt *o = find_opt(a + 2, len, &amb);
        if (!o || o->kind != K_CONFIG)
            continue;
        const char *file = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        if (!file) {
            fprintf(stderr, "comfyd: error: argument --config: expected one "
                            "argument\n");
            goto bad;
        }
        if (load_yaml(c, file))
            goto bad;
    }

    int cli_list_seen[N_OPTS];
    memset(cli_list_seen, 0, sizeof cli_list_seen);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            fprintf(stderr, "comfyd: error: unrecognized arguments: %s\n"
                            "(see comfyd --help)\n", a);
            goto bad;
        }
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        int amb;
        const opt *o = find_opt(a + 2, len, &amb);
        if (!o) {
            if (amb)
                fprintf(stderr, "comfyd: error: ambiguous option: %.*s\n",
                        (int)len + 2, a);
            else
                fprintf(stderr, "comfyd: error: unrecognized arguments: %s\n"
                                "(see comfyd --help)\n", a);
            goto bad;
        }
        char from[80];
        snprintf(from, sizeof from, "argument");
        switch (o->kind) {
        case K_HELP:
            print_help(stdout);
            cd_config_free(c);
            return 1;
        case K_VERSION:
            printf("comfyd %s (SDK ABI %d.%d)\n", COMFYD_VERSION,
                   COMFY_ABI_MAJOR, COMFY_ABI_MINOR);
            cd_config_free(c);
            return 1;
        case K_BOOL:
            if (eq) {
                fprintf(stderr, "comfyd: error: argument --%s: ignored explicit "
                                "argument '%s'\n", o->name, eq + 1);
                goto bad;
            }
            *(int *)((char *)c + o->off) = 1;
            break;
        case K_OPTSTR:
        case K_VERBOSE: {
            const char *v;
            if (eq)
                v = eq + 1;
            else if (takes_value(i + 1, argc, argv))
                v = argv[++i];
            else
                v = o->kind == K_OPTSTR ? o->konst : "DEBUG";
            if ((rc = apply(c, o, v, from)))
                goto bad;
            break;
        }
        case K_CONFIG:
            if (!eq)
                i++;
            break;
        case K_LIST:
        case K_LISTPLUS: {
            size_t idx = (size_t)(o - opts);
            if (!cli_list_seen[idx]) {
                clear_list(c, o);
                cli_list_seen[idx] = 1;
            }
            int got = 0;
            if (eq) {
                if ((rc = apply(c, o, eq + 1, from)))
                    goto bad;
                got = 1;
            }
            if (!eq || o->kind == K_LISTPLUS) {
                while (takes_value(i + 1, argc, argv)) {
                    if ((rc = apply(c, o, argv[++i], from)))
                        goto bad;
                    got = 1;
                    if (o->kind == K_LIST)
                        break;
                }
            }
            if (!got) {
                fprintf(stderr, "comfyd: error: argument --%s: expected %s\n",
                        o->name, o->kind == K_LIST ? "one argument"
                                                   : "at least one argument");
                goto bad;
            }
            break;
        }
        default: {
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
            if (!eq) {
                if (!v || !takes_value(i + 1, argc, argv)) {
                    fprintf(stderr, "comfyd: error: argument --%s: expected one "
                                    "argument\n", o->name);
                    goto bad;
                }
                i++;
            }
            if ((rc = apply(c, o, v, from)))
                goto bad;
            break;
        }
        }
    }
    /* As ComfyUI's argparse (type=is_valid_directory): these two must name
     * existing directories. */
    const char *must_exist[][2] = {{"front-end-root", c->front_end_root},
                                   {"user-directory", c->user_directory}};
    for (size_t i = 0; i < 2; i++) {
        struct stat st;
        if (must_exist[i][1] &&
            (stat(must_exist[i][1], &st) < 0 || !S_ISDIR(st.st_mode))) {
            fprintf(stderr, "comfyd: error: argument --%s: invalid is_valid_directory "
                            "value: '%s' (not an existing directory)\n",
                    must_exist[i][0], must_exist[i][1]);
            goto bad;
        }
    }
    if (!c->listen && set_str(&c->listen, "127.0.0.1") < 0)
        goto bad;
    if (!c->preview_method && set_str(&c->preview_method, "none") < 0)
        goto bad;
    if (!c->hashing_function && set_str(&c->hashing_function, "sha256") < 0)
        goto bad;
    return 0;
bad:
    cd_config_free(c);
    return 2;
}

/* ---- reading settings back (host->setting) --------------------------------- */

size_t cd_config_option_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].kind != K_CONFIG && opts[i].kind != K_HELP &&
            opts[i].kind != K_VERSION)
            n++;
    return n;
}

/* The i-th settable option (skipping --config, --help, --version). */
static const opt *settable(size_t i)
{
    for (size_t k = 0; k < N_OPTS; k++) {
        if (opts[k].kind == K_CONFIG || opts[k].kind == K_HELP ||
            opts[k].kind == K_VERSION)
            continue;
        if (i-- == 0)
            return &opts[k];
    }
    return NULL;
}

const char *cd_config_option_name(size_t i)
{
    const opt *o = settable(i);
    return o ? o->name : NULL;
}

int cd_config_option_text(const cd_config *c, size_t i, cd_buf *out)
{
    const opt *o = settable(i);
    if (!o)
        return -1;
    const void *field = (const char *)c + o->off;
    switch (o->kind) {
    case K_STR: case K_OPTSTR: case K_CHOICE: {
        const char *v = *(char *const *)field;
        if (!v)
            return 1;
        return cd_buf_puts(out, v) < 0 ? -1 : 0;
    }
    case K_INT:
        return cd_buf_printf(out, "%d", *(const int *)field) < 0 ? -1 : 0;
    case K_LONG:
        return cd_buf_printf(out, "%ld", *(const long *)field) < 0 ? -1 : 0;
    case K_FLOAT:
        /* Python's repr, as ComfyUI would print the float: "100.0". */
        return cd_json_dump_double(out, *(const double *)field) < 0 ? -1 : 0;
    case K_BOOL:
        return cd_buf_puts(out, *(const int *)field ? "1" : "0") < 0 ? -1 : 0;
    case K_VERBOSE: {
        int lvl = c->log_level;
        if (lvl < 0 || lvl > COMFY_LOG_ERROR)
            lvl = COMFY_LOG_INFO;
        return cd_buf_puts(out, verbose_choices[lvl]) < 0 ? -1 : 0;
    }
    case K_LIST: case K_LISTPLUS: {
        size_t n = *(const size_t *)((const char *)c + o->count_off);
        char *const *list = field;
        if (n == 0)
            return 1;
        for (size_t j = 0; j < n; j++)
            if ((j && cd_buf_putc(out, '\n') < 0) || cd_buf_puts(out, list[j]) < 0)
                return -1;
        return 0;
    }
    default:
        return 1;
    }
}
