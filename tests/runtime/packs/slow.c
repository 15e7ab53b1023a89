/* A test pack for runtime_rescan: RtSlowSleep sleeps for `seconds` in
 * small steps (checking for interrupt), so a prompt can be running while
 * the test adds packs; RtSlowConst returns its INT input.  With
 * RT_SLOW_INIT_MS set, init logs "rt_slow: init waits" and sleeps that
 * long first, so the test can send a signal while packs load. */
#include <comfy/comfy.h>
#include <stdlib.h>
#include <time.h>

static int sleep_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    double secs;
    if (h->value_get_float(h->input(call, "seconds"), &secs) != COMFY_OK)
        return h->fail(call, "ValueError", "seconds is not a FLOAT");
    int steps = (int)(secs * 50.0 + 0.5);
    for (int i = 0; i < steps; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int rc = h->progress(call, i + 1, steps, NULL);
        if (rc != COMFY_OK)
            return rc;
    }
    return COMFY_OK;
}

static int const_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t v;
    if (h->value_get_int(h->input(call, "value"), &v) != COMFY_OK)
        return h->fail(call, "ValueError", "value is not an INT");
    return h->set_output(call, 0, h->value_int(h->ctx, v));
}

static const comfy_input_def sleep_inputs[] = {
    {sizeof(comfy_input_def), "seconds", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 1.0, \"min\": 0.0, \"max\": 30.0, \"step\": 0.01}", NULL,
     NULL, NULL, 0},
};
static const comfy_node_def sleep_node = {
    .size = sizeof(comfy_node_def), .name = "RtSlowSleep", .category = "testing",
    .inputs = sleep_inputs, .n_inputs = 1, .flags = COMFY_NODE_OUTPUT,
    .execute = sleep_execute,
};

static const comfy_input_def const_inputs[] = {
    {sizeof(comfy_input_def), "value", "INT", COMFY_REQUIRED,
     "{\"default\": 0, \"min\": -1000, \"max\": 1000}", NULL, NULL, NULL, 0},
};
static const comfy_output_def const_outputs[] = {
    {sizeof(comfy_output_def), "INT", NULL, NULL, 0},
};
static const comfy_node_def const_node = {
    .size = sizeof(comfy_node_def), .name = "RtSlowConst", .category = "testing",
    .inputs = const_inputs, .n_inputs = 1, .outputs = const_outputs,
    .n_outputs = 1, .execute = const_execute,
};

static int init(const comfy_host *h, comfy_registrar *reg)
{
    const char *ms = getenv("RT_SLOW_INIT_MS");
    long wait_ms = ms ? strtol(ms, NULL, 10) : 0;
    if (wait_ms > 0 && wait_ms <= 60000) {
        h->log(h->ctx, COMFY_LOG_INFO, "rt_slow: init waits %ld ms", wait_ms);
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    int rc = h->register_node(reg, &sleep_node);
    return rc == COMFY_OK ? h->register_node(reg, &const_node) : rc;
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info), .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR, .name = "rt_slow", .version = "1.0",
        .init = init,
    };
    return &info;
}
