/*
 * validate.c — ComfyUI's prompt validation (spec/api.md §4): the structure
 * scan, per-output recursive validation with memoisation, value conversion
 * stored back into the prompt, and the exact error objects.
 */
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"
#include "pyjson.h"
#include "value.h"

#define MAX_LINK_DEPTH 4096

/* ---- Python str()/repr() ------------------------------------------------- */

static int repr_str(cd_buf *b, const char *s, size_t n)
{
    char q = '\'';
    if (memchr(s, '\'', n) && !memchr(s, '"', n))
        q = '"';
    if (cd_buf_putc(b, q) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (c == (unsigned char)q || c == '\\')
            rc = cd_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            rc = cd_buf_puts(b, "\\n");
        else if (c == '\r')
            rc = cd_buf_puts(b, "\\r");
        else if (c == '\t')
            rc = cd_buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            rc = cd_buf_printf(b, "\\x%02x", c);
        else
            rc = cd_buf_putc(b, (char)c);
        if (rc < 0)
            return -1;
    }
    return cd_buf_putc(b, q);
}

static int py_float(cd_buf *b, double d)
{
    if (isnan(d))
        return cd_buf_puts(b, "nan");
    if (isinf(d))
        return cd_buf_puts(b, d < 0 ? "-inf" : "inf");
    return cd_json_dump_double(b, d);
}

static int py_any(cd_buf *b, const struct json_object *v, int repr)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return cd_buf_puts(b, "None");
    case json_type_boolean:
        return cd_buf_puts(b, json_object_get_boolean(v) ? "True" : "False");
    case json_type_int:
        return cd_json_dump_int(b, v);
    case json_type_double:
        return py_float(b, json_object_get_double(v));
    case json_type_string:
        if (repr)
            return repr_str(b, json_object_get_string((struct json_object *)v),
                            (size_t)json_object_get_string_len(v));
        return cd_buf_append(b, json_object_get_string((struct json_object *)v),
                             (size_t)json_object_get_string_len(v));
    case json_type_array: {
        if (cd_buf_putc(b, '[') < 0)
            return -1;
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            if (i && cd_buf_puts(b, ", ") < 0)
                return -1;
            if (py_any(b, json_object_array_get_idx(v, i), 1) < 0)
                return -1;
        }
        return cd_buf_putc(b, ']');
    }
    case json_type_object: {
        if (cd_buf_putc(b, '{') < 0)
            return -1;
        int first = 1;
        json_object_object_foreach((struct json_object *)v, k, val) {
            if (!first && cd_buf_puts(b, ", ") < 0)
                return -1;
            first = 0;
            if (repr_str(b, k, strlen(k)) < 0 || cd_buf_puts(b, ": ") < 0 ||
                py_any(b, val, 1) < 0)
                return -1;
        }
        return cd_buf_putc(b, '}');
    }
    }
    return -1;
}

int cd_pystr(cd_buf *out, const struct json_object *v) { return py_any(out, v, 0); }
int cd_pyrepr(cd_buf *out, const struct json_object *v) { return py_any(out, v, 1); }

/* ---- errors -------------------------------------------------------------- */

struct json_object *cd_verror(const char *type, const char *message, const char *details)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object_object_add(e, "message", json_object_new_string(message));
    json_object_object_add(e, "details", json_object_new_string(details ? details : ""));
    json_object_object_add(e, "extra_info", json_object_new_object());
    return e;
}

static struct json_object *extra(struct json_object *e)
{
    return json_object_object_get(e, "extra_info");
}

/* ---- type compatibility (§4.6) ------------------------------------------ */

static int token_in(const char *tok, size_t tn, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        const char *s = p;
        while (n && isspace((unsigned char)*s)) { s++; n--; }
        while (n && isspace((unsigned char)s[n - 1])) n--;
        if (n == tn && memcmp(s, tok, n) == 0)
            return 1;
        if (!c)
            return 0;
        p = c + 1;
    }
}

int cd_types_compatible(const char *r, const char *i)
{
    if (!r || !i)
        return 0;
    if (strcmp(r, i) == 0 || strcmp(r, "*") == 0 || strcmp(i, "*") == 0)
        return 1;
    const char *p = r;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        const char *s = p;
        while (n && isspace((unsigned char)*s)) { s++; n--; }
        while (n && isspace((unsigned char)s[n - 1])) n--;
        if (token_in(s, n, i))
            return 1;
        if (!c)
            return 0;
        p = c + 1;
    }
}

/* ---- validation state ---------------------------------------------------- */

typedef struct vnode {
    const char *id;                 /* borrowed key of the prompt          */
    struct json_object *node;       /* borrowed                            */
    const cd_class *cls;
    int state;                      /* 0 new, 1 in progress, 2 done       */
    int valid;
    struct json_object *errors;     /* owned array                         */
    int order;                      /* when it finished (memo order)       */
} vnode;

typedef struct vctx {
    const cd_registry *reg;
    const comfy_host *host;
    struct json_object *prompt;
    vnode *nodes;
    size_t n;
    struct json_object *index;      /* id -> position; owned               */
    int next_order;
    int oom;
} vctx;

static vnode *vfind(vctx *v, const char *id)
{
    struct json_object *ix;
    if (!json_object_object_get_ex(v->index, id, &ix))
        return NULL;
    return &v->nodes[json_object_get_int(ix)];
}

static int is_v1_combo(const cd_input *in)
{
    return strcmp(in->def->type, "COMBO") == 0 && !in->def->combo_as_type;
}

/* The declared type as JSON: a string, or the choice list of a V1 combo. */
static struct json_object *type_json(vctx *v, const cd_input *in)
{
    if (is_v1_combo(in)) {
        comfy_value *ch = cd_input_choices(v->reg, in);
        struct json_object *j = ch ? cd_value_to_json(ch) : json_object_new_array();
        cd_value_release(ch);
        return j;
    }
    return json_object_new_string(in->def->type);
}

static struct json_object *input_config(vctx *v, const cd_input *in)
{
    struct json_object *a = json_object_new_array();
    json_object_array_add(a, type_json(v, in));
    json_object_array_add(a, in->options ? json_object_get(in->options) : json_object_new_object());
    return a;
}

static int validates_input(const cd_class *c, const char *name)
{
    const char *const *p = c->def->validates;
    if (!c->def->validate_inputs || !p)
        return 0;
    for (; *p; p++)
        if (strcmp(*p, name) == 0 || strcmp(*p, "*") == 0)
            return 1;
    return 0;
}

/* ---- conversions (§4.3 step 3b) ----------------------------------------- */

static const char *pytype(const struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "NoneType";
    case json_type_boolean: return "bool";
    case json_type_int: return "int";
    case json_type_double: return "float";
    case json_type_string: return "str";
    case json_type_array: return "list";
    case json_type_object: return "dict";
    }
    return "object";
}

static void strip(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) { (*s)++; (*n)--; }
    while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* Converts to a new JSON value, or NULL with the exception text in err. */
static struct json_object *to_int(const struct json_object *v, cd_buf *err)
{
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        return json_object_new_int64(json_object_get_boolean(v) ? 1 : 0);
    case json_type_int:
        return json_object_get((struct json_object *)v);
    case json_type_double: {
        double d = json_object_get_double(v);
        if (isnan(d)) { cd_buf_puts(err, "cannot convert float NaN to integer"); return NULL; }
        if (isinf(d)) { cd_buf_puts(err, "cannot convert float infinity to integer"); return NULL; }
        double t = trunc(d);
        if (t >= -9223372036854775808.0 && t < 9223372036854775808.0)
            return json_object_new_int64((int64_t)t);
        if (t >= 0 && t < 18446744073709551616.0)
            return json_object_new_uint64((uint64_t)t);
        cd_buf_puts(err, "integer out of range");
        return NULL;
    }
    case json_type_string: {
        const char *s = json_object_get_string((struct json_object *)v);
        size_t n = strlen(s);
        const char *p = s;
        strip(&p, &n);
        char digits[64];
        size_t k = 0;
        int ok = n > 0;
        for (size_t i = 0; ok && i < n; i++) {
            char c = p[i];
            if ((c == '+' || c == '-') && i == 0) { if (k < sizeof(digits) - 1) digits[k++] = c; }
            else if (isdigit((unsigned char)c)) { if (k < sizeof(digits) - 1) digits[k++] = c; else ok = 0; }
            else if (c == '_' && i > 0 && isdigit((unsigned char)p[i - 1]) && i + 1 < n &&
                     isdigit((unsigned char)p[i + 1])) { }
            else ok = 0;
        }
        digits[k] = 0;
        if (ok && (k == 0 || ((digits[0] == '+' || digits[0] == '-') && k == 1)))
            ok = 0;
        if (ok) {
            errno = 0;
            char *end;
            long long x = strtoll(digits, &end, 10);
            if (errno == 0 && *end == 0)
                return json_object_new_int64(x);
            errno = 0;
            if (digits[0] != '-') {
                unsigned long long u = strtoull(digits, &end, 10);
                if (errno == 0 && *end == 0)
                    return json_object_new_uint64(u);
            }
        }
        cd_buf_puts(err, "invalid literal for int() with base 10: ");
        repr_str(err, s, strlen(s));
        return NULL;
    }
    default:
        cd_buf_printf(err, "int() argument must be a string, a bytes-like object or a real number, not '%s'",
                      pytype(v));
        return NULL;
    }
}

static struct json_object *to_float(const struct json_object *v, cd_buf *err)
{
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        return json_object_new_double(json_object_get_boolean(v) ? 1.0 : 0.0);
    case json_type_int: {
        uint64_t u;
        if (cd_json_is_uint64(v, &u))
            return json_object_new_double((double)u);
        return json_object_new_double((double)json_object_get_int64(v));
    }
    case json_type_double:
        return json_object_new_double(json_object_get_double(v));
    case json_type_string: {
        const char *s = json_object_get_string((struct json_object *)v);
        size_t n = strlen(s);
        const char *p = s;
        strip(&p, &n);
        char tmp[128];
        if (n > 0 && n < sizeof(tmp)) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (p[i] != '_')
                    tmp[k++] = p[i];
            tmp[k] = 0;
            const char *q = tmp;
            int neg = 0;
            if (*q == '+' || *q == '-') { neg = *q == '-'; q++; }
            if (strcasecmp(q, "nan") == 0)
                return json_object_new_double(neg ? -NAN : NAN);
            if (strcasecmp(q, "inf") == 0 || strcasecmp(q, "infinity") == 0)
                return json_object_new_double(neg ? -INFINITY : INFINITY);
            int okchars = 1;
            for (const char *c = q; *c; c++)
                if (!(isdigit((unsigned char)*c) || *c == '.' || *c == 'e' || *c == 'E' ||
                      *c == '+' || *c == '-'))
                    okchars = 0;
            if (okchars && *q) {
                char *end;
                double d = strtod(tmp, &end);
                if (*end == 0)
                    return json_object_new_double(d);
            }
        }
        cd_buf_puts(err, "could not convert string to float: ");
        repr_str(err, s, strlen(s));
        return NULL;
    }
    default:
        cd_buf_printf(err, "float() argument must be a string or a real number, not '%s'", pytype(v));
        return NULL;
    }
}

static int truthy(const struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return 0;
    case json_type_boolean: return json_object_get_boolean(v);
    case json_type_int: return json_object_get_int64(v) != 0 || cd_json_is_uint64(v, NULL);
    case json_type_double: return json_object_get_double(v) != 0.0;
    case json_type_string: return json_object_get_string_len(v) > 0;
    case json_type_array: return json_object_array_length(v) > 0;
    case json_type_object: return json_object_object_length(v) > 0;
    }
    return 0;
}

/* Numeric value as long double for comparisons; 0 if not a number. */
static int num(const struct json_object *v, long double *out)
{
    uint64_t u;
    switch (json_object_get_type(v)) {
    case json_type_boolean: *out = json_object_get_boolean(v); return 1;
    case json_type_int:
        if (cd_json_is_uint64(v, &u)) *out = (long double)u;
        else *out = (long double)json_object_get_int64(v);
        return 1;
    case json_type_double: *out = json_object_get_double(v); return 1;
    default: return 0;
    }
}

/* Python == between a value and a combo option. */
static int py_eq(const struct json_object *a, const struct json_object *b)
{
    long double x, y;
    if (num(a, &x) && num(b, &y))
        return x == y;
    if (json_object_is_type(a, json_type_string) && json_object_is_type(b, json_type_string))
        return strcmp(json_object_get_string((struct json_object *)a),
                      json_object_get_string((struct json_object *)b)) == 0;
    if (json_object_is_type(a, json_type_null) && json_object_is_type(b, json_type_null))
        return 1;
    return 0;
}

/* ---- one node ----------------------------------------------------------- */

static void add_err(vnode *n, struct json_object *e) { json_object_array_add(n->errors, e); }

static char *strbuf(cd_buf *b) { return b->data ? b->data : ""; }

static void validate_node(vctx *v, vnode *n, int depth);

/* Runs the node's validate_inputs hook (§4.3 step 4). */
static void run_custom(vctx *v, vnode *n, struct json_object *inputs,
                       struct json_object *received_types)
{
    const cd_class *c = n->cls;
    const char *const *vp = c->def->validates;
    int kwargs = 0, want_types = 0;
    for (; vp && *vp; vp++) {
        if (strcmp(*vp, "*") == 0) kwargs = 1;
        if (strcmp(*vp, "input_types") == 0) want_types = 1;
    }
    size_t cap = c->n_inputs + 1;
    const char **names = calloc(cap, sizeof(*names));
    comfy_value **lists = calloc(cap, sizeof(*lists));
    int *passed = calloc(cap, sizeof(*passed));
    cd_xcall call;
    int have_call = 0;
    if (!names || !lists || !passed) { v->oom = 1; goto out; }
    size_t k = 0;
    for (size_t i = 0; i < c->n_inputs; i++) {
        const cd_input *in = &c->inputs[i];
        if (in->def->section == COMFY_HIDDEN)
            continue;
        names[k] = in->def->name;
        struct json_object *val = json_object_object_get(inputs, in->def->name);
        if (val && !json_object_is_type(val, json_type_array)) {
            comfy_value *l = cd_value_list();
            if (l) cd_list_append(l, cd_value_from_json(val));
            lists[k] = l;
            passed[k] = kwargs || validates_input(c, in->def->name);
        }
        k++;
    }
    if (want_types) {
        names[k] = "input_types";
        comfy_value *l = cd_value_list();
        comfy_value *m = cd_value_map();
        json_object_object_foreach(received_types, rk, rv)
            cd_map_set(m, rk, cd_value_string(json_object_get_string(rv), (size_t)-1));
        if (l) cd_list_append(l, m); else cd_value_release(m);
        lists[k] = l;
        passed[k] = 1;
        k++;
    }
    if (cd_xcall_init(&call, v->host, c, n->id, "", CD_CALL_VALIDATE) < 0) { v->oom = 1; goto out; }
    have_call = 1;
    call.n_in = k;
    call.in_names = names;
    call.in_lists = lists;
    int rc = c->def->validate_inputs(&call.pub);
    if (rc != COMFY_OK) {
        for (size_t i = 0; i < k; i++) {
            if (!passed[i])
                continue;
            cd_buf d;
            cd_buf_init(&d, 1 << 16);
            if (call.err_msg && *call.err_msg)
                cd_buf_printf(&d, "%s - %s", names[i], call.err_msg);
            else
                cd_buf_puts(&d, names[i]);
            struct json_object *e = cd_verror("custom_validation_failed",
                                              "Custom validation failed for node", strbuf(&d));
            json_object_object_add(extra(e), "input_name", json_object_new_string(names[i]));
            add_err(n, e);
            cd_buf_free(&d);
        }
    }
out:
    if (have_call)
        cd_xcall_clear(&call);
    if (lists)
        for (size_t i = 0; i < cap; i++)
            cd_value_release(lists[i]);
    free(lists);
    free(names);
    free(passed);
}

/* Resolves link [id, idx] to the source node and output type.  On failure
 * fills exception type/text and returns NULL. */
static vnode *resolve_link(vctx *v, struct json_object *val, const char **rtype,
                           const char **etype, cd_buf *etext)
{
    struct json_object *sid = json_object_array_get_idx(val, 0);
    struct json_object *six = json_object_array_get_idx(val, 1);
    const char *id = json_object_get_string(sid);
    vnode *s = json_object_is_type(sid, json_type_string) ? vfind(v, id) : NULL;
    if (!s) {
        *etype = "KeyError";
        cd_pyrepr(etext, sid);
        return NULL;
    }
    if (!json_object_is_type(six, json_type_int)) {
        *etype = "TypeError";
        cd_buf_printf(etext, "tuple indices must be integers or slices, not %s", pytype(six));
        return NULL;
    }
    int64_t ix = json_object_get_int64(six);
    int64_t no = (int64_t)s->cls->def->n_outputs;
    if (ix < 0)
        ix += no;
    if (ix < 0 || ix >= no) {
        *etype = "IndexError";
        cd_buf_puts(etext, "tuple index out of range");
        return NULL;
    }
    *rtype = s->cls->def->outputs[ix].type;
    return s;
}

static struct json_object *inner_exc(const char *etype, const char *text, const char *name,
                                     struct json_object *cfg, struct json_object *link)
{
    struct json_object *e = cd_verror("exception_during_inner_validation",
                                      "Exception when validating inner node", text);
    struct json_object *x = extra(e);
    json_object_object_add(x, "input_name", json_object_new_string(name));
    json_object_object_add(x, "input_config", cfg);
    json_object_object_add(x, "exception_message", json_object_new_string(text));
    json_object_object_add(x, "exception_type", json_object_new_string(etype));
    json_object_object_add(x, "traceback", json_object_new_array());
    json_object_object_add(x, "linked_node", json_object_get(link));
    return e;
}

static void validate_node(vctx *v, vnode *n, int depth)
{
    if (n->state == 2)
        return;
    n->state = 1;
    n->valid = 1;
    const cd_class *c = n->cls;
    struct json_object *inputs = json_object_object_get(n->node, "inputs");
    struct json_object *no_inputs = NULL;   /* a node without "inputs": as {} */
    if (!json_object_is_type(inputs, json_type_object))
        inputs = no_inputs = json_object_new_object();
    struct json_object *received = json_object_new_object();
    int skip_types = 0;
    for (const char *const *p = c->def->validate_inputs ? c->def->validates : NULL; p && *p; p++)
        if (strcmp(*p, "input_types") == 0)
            skip_types = 1;

    for (size_t i = 0; i < c->n_inputs; i++) {
        const cd_input *in = &c->inputs[i];
        const char *x = in->def->name;
        if (in->def->section == COMFY_HIDDEN)
            continue;
        struct json_object *val = json_object_object_get(inputs, x);
        if (!val && !json_object_object_get_ex(inputs, x, NULL)) {
            if (in->def->section == COMFY_REQUIRED) {
                struct json_object *e = cd_verror("required_input_missing",
                                                  "Required input is missing", x);
                json_object_object_add(extra(e), "input_name", json_object_new_string(x));
                add_err(n, e);
                n->valid = 0;
            }
            continue;
        }
        if (json_object_is_type(val, json_type_array)) {
            if (json_object_array_length(val) != 2) {
                struct json_object *e = cd_verror("bad_linked_input",
                    "Bad linked input, must be a length-2 list of [node_id, slot_index]", x);
                json_object_object_add(extra(e), "input_name", json_object_new_string(x));
                json_object_object_add(extra(e), "input_config", input_config(v, in));
                json_object_object_add(extra(e), "received_value", json_object_get(val));
                add_err(n, e);
                n->valid = 0;
                continue;
            }
            const char *rtype = NULL, *etype = NULL;
            cd_buf et;
            cd_buf_init(&et, 1 << 12);
            vnode *s = resolve_link(v, val, &rtype, &etype, &et);
            if (!s) {
                if (depth == 0) {
                    /* raised while validating the output itself */
                    struct json_object *e = cd_verror("exception_during_validation",
                                                      "Exception when validating node", strbuf(&et));
                    json_object_object_add(extra(e), "exception_type", json_object_new_string(etype));
                    json_object_object_add(extra(e), "traceback", json_object_new_array());
                    add_err(n, e);
                } else {
                    add_err(n, inner_exc(etype, strbuf(&et), x, input_config(v, in), val));
                }
                cd_buf_free(&et);
                n->valid = 0;
                continue;
            }
            json_object_object_add(received, x, json_object_new_string(rtype));
            if (!skip_types) {
                int ok;
                if (is_v1_combo(in))
                    ok = strcmp(rtype, "*") == 0 || strcmp(rtype, "COMBO") == 0;
                else
                    ok = cd_types_compatible(rtype, in->def->type);
                if (!ok) {
                    cd_buf d;
                    cd_buf_init(&d, 1 << 16);
                    cd_buf_printf(&d, "%s, received_type(%s) mismatch input_type(", x, rtype);
                    struct json_object *tj = type_json(v, in);
                    cd_pystr(&d, tj);
                    json_object_put(tj);
                    cd_buf_putc(&d, ')');
                    struct json_object *e = cd_verror("return_type_mismatch",
                        "Return type mismatch between linked nodes", strbuf(&d));
                    json_object_object_add(extra(e), "input_name", json_object_new_string(x));
                    json_object_object_add(extra(e), "input_config", input_config(v, in));
                    json_object_object_add(extra(e), "received_type", json_object_new_string(rtype));
                    json_object_object_add(extra(e), "linked_node", json_object_get(val));
                    add_err(n, e);
                    cd_buf_free(&d);
                    cd_buf_free(&et);
                    n->valid = 0;
                    continue;
                }
            }
            if (s->state == 1 || depth >= MAX_LINK_DEPTH) {
                /* A cycle: Python's recursion overflows here. */
                add_err(n,
                        inner_exc("RecursionError", "maximum recursion depth exceeded", x,
                                  input_config(v, in), val));
                cd_buf_free(&et);
                n->valid = 0;
                continue;
            }
            validate_node(v, s, depth + 1);
            cd_buf_free(&et);
            if (!s->valid)
                n->valid = 0;
            continue;
        }
        /* A constant. */
        if (json_object_is_type(val, json_type_object)) {
            struct json_object *inner;
            if (json_object_object_get_ex(val, "__value__", &inner)) {
                json_object_get(inner);
                json_object_object_add(inputs, x, inner);
                val = inner;
            }
        }
        const char *t = in->def->type;
        struct json_object *conv = NULL;
        cd_buf err;
        cd_buf_init(&err, 1 << 12);
        int convert = 1;
        if (strcmp(t, "INT") == 0)
            conv = to_int(val, &err);
        else if (strcmp(t, "FLOAT") == 0)
            conv = to_float(val, &err);
        else if (strcmp(t, "STRING") == 0) {
            if (json_object_is_type(val, json_type_string))
                conv = json_object_get(val);
            else {
                cd_buf s;
                cd_buf_init(&s, 1 << 20);
                cd_pystr(&s, val);
                conv = json_object_new_string_len(strbuf(&s), (int)s.len);
                cd_buf_free(&s);
            }
        } else if (strcmp(t, "BOOLEAN") == 0)
            conv = json_object_new_boolean(truthy(val));
        else
            convert = 0;
        if (convert && !conv) {
            cd_buf d, m;
            cd_buf_init(&d, 1 << 16);
            cd_buf_init(&m, 256);
            cd_buf_printf(&m, "Failed to convert an input value to a %s value", t);
            cd_buf_printf(&d, "%s, ", x);
            cd_pystr(&d, val);
            cd_buf_printf(&d, ", %s", strbuf(&err));
            struct json_object *e = cd_verror("invalid_input_type", strbuf(&m), strbuf(&d));
            json_object_object_add(extra(e), "input_name", json_object_new_string(x));
            json_object_object_add(extra(e), "input_config", input_config(v, in));
            json_object_object_add(extra(e), "received_value", json_object_get(val));
            json_object_object_add(extra(e), "exception_message", json_object_new_string(strbuf(&err)));
            add_err(n, e);
            cd_buf_free(&d);
            cd_buf_free(&m);
            cd_buf_free(&err);
            n->valid = 0;
            continue;
        }
        cd_buf_free(&err);
        if (conv) {
            json_object_object_add(inputs, x, conv);   /* replaces in place */
            val = conv;
        }
        if (validates_input(c, x))
            continue;
        struct json_object *mn = in->options ? json_object_object_get(in->options, "min") : NULL;
        struct json_object *mx = in->options ? json_object_object_get(in->options, "max") : NULL;
        long double lv, lb;
        if (mn && num(val, &lv) && num(mn, &lb) && lv < lb) {
            cd_buf m;
            cd_buf_init(&m, 1 << 12);
            cd_buf_puts(&m, "Value ");
            cd_pystr(&m, val);
            cd_buf_puts(&m, " smaller than min of ");
            cd_pystr(&m, mn);
            struct json_object *e = cd_verror("value_smaller_than_min", strbuf(&m), x);
            json_object_object_add(extra(e), "input_name", json_object_new_string(x));
            json_object_object_add(extra(e), "input_config", input_config(v, in));
            json_object_object_add(extra(e), "received_value", json_object_get(val));
            add_err(n, e);
            cd_buf_free(&m);
            n->valid = 0;
            continue;
        }
        if (mx && num(val, &lv) && num(mx, &lb) && lv > lb) {
            cd_buf m;
            cd_buf_init(&m, 1 << 12);
            cd_buf_puts(&m, "Value ");
            cd_pystr(&m, val);
            cd_buf_puts(&m, " bigger than max of ");
            cd_pystr(&m, mx);
            struct json_object *e = cd_verror("value_bigger_than_max", strbuf(&m), x);
            json_object_object_add(extra(e), "input_name", json_object_new_string(x));
            json_object_object_add(extra(e), "input_config", input_config(v, in));
            json_object_object_add(extra(e), "received_value", json_object_get(val));
            add_err(n, e);
            cd_buf_free(&m);
            n->valid = 0;
            continue;
        }
        if (is_v1_combo(in)) {
            struct json_object *opts = type_json(v, in);
            size_t no = opts ? json_object_array_length(opts) : 0;
            int found = 0;
            for (size_t k = 0; k < no && !found; k++)
                found = py_eq(val, json_object_array_get_idx(opts, k));
            if (!found) {
                cd_buf d;
                cd_buf_init(&d, 1 << 20);
                cd_buf_printf(&d, "%s: '", x);
                cd_pystr(&d, val);
                cd_buf_puts(&d, "' not in ");
                if (no > 20)
                    cd_buf_printf(&d, "(list of length %zu)", no);
                else
                    cd_pyrepr(&d, opts);
                struct json_object *e = cd_verror("value_not_in_list", "Value not in list", strbuf(&d));
                json_object_object_add(extra(e), "input_name", json_object_new_string(x));
                json_object_object_add(extra(e), "input_config",
                                       no > 20 ? NULL : input_config(v, in));
                json_object_object_add(extra(e), "received_value", json_object_get(val));
                add_err(n, e);
                cd_buf_free(&d);
                n->valid = 0;
            }
            json_object_put(opts);
        }
    }
    if (c->def->validate_inputs)
        run_custom(v, n, inputs, received);
    json_object_put(received);
    json_object_put(no_inputs);
    if (json_object_array_length(n->errors) > 0)
        n->valid = 0;
    n->state = 2;
    n->order = v->next_order++;
}

/* ---- the prompt --------------------------------------------------------- */

void cd_vresult_clear(cd_vresult *res)
{
    json_object_put(res->error);
    json_object_put(res->node_errors);
    json_object_put(res->outputs);
    memset(res, 0, sizeof(*res));
}

static int in_targets(struct json_object *targets, const char *id)
{
    size_t n = json_object_array_length(targets);
    for (size_t i = 0; i < n; i++) {
        struct json_object *t = json_object_array_get_idx(targets, i);
        if (json_object_is_type(t, json_type_string) && strcmp(json_object_get_string(t), id) == 0)
            return 1;
    }
    return 0;
}

static int cmp_order(const void *a, const void *b)
{
    const vnode *x = *(vnode *const *)a, *y = *(vnode *const *)b;
    return x->order - y->order;
}

int cd_validate_prompt(const cd_registry *reg, const comfy_host *host,
                       struct json_object *prompt, struct json_object *targets,
                       cd_vresult *res)
{
    memset(res, 0, sizeof(*res));
    res->node_errors = json_object_new_object();
    res->outputs = json_object_new_array();
    vctx v = {.reg = reg, .host = host, .prompt = prompt};
    size_t cap = (size_t)json_object_object_length(prompt);
    v.nodes = calloc(cap ? cap : 1, sizeof(*v.nodes));
    v.index = json_object_new_object();
    if (!v.nodes || !v.index || !res->node_errors || !res->outputs)
        goto oom;

    /* 1. structure scan */
    json_object_object_foreach(prompt, id, node) {
        struct json_object *ct = NULL;
        if (!json_object_is_type(node, json_type_object) ||
            !json_object_object_get_ex(node, "class_type", &ct)) {
            cd_buf d;
            cd_buf_init(&d, 1 << 12);
            cd_buf_printf(&d, "Node ID '#%s'", id);
            res->error = cd_verror("invalid_prompt",
                "Cannot execute because a node is missing the class_type property.", strbuf(&d));
            cd_buf_free(&d);
            goto done;
        }
        const char *cn = json_object_get_string(ct);
        const cd_class *cls = json_object_is_type(ct, json_type_string) ? cd_registry_find(reg, cn) : NULL;
        if (!cls) {
            cd_buf d, m;
            cd_buf_init(&d, 1 << 12);
            cd_buf_init(&m, 1 << 12);
            cd_buf_printf(&d, "Node ID '#%s'", id);
            cd_buf_puts(&m, "Cannot execute because node ");
            cd_pystr(&m, ct);
            cd_buf_puts(&m, " does not exist.");
            res->error = cd_verror("invalid_prompt", strbuf(&m), strbuf(&d));
            cd_buf_free(&d);
            cd_buf_free(&m);
            goto done;
        }
        vnode *vn = &v.nodes[v.n];
        vn->id = id;
        vn->node = node;
        vn->cls = cls;
        vn->errors = json_object_new_array();
        json_object_object_add(v.index, id, json_object_new_int((int)v.n));
        v.n++;
    }

    /* 2. candidates */
    vnode **outs = calloc(v.n ? v.n : 1, sizeof(*outs));
    vnode **failed = calloc(v.n ? v.n : 1, sizeof(*failed));
    if (!outs || !failed) {
        free(outs);
        free(failed);
        goto oom;
    }
    size_t n_out = 0;
    int use_targets = targets && json_object_is_type(targets, json_type_array);
    for (size_t i = 0; i < v.n; i++) {
        if (!(v.nodes[i].cls->def->flags & COMFY_NODE_OUTPUT))
            continue;
        if (use_targets && !in_targets(targets, v.nodes[i].id))
            continue;
        outs[n_out++] = &v.nodes[i];
    }
    if (n_out == 0) {
        res->error = cd_verror("prompt_no_outputs", "Prompt has no outputs", "");
        free(outs);
        free(failed);
        goto done;
    }

    /* 3. per output */
    cd_buf details;
    cd_buf_init(&details, 1 << 20);
    size_t n_good = 0;
    for (size_t k = 0; k < n_out; k++) {
        vnode *o = outs[k];
        validate_node(&v, o, 0);
        if (o->valid) {
            json_object_array_add(res->outputs, json_object_new_string(o->id));
            n_good++;
            continue;
        }
        size_t ne = json_object_array_length(o->errors);
        for (size_t e = 0; e < ne; e++) {
            struct json_object *err = json_object_array_get_idx(o->errors, e);
            if (details.len)
                cd_buf_putc(&details, '\n');
            cd_buf_printf(&details, "%s: %s",
                          json_object_get_string(json_object_object_get(err, "message")),
                          json_object_get_string(json_object_object_get(err, "details")));
        }
        /* every node failed so far with errors, in memo order */
        size_t nf = 0;
        for (size_t i = 0; i < v.n; i++)
            if (v.nodes[i].state == 2 && !v.nodes[i].valid &&
                json_object_array_length(v.nodes[i].errors) > 0)
                failed[nf++] = &v.nodes[i];
        qsort(failed, nf, sizeof(*failed), cmp_order);
        for (size_t i = 0; i < nf; i++) {
            vnode *f = failed[i];
            struct json_object *ne_ent = json_object_object_get(res->node_errors, f->id);
            if (!ne_ent) {
                ne_ent = json_object_new_object();
                json_object_object_add(ne_ent, "errors", json_object_get(f->errors));
                json_object_object_add(ne_ent, "dependent_outputs", json_object_new_array());
                json_object_object_add(ne_ent, "class_type",
                                       json_object_new_string(f->cls->def->name));
                json_object_object_add(res->node_errors, f->id, ne_ent);
            }
            json_object_array_add(json_object_object_get(ne_ent, "dependent_outputs"),
                                  json_object_new_string(o->id));
        }
    }
    free(outs);
    free(failed);
    if (n_good == 0)
        res->error = cd_verror("prompt_outputs_failed_validation",
                               "Prompt outputs failed validation", details.data ? details.data : "");
    else
        res->ok = 1;
    cd_buf_free(&details);

done:
    for (size_t i = 0; i < v.n; i++)
        json_object_put(v.nodes[i].errors);
    free(v.nodes);
    json_object_put(v.index);
    return v.oom ? -1 : 0;
oom:
    for (size_t i = 0; i < v.n; i++)
        json_object_put(v.nodes[i].errors);
    free(v.nodes);
    json_object_put(v.index);
    cd_vresult_clear(res);
    return -1;
}
