/*
 * comfy/comfy.h — the comfyd node-pack SDK, ABI version 1.
 *
 * A node pack is a shared object that comfyd loads with dlopen() at start
 * (or when it rescans its pack directories on SIGHUP).
 * It exports exactly one symbol, comfy_pack_entry(), which returns a
 * description of the pack.  comfyd then calls the pack's init function with
 * a table of host services (struct comfy_host); init registers node classes.
 * Every node class appears in /object_info exactly as a ComfyUI node with the
 * same declaration would.
 *
 * A complete pack with one node, "Double", that doubles an INT:
 *
 *     #include <comfy/comfy.h>
 *
 *     static int double_execute(comfy_call *call)
 *     {
 *         const comfy_host *h = call->host;
 *         int64_t v;
 *         if (h->value_get_int(h->input(call, "value"), &v) != COMFY_OK)
 *             return h->fail(call, "ValueError", "value is not an INT");
 *         return h->set_output(call, 0, h->value_int(h->ctx, v * 2));
 *     }
 *
 *     static const comfy_input_def double_inputs[] = {
 *         { sizeof(comfy_input_def), "value", "INT", COMFY_REQUIRED,
 *           "{\"default\": 1, \"min\": -1000, \"max\": 1000}" },
 *     };
 *     static const comfy_output_def double_outputs[] = {
 *         { sizeof(comfy_output_def), "INT", "INT" },
 *     };
 *     static const comfy_node_def double_node = {
 *         .size = sizeof(comfy_node_def),
 *         .name = "Double", .display_name = "Double It", .category = "utils",
 *         .inputs = double_inputs, .n_inputs = 1,
 *         .outputs = double_outputs, .n_outputs = 1,
 *         .execute = double_execute,
 *     };
 *
 *     static int hello_init(const comfy_host *h, comfy_registrar *reg)
 *     {
 *         return h->register_node(reg, &double_node);
 *     }
 *
 *     COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
 *     {
 *         static const comfy_pack_info info = {
 *             .size = sizeof(comfy_pack_info),
 *             .abi_major = COMFY_ABI_MAJOR, .abi_minor = COMFY_ABI_MINOR,
 *             .name = "hello", .version = "1.0", .init = hello_init,
 *         };
 *         return &info;
 *     }
 *
 * Build it with `cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags
 * comfyd-sdk) hello.c -o hello.so` and drop hello.so into a pack directory.
 *
 * ---------------------------------------------------------------------------
 * ABI rules (read these before changing this file)
 *
 *  - Every struct that crosses the boundary starts with `uint32_t size`, set
 *    by whoever fills it to sizeof() of the version it was compiled with.
 *    Fields are only ever appended; a reader checks `size` before touching a
 *    field that a newer minor version added.  COMFY_HAS_FIELD() does that.
 *  - The host table (comfy_host) is append-only too.  A pack built against
 *    minor N runs on any host with the same major and minor >= N.
 *  - Objects are opaque handles (comfy_value, comfy_tensor internals) with
 *    reference counts.  The rule: a function whose contract says "new
 *    reference" hands you one reference that you must give back with
 *    value_release() / tensor_release(), or pass on to a function whose
 *    contract says it "takes" the reference.  "Borrowed" pointers stay valid
 *    only as long as the object they came from.
 *  - Memory allocated by one side is freed by that side.  No FILE *, no C++,
 *    no allocator mixing across the boundary.  Integers are fixed-width.
 *  - Values are immutable once handed to the host (set_output and friends):
 *    the output cache shares them between prompts.  Never write into an input
 *    tensor; make a new one.
 *
 * Threading: comfy_pack_entry and init run on the main thread at start-up,
 * or, for a pack that comfyd finds when it rescans its pack directories
 * (SIGHUP), on the network thread while prompts run: init must not assume
 * that no node of another pack is executing.  A pack is loaded once; a
 * changed or removed .so takes a restart.  execute, check_lazy, is_changed
 * and validate_inputs run on the executor thread, one node at a time.
 * choices functions run on the network thread while /object_info is built.
 * All host functions are thread-safe unless the contract says otherwise.
 */
#ifndef COMFY_COMFY_H
#define COMFY_COMFY_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COMFY_ABI_MAJOR 1
#define COMFY_ABI_MINOR 3

/* The one symbol a pack exports.  Build packs with -fvisibility=hidden. */
#if defined(__GNUC__)
#define COMFY_EXPORT __attribute__((visibility("default")))
#define COMFY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define COMFY_EXPORT
#define COMFY_PRINTF(fmt, args)
#endif

/* True when struct pointer `s` (whose first member is `size`) is large
 * enough to contain `field`. */
#define COMFY_HAS_FIELD(s, type, field) \
    ((s)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------ */
/* Status codes.  Every host function that can fail returns one of these
 * (0 on success, negative on failure); node callbacks return them too.    */

typedef enum comfy_status {
    COMFY_OK = 0,
    COMFY_ERR = -1,          /* generic failure; details were reported     */
    COMFY_ENOMEM = -2,       /* an allocation failed                       */
    COMFY_EINVAL = -3,       /* an argument is out of range or ill-formed  */
    COMFY_ENOENT = -4,       /* no such input, file, key or folder         */
    COMFY_ETYPE = -5,        /* a value is not of the kind asked for       */
    COMFY_EINTERRUPTED = -6, /* the prompt was interrupted (/interrupt)    */
    COMFY_EEXIST = -7,       /* a name is registered already               */
    COMFY_EACCES = -8        /* a path escapes its folder                  */
} comfy_status;

/* ------------------------------------------------------------------------ */
/* Opaque handles.                                                         */

typedef struct comfy_value comfy_value;         /* any node value          */
typedef struct comfy_call comfy_call;           /* one node invocation     */
typedef struct comfy_registrar comfy_registrar; /* pack registration scope */
typedef struct comfy_host comfy_host;           /* host service table      */
typedef struct comfy_host_ctx comfy_host_ctx;   /* host state, opaque      */

/* ------------------------------------------------------------------------ */
/* Tensors.
 *
 * A tensor is a strided n-dimensional array in host memory, reference
 * counted.  Shapes use PyTorch order.  The conventions ComfyUI uses:
 *   IMAGE   f32 [B, H, W, C], C = 3 (or 4), values nominally 0..1
 *   MASK    f32 [B, H, W], 1 = selected
 *   LATENT  a MAP value {"samples": f32 [B, C, h, w], optional "noise_mask",
 *           optional "batch_index" (LIST of INT)}
 * Tensors made by tensor_new() are contiguous (row-major) and zero-filled. */

typedef enum comfy_dtype {
    COMFY_F32 = 0,
    COMFY_F16 = 1,
    COMFY_BF16 = 2,
    COMFY_I64 = 3,
    COMFY_I32 = 4,
    COMFY_U8 = 5,
    COMFY_F64 = 6,
    COMFY_F8_E4M3 = 7,
    COMFY_F8_E5M2 = 8,
    COMFY_I8 = 9,
    COMFY_I16 = 10,
    COMFY_BOOL = 11
} comfy_dtype;

#define COMFY_MAX_DIMS 8

typedef struct comfy_tensor {
    uint32_t size;                    /* sizeof(comfy_tensor) of the host  */
    uint32_t dtype;                   /* a comfy_dtype                     */
    uint32_t ndim;                    /* 0..COMFY_MAX_DIMS                 */
    uint32_t device;                  /* 0 = CPU memory; others reserved   */
    int64_t shape[COMFY_MAX_DIMS];
    int64_t strides[COMFY_MAX_DIMS];  /* in elements, not bytes            */
    void *data;                       /* first element                     */
    /* Host-private fields follow; never allocate a comfy_tensor yourself. */
} comfy_tensor;

/* Called when the last reference to a wrapped tensor goes (tensor_wrap). */
typedef void (*comfy_free_fn)(void *user);

/* ------------------------------------------------------------------------ */
/* Values.
 *
 * Everything that flows along a link, every constant widget value and every
 * UI result is a comfy_value: immutable, reference counted, of one kind.
 * MAP keys keep insertion order (as Python dicts do), which matters for
 * JSON output.  OBJECT values carry a type name (e.g. "MODEL"), an
 * interface table defined by whichever pack made it, and a self pointer. */

typedef enum comfy_kind {
    COMFY_KIND_NONE = 0,   /* Python None                                  */
    COMFY_KIND_INT = 1,    /* int64, or uint64 above INT64_MAX (seeds)     */
    COMFY_KIND_FLOAT = 2,  /* double                                       */
    COMFY_KIND_STRING = 3, /* UTF-8, NUL-terminated                        */
    COMFY_KIND_BOOL = 4,
    COMFY_KIND_TENSOR = 5,
    COMFY_KIND_LIST = 6,
    COMFY_KIND_MAP = 7,
    COMFY_KIND_OBJECT = 8
} comfy_kind;

/* ------------------------------------------------------------------------ */
/* Declaring node classes.
 *
 * The declarations mirror what ComfyUI's /object_info shows for a node.
 * Strings are UTF-8 and must outlive the pack (string literals are fine).  */

typedef enum comfy_input_section {
    COMFY_REQUIRED = 0,
    COMFY_OPTIONAL = 1,
    /* Hidden inputs are filled by the executor.  Their `type` names what is
     * injected: "PROMPT" (STRING: the prompt as JSON text), "EXTRA_PNGINFO"
     * (MAP of key -> STRING holding that entry as JSON text, or absent),
     * "UNIQUE_ID" (STRING: the node id), "DYNPROMPT" (STRING, as PROMPT). */
    COMFY_HIDDEN = 2
} comfy_input_section;

/* Fills `out` (a LIST value) with the current COMBO choices, as STRINGs.
 * Called each time /object_info is built and each time a prompt is
 * validated, so the list can follow the disk.  Return COMFY_OK or an error. */
typedef int (*comfy_choices_fn)(const comfy_host *host, void *user,
                                comfy_value *out);

typedef struct comfy_input_def {
    uint32_t size;           /* sizeof(comfy_input_def)                     */
    const char *name;        /* input name, unique within the node          */
    /* "INT", "FLOAT", "STRING", "BOOLEAN", "IMAGE", "MASK", "LATENT", any
     * custom name, "*" (anything), a comma-separated union such as
     * "FLOAT,INT", or "COMBO" for a choice list.                          */
    const char *type;
    uint32_t section;        /* a comfy_input_section                       */
    /* The options object exactly as /object_info prints it, as JSON text
     * (key order kept), or NULL for none.  The executor reads the keys it
     * understands: default, min, max, step, round, lazy, rawLink,
     * forceInput.  Example: "{\"default\": 20, \"min\": 1, \"max\": 10000}". */
    const char *options;
    /* For type "COMBO": a NULL-terminated fixed list, or a function that
     * computes the list when asked (then `choices` is NULL).              */
    const char *const *choices;
    comfy_choices_fn choices_fn;
    void *choices_user;
    /* For type "COMBO": 0 prints the V1 form [[choices...], {options}];
     * 1 prints ["COMBO", {options with "options": [choices...] first}].
     * When the options text itself has an "options" key (any value, e.g.
     * null), the choices replace that value where it stands, so V3 nodes
     * can print ComfyUI's {"multiselect": false, "options": [...]}.     */
    uint32_t combo_as_type;
} comfy_input_def;

typedef struct comfy_output_def {
    uint32_t size;           /* sizeof(comfy_output_def)                    */
    const char *type;        /* e.g. "IMAGE"                                */
    const char *name;        /* display name; NULL means the type           */
    const char *tooltip;     /* NULL for none                               */
    uint32_t is_list;        /* OUTPUT_IS_LIST for this output              */
} comfy_output_def;

/* Node flags. */
#define COMFY_NODE_OUTPUT        (1u << 0) /* OUTPUT_NODE: a graph root     */
#define COMFY_NODE_DEPRECATED    (1u << 1)
#define COMFY_NODE_EXPERIMENTAL  (1u << 2)
#define COMFY_NODE_INPUT_IS_LIST (1u << 3) /* execute receives whole lists  */
#define COMFY_NODE_NOT_IDEMPOTENT (1u << 4) /* node id joins the cache key  */
#define COMFY_NODE_V3_SCHEMA     (1u << 5) /* print object_info as V3 nodes */
#define COMFY_NODE_API_NODE      (1u << 6) /* print "api_node": true        */
#define COMFY_NODE_OUTPUT_TOOLTIPS (1u << 7) /* V1: print output_tooltips   */
/* ComfyUI's async nodes (ABI 1.2): execute runs on a thread of its own,
 * concurrently with other nodes of the prompt; the executor starts it as
 * soon as its inputs are ready and goes on with other ready nodes.  Such
 * a node must be thread-safe and cannot expand.                           */
#define COMFY_NODE_ASYNC         (1u << 8)

/* One invocation of a node.  Inputs are read with host->input(); results
 * are given with host->set_output() and host->set_ui().  Returns COMFY_OK,
 * or the status returned by host->fail() / host->interrupted().          */
typedef int (*comfy_execute_fn)(comfy_call *call);

/* Lazy inputs (options "lazy": true): called before execute with the lazy
 * inputs that are not computed yet reading as NULL from host->input().
 * Append the names of the inputs still needed to `needed` (a LIST of
 * STRING) with host->list_append(); leave it empty to run execute now.     */
typedef int (*comfy_check_lazy_fn)(comfy_call *call, comfy_value *needed);

/* IS_CHANGED: called before each prompt with constant inputs only (linked
 * inputs read as NULL).  Store a new reference in *out; when it differs
 * from the previous run's value the node re-runs.  A FLOAT NaN means
 * "always re-run".                                                        */
typedef int (*comfy_is_changed_fn)(comfy_call *call, comfy_value **out);

/* VALIDATE_INPUTS: called at validation with constant inputs only.  Return
 * COMFY_OK, or host->fail() with a message (custom_validation_failed).
 * A node that has this hook skips the host's own min/max and COMBO checks
 * for the inputs named in `validates` (NULL-terminated), as ComfyUI skips
 * them for the arguments of its VALIDATE_INPUTS.  Two names are special:
 * "input_types" (the Python parameter of that name) switches off the
 * link type check for the node, and host->input(call, "input_types") then
 * gives a MAP input name -> STRING type of every linked input; "*" (Python
 * **kwargs) takes over every input.  On failure one error is reported per
 * input named (and present), with details "<name> - <message>".
 *
 * ExecutionBlocker (ComfyUI's comfy_execution.graph.ExecutionBlocker): an
 * output set to an OBJECT value of type "ExecutionBlocker" (value_object
 * with iface NULL and self the message, a static string, or NULL) blocks
 * every node it reaches; with a message an `execution_error` "Execution
 * Blocked: <message>" is sent, once per blocked call.                      */
typedef int (*comfy_validate_fn)(comfy_call *call);

typedef struct comfy_node_def {
    uint32_t size;                  /* sizeof(comfy_node_def)               */
    const char *name;               /* class name, unique in the server    */
    /* NULL: the class name (V3_SCHEMA nodes print null, as ComfyUI's V3
     * schema does when it sets no display name).                        */
    const char *display_name;
    const char *category;           /* NULL: "sd"                          */
    const char *description;        /* NULL: ""                            */
    /* What /object_info shows as python_module.  NULL: "custom_nodes.<pack
     * name>".  Packs that reproduce ComfyUI's own nodes say "nodes" or
     * "comfy_extras.nodes_xxx" so clients see the same catalogue.        */
    const char *module;
    const comfy_input_def *inputs;  /* in declaration order                */
    uint32_t n_inputs;
    const comfy_output_def *outputs;
    uint32_t n_outputs;
    uint32_t flags;                 /* COMFY_NODE_*                        */
    comfy_execute_fn execute;       /* required                            */
    comfy_check_lazy_fn check_lazy; /* optional                            */
    comfy_is_changed_fn is_changed; /* optional                            */
    comfy_validate_fn validate_inputs; /* optional                         */
    const char *const *validates;   /* inputs validate_inputs takes over   */
    void *user;                     /* handed back as call->user           */
    /* Where the node is needed by a search engine or docs: "search_aliases"
     * and similar.  Reserved; leave NULL.                                  */
    const char *reserved0;
} comfy_node_def;

/* What execute and the other hooks receive.  Filled by the host. */
struct comfy_call {
    uint32_t size;             /* sizeof(comfy_call) of the host          */
    const comfy_host *host;    /* the service table                       */
    const comfy_node_def *def; /* the class being run                     */
    void *user;                /* def->user                               */
    const char *node_id;       /* the prompt's node id ("12" or "12:5")   */
    const char *prompt_id;     /* the running prompt                      */
    /* host-private fields follow */
};

/* ------------------------------------------------------------------------ */
/* Packs.                                                                  */

typedef struct comfy_pack_info {
    uint32_t size;              /* sizeof(comfy_pack_info)                 */
    uint32_t abi_major;         /* COMFY_ABI_MAJOR the pack was built for  */
    uint32_t abi_minor;         /* COMFY_ABI_MINOR the pack was built for  */
    const char *name;           /* short name: [A-Za-z0-9_.-]+             */
    const char *version;        /* free text                               */
    const char *description;    /* free text, may be NULL                  */
    /* Directory of .js/.css files served under /extensions/<name>/ and
     * listed by GET /extensions.  Relative paths are taken from the
     * directory holding the .so.  NULL: none.                             */
    const char *web_directory;
    /* Registers the pack's classes.  Return COMFY_OK, or an error: the
     * pack is then skipped and every class it registered is dropped.     */
    int (*init)(const comfy_host *host, comfy_registrar *reg);
    /* Called once at shutdown (or when the pack is unloaded) after every
     * value the pack made has been released.  May be NULL.               */
    void (*fini)(const comfy_host *host);

    /* --- memory (ABI 1.3; the host checks COMFY_HAS_FIELD(info,
     *     comfy_pack_info, memory_used) before reading either) ----------- */

    /* POST /free: drop what the pack keeps between prompts.  Called on the
     * executor thread between prompts (no node runs meanwhile) after the
     * output cache was emptied when "free_memory" was asked too.
     * unload_models = 1 ({"unload_models": true}, the only call today):
     * drop loaded models (objects still referenced by values live on
     * until those are released).  0 (reserved): drop only caches that
     * are cheap to rebuild.  May be NULL.                                 */
    void (*free_memory)(const comfy_host *host, int unload_models);
    /* Bytes of RAM the pack holds for loaded models (weights it keeps
     * between prompts), summed into /system_stats "comfyd_models_ram".
     * Any thread, while prompts run: keep it cheap and thread-safe.
     * May be NULL (counts as 0).                                          */
    uint64_t (*memory_used)(const comfy_host *host);
} comfy_pack_info;

/* The entry point.  Must not fail and must not call the host. */
typedef const comfy_pack_info *(*comfy_pack_entry_fn)(void);
#define COMFY_PACK_ENTRY_SYMBOL "comfy_pack_entry"

/* ------------------------------------------------------------------------ */
/* Host services.                                                          */

typedef enum comfy_log_level {
    COMFY_LOG_DEBUG = 0,
    COMFY_LOG_INFO = 1,
    COMFY_LOG_WARNING = 2,
    COMFY_LOG_ERROR = 3
} comfy_log_level;

/* ComfyUI's save-path helper result (folder_paths.get_save_image_path). */
typedef struct comfy_save_path {
    uint32_t size;            /* sizeof(comfy_save_path), set by caller     */
    char full_folder[4096];   /* absolute directory to write into           */
    char filename[1024];      /* the prefix's file part, e.g. "ComfyUI"     */
    char subfolder[1024];     /* subfolder relative to the output directory */
    int64_t counter;          /* first free counter (1-based)               */
} comfy_save_path;

struct comfy_host {
    uint32_t size;          /* sizeof(comfy_host) of the host              */
    uint32_t abi_major;     /* the host's COMFY_ABI_MAJOR                  */
    uint32_t abi_minor;     /* the host's COMFY_ABI_MINOR                  */
    comfy_host_ctx *ctx;    /* first argument of the value constructors    */

    /* --- registration (init only) ------------------------------------- */

    /* Registers a class.  The def (and everything it points to) must
     * outlive the pack.  Fails with COMFY_EEXIST if the name is taken and
     * COMFY_EINVAL if the def is malformed (the log says why).            */
    int (*register_node)(comfy_registrar *reg, const comfy_node_def *def);

    /* --- logging ------------------------------------------------------- */

    void (*log)(comfy_host_ctx *ctx, int level, const char *fmt, ...)
        COMFY_PRINTF(3, 4);

    /* --- values: construction (each returns a new reference, or NULL
     *     when memory runs out) -------------------------------------------- */

    comfy_value *(*value_none)(comfy_host_ctx *ctx);
    comfy_value *(*value_int)(comfy_host_ctx *ctx, int64_t v);
    comfy_value *(*value_uint)(comfy_host_ctx *ctx, uint64_t v);
    comfy_value *(*value_float)(comfy_host_ctx *ctx, double v);
    comfy_value *(*value_bool)(comfy_host_ctx *ctx, int v);
    /* Copies `len` bytes of UTF-8 (len = (size_t)-1: up to the NUL). */
    comfy_value *(*value_string)(comfy_host_ctx *ctx, const char *s, size_t len);
    /* Takes the caller's tensor reference. */
    comfy_value *(*value_tensor)(comfy_host_ctx *ctx, comfy_tensor *t);
    comfy_value *(*value_list)(comfy_host_ctx *ctx);
    comfy_value *(*value_map)(comfy_host_ctx *ctx);
    /* An object of `type_name` ("MODEL", "VAE", ...).  `iface` is a table
     * of functions defined by the pack that made it (the type's SDK header
     * says which); `destroy(self)` runs when the last reference goes.     */
    comfy_value *(*value_object)(comfy_host_ctx *ctx, const char *type_name,
                                 const void *iface, void *self,
                                 comfy_free_fn destroy);

    /* --- values: building lists and maps (only before the value is handed
     *     to the host; each takes the reference to `item`) ---------------- */

    int (*list_append)(comfy_value *list, comfy_value *item);
    /* Replaces an existing key in place (its position is kept). */
    int (*map_set)(comfy_value *map, const char *key, comfy_value *item);

    /* --- values: reading --------------------------------------------- */

    int (*value_kind)(const comfy_value *v); /* a comfy_kind; NULL -> NONE */
    /* COMFY_ETYPE if v is not an INT (a BOOL is not an INT) or out of
     * range of the requested C type.                                      */
    int (*value_get_int)(const comfy_value *v, int64_t *out);
    int (*value_get_uint)(const comfy_value *v, uint64_t *out);
    /* Accepts FLOAT and INT (converted). */
    int (*value_get_float)(const comfy_value *v, double *out);
    int (*value_get_bool)(const comfy_value *v, int *out);
    /* Borrowed; NULL if v is not a STRING. */
    const char *(*value_get_string)(const comfy_value *v);
    /* Borrowed; NULL if v is not a TENSOR. */
    comfy_tensor *(*value_get_tensor)(const comfy_value *v);
    size_t (*list_len)(const comfy_value *list);            /* 0 if not */
    const comfy_value *(*list_get)(const comfy_value *list, size_t i);
    size_t (*map_len)(const comfy_value *map);
    const char *(*map_key)(const comfy_value *map, size_t i); /* borrowed */
    const comfy_value *(*map_value)(const comfy_value *map, size_t i);
    const comfy_value *(*map_get)(const comfy_value *map, const char *key);
    /* For an OBJECT whose type name equals `type_name`: stores its iface
     * and self and returns COMFY_OK; otherwise COMFY_ETYPE.              */
    int (*value_get_object)(const comfy_value *v, const char *type_name,
                            const void **iface, void **self);
    const char *(*value_type_name)(const comfy_value *v); /* OBJECT only */

    /* --- values: lifetime --------------------------------------------- */

    comfy_value *(*value_retain)(const comfy_value *v); /* returns v */
    void (*value_release)(comfy_value *v);              /* NULL is fine */

    /* --- tensors -------------------------------------------------------- */

    /* A new contiguous zero-filled tensor (one reference), or NULL if the
     * shape is invalid or memory runs out (the log says which).           */
    comfy_tensor *(*tensor_new)(comfy_host_ctx *ctx, int dtype, int ndim,
                                const int64_t *shape);
    /* Wraps memory the caller owns (an mmap'd weight, say).  `strides` may
     * be NULL for contiguous.  `release(user)` runs when the last
     * reference goes.                                                      */
    comfy_tensor *(*tensor_wrap)(comfy_host_ctx *ctx, int dtype, int ndim,
                                 const int64_t *shape, const int64_t *strides,
                                 void *data, comfy_free_fn release, void *user);
    comfy_tensor *(*tensor_retain)(comfy_tensor *t);
    void (*tensor_release)(comfy_tensor *t);          /* NULL is fine */
    size_t (*dtype_size)(int dtype);                  /* bytes; 0 if bad */
    int64_t (*tensor_numel)(const comfy_tensor *t);
    int (*tensor_is_contiguous)(const comfy_tensor *t);

    /* --- the running node (execute and the other hooks) ---------------- */

    /* Borrowed value of input `name`, or NULL when the input is absent
     * (optional and unconnected, or lazy and not computed yet).  For
     * INPUT_IS_LIST nodes every input is a LIST.                          */
    const comfy_value *(*input)(comfy_call *call, const char *name);
    /* Sets output `index` (0-based); takes the reference to `v`.  For an
     * is_list output, `v` is a LIST whose items become the output list.   */
    int (*set_output)(comfy_call *call, uint32_t index, comfy_value *v);
    /* Sets the node's UI result (a MAP such as {"images": [{"filename",
     * "subfolder", "type"}]}) shown in `executed` and history; takes the
     * reference.                                                          */
    int (*set_ui)(comfy_call *call, comfy_value *ui);
    /* Records a node error and returns COMFY_ERR for the node to return.
     * `exception_type` is what clients see as exception_type (ComfyUI shows
     * Python exception class names: "ValueError", "RuntimeError", ...).   */
    int (*fail)(comfy_call *call, const char *exception_type,
                const char *fmt, ...) COMFY_PRINTF(3, 4);
    /* Returns COMFY_EINTERRUPTED (and consumes the request) if the prompt
     * was interrupted, else COMFY_OK.  Long nodes call it regularly.      */
    int (*interrupted)(comfy_call *call);
    /* Reports progress (sends `progress`); also checks for interrupt and
     * returns COMFY_EINTERRUPTED if so.  `preview` may be NULL, or a U8
     * [H, W, 3] RGB tensor sent as a preview image (borrowed).           */
    int (*progress)(comfy_call *call, double value, double max,
                    const comfy_tensor *preview);

    /* --- folders and files ---------------------------------------------- */

    /* "input", "output", "temp" or "user": the absolute directory.
     * Borrowed, valid for the host's lifetime.                            */
    const char *(*directory)(comfy_host_ctx *ctx, const char *which);
    /* Appends to `out` (a LIST) the files of model folder `folder`
     * ("checkpoints", "loras", ...) as relative names, sorted, with
     * subfolders written "sub/name.ext", as ComfyUI's get_filename_list. */
    int (*folder_list)(comfy_host_ctx *ctx, const char *folder,
                       comfy_value *out);
    /* Resolves `name` in model folder `folder` to an absolute path in
     * out[cap].  COMFY_ENOENT if absent, COMFY_EACCES if `name` escapes
     * the folder, COMFY_EINVAL if it does not fit.                        */
    int (*folder_resolve)(comfy_host_ctx *ctx, const char *folder,
                          const char *name, char *out, size_t cap);
    /* Resolves an annotated file name as LoadImage does: "a.png" in the
     * input directory, "a.png [output]" / "[temp]" / "[input]" in those,
     * subfolders allowed, nothing outside.  Same errors as above.         */
    int (*annotated_path)(comfy_host_ctx *ctx, const char *name,
                          char *out, size_t cap);
    /* ComfyUI's get_save_image_path(prefix, output dir, width, height):
     * expands %width%, %height%, %year% ... in `prefix`, splits off the
     * subfolder, refuses paths leaving `which` ("output" or "temp") and
     * finds the next free counter.  `out->size` must be set.             */
    int (*save_path)(comfy_host_ctx *ctx, const char *which,
                     const char *prefix, int64_t width, int64_t height,
                     comfy_save_path *out);

    /* --- server settings (ABI 1.1; check COMFY_HAS_FIELD(host, comfy_host,
     *     setting) before calling) ---------------------------------------- */

    /* The server flag `name` (its long name without the dashes, as in
     * `comfyd --help`: "preview-method", "preview-size",
     * "disable-metadata", "cpu", "threads", "verbose", ...) as text, as
     * ComfyUI's nodes read comfy.cli_args: switches give "1" or "0",
     * numbers their decimal form ("512"; "0" threads means every online
     * core), choices the chosen word ("latent2rgb"; "verbose" gives the
     * level, "INFO"), repeatable flags their values joined by "\n".  NULL
     * when the flag is unknown or was not given and has no default.
     * Borrowed; valid for the host's lifetime.  Thread-safe.              */
    const char *(*setting)(comfy_host_ctx *ctx, const char *name);

    /* --- node expansion (ABI 1.2; check COMFY_HAS_FIELD(host, comfy_host,
     *     expand) before calling) ------------------------------------------ */

    /* ComfyUI's "expand" results: instead of (or besides) computing its
     * outputs, execute may hand the executor a sub-graph that runs in its
     * place.  The graph is API-format JSON text (§5.1 of the spec):
     * {"<id>": {"class_type": ..., "inputs": {...}}, ...}.  Input values are
     * constants, links ["<id>", slot] to nodes of this graph or of the
     * prompt, or {"__value_ref__": N} for a value registered with
     * expand_value (tensors and other non-JSON values).  A node may carry
     * "override_display_id": "<id>" to be shown as that node.  Node ids
     * must be unique in the prompt: start them with expand_prefix().
     * Each output of the call is then either a value (set_output) or a link
     * to an output of the graph (set_output_link); the node finishes when
     * the graph's linked nodes have run.  Execute only.                    */

    /* A prefix for the ids of this call's next graph ("<node id>.<call
     * index>.<graph index>."), borrowed until the call returns.           */
    const char *(*expand_prefix)(comfy_call *call);
    /* Registers `v` (takes the reference) as a graph constant and returns
     * its N for {"__value_ref__": N} (unique for the server's lifetime, so
     * such constants never match the output cache), or a negative status. */
    int64_t (*expand_value)(comfy_call *call, comfy_value *v);
    /* Hands over the graph (copied).  COMFY_EINVAL if it is not a JSON
     * object.  Several graphs from one call are merged.                    */
    int (*expand)(comfy_call *call, const char *graph_json);
    /* Makes output `index` the output `slot` of graph node `node_id`.      */
    int (*set_output_link)(comfy_call *call, uint32_t index, const char *node_id,
                           uint32_t slot);
};

#ifdef __cplusplus
}
#endif

#endif /* COMFY_COMFY_H */
