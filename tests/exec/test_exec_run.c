/*
 * test_exec_run.c — prompts executed by the real worker thread with the
 * testing pack: message order for success / failure / interrupt (§2.7),
 * lazy inputs, caching across prompts (§5.4), IS_CHANGED, /free, interrupt
 * global and by prompt_id (§3.5), queue front/delete/clear (§3.2, §1.16),
 * history windows and limit (§1.15, §3.4), hidden inputs and the jobs API.
 */
#include "harness.h"

static harness h;

#define IMAGE_NODE(id, content) "\"" id "\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"" content "\", \"height\": 8, \"width\": 8, \"batch_size\": 1}}"
#define MASK(id, v) "\"" id "\": {\"class_type\": \"StubMask\", \"inputs\": {\"value\": " v ", \"height\": 8, \"width\": 8, \"batch_size\": 1}}"

static const char *lazy_graph(const char *mask_value)
{
    static char g[2048];
    snprintf(g, sizeof(g),
             "{" IMAGE_NODE("1", "BLACK") ", %s, "
             "\"3\": {\"class_type\": \"TestLazyMixImages\", \"inputs\": {\"image1\": [\"1\", 0], \"image2\": [\"4\", 0], \"mask\": [\"2\", 0]}}, "
             IMAGE_NODE("4", "WHITE") ", "
             "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"3\", 0]}}}",
             strcmp(mask_value, "0.0") == 0 ? MASK("2", "0.0") : MASK("2", "1.0"));
    return g;
}

static void expect_trace(const char *id, const char *want)
{
    char got[8192];
    h_trace(&h, id, got, sizeof(got));
    CHECK(strcmp(got, want) == 0, "trace\n  got:  %s\n  want: %s", got, want);
}

static struct json_object *history(const char *id)
{
    cd_buf b;
    cd_buf_init(&b, 1 << 24);
    cd_runtime_get_history_item(h.rt, id, &b);
    struct json_object *o = json_tokener_parse(b.data);
    cd_buf_free(&b);
    return json_object_object_get(o, id) ? o : (json_object_put(o), NULL);
}

static void test_success_order_and_cache(void)
{
    h_clear_events(&h);
    const char *id = h_queue(&h, lazy_graph("0.0"), NULL);
    char p1[64];
    snprintf(p1, sizeof(p1), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p1) >= 0, "first run");
    /* lazy: image2 (node 4) never runs, node 3 is attempted twice */
    expect_trace(p1, "status1 status1 execution_start execution_cached:[] executing:2 executing:3 "
                     "executing:1 executing:3 executing:9 executed:9 execution_success status0 executing:null");
    struct json_object *hi = history(p1);
    char path[128];
    snprintf(path, sizeof(path), "%s.status.status_str", p1);
    CHECK(hi && strcmp(jstr(hi, path), "success") == 0, "history success");
    snprintf(path, sizeof(path), "%s.outputs.9.text", p1);
    CHECK(hi && jget(hi, path) != NULL, "history outputs has node 9");
    snprintf(path, sizeof(path), "%s.meta.9.real_node_id", p1);
    CHECK(hi && strcmp(jstr(hi, path), "9") == 0, "meta");
    snprintf(path, sizeof(path), "%s.status.messages.0.0", p1);
    CHECK(hi && strcmp(jstr(hi, path), "execution_start") == 0, "first message");
    json_object_put(hi);

    /* identical again: nothing runs, node 9 replays executed */
    h_clear_events(&h);
    id = h_queue(&h, lazy_graph("0.0"), NULL);
    char p2[64];
    snprintf(p2, sizeof(p2), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p2) >= 0, "second run");
    expect_trace(p2, "status1 status1 execution_start execution_cached:[\"1\",\"2\",\"3\",\"9\"] executed:9 "
                     "execution_success status0 executing:null");
    hi = history(p2);
    snprintf(path, sizeof(path), "%s.outputs.9.text", p2);
    CHECK(hi && jget(hi, path) != NULL, "cached outputs in history");
    json_object_put(hi);

    /* the mask changes: 2, 3 and 9 re-run and now need image2 (4) */
    h_clear_events(&h);
    id = h_queue(&h, lazy_graph("1.0"), NULL);
    char p3[64];
    snprintf(p3, sizeof(p3), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p3) >= 0, "third run");
    expect_trace(p3, "status1 status1 execution_start execution_cached:[\"1\"] executing:2 executing:3 "
                     "executing:4 executing:3 executing:9 executed:9 execution_success status0 executing:null");

    /* /free free_memory: everything runs again */
    cd_buf b;
    cd_buf_init(&b, 1024);
    CHECK(cd_runtime_free_memory(h.rt, "{\"free_memory\": true}", 21, &b) == 200 && b.len == 0, "/free");
    cd_buf_free(&b);
    h_clear_events(&h);
    id = h_queue(&h, lazy_graph("1.0"), NULL);
    char p4[64];
    snprintf(p4, sizeof(p4), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p4) >= 0, "fourth run");
    expect_trace(p4, "status1 status1 execution_start execution_cached:[] executing:2 executing:3 "
                     "executing:4 executing:3 executing:9 executed:9 execution_success status0 executing:null");
}

static void test_progress_state_shape(void)
{
    h_clear_events(&h);
    const char *id = h_queue(&h, "{" IMAGE_NODE("1", "BLACK") ", \"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": 5}}}", NULL);
    char p[64];
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p) >= 0, "run");
    int seen = 0;
    pthread_mutex_lock(&h.mu);
    for (size_t i = 0; i < h.n; i++)
        if (strstr(h.ev[i].json, "\"progress_state\"") && strstr(h.ev[i].json, "\"running\"")) {
            char want[512];
            snprintf(want, sizeof(want),
                     "{\"type\": \"progress_state\", \"data\": {\"prompt_id\": \"%s\", \"nodes\": {\"9\": {\"value\": 0.0, \"max\": 1.0, \"state\": \"running\", \"node_id\": \"9\", \"prompt_id\": \"%s\", \"display_node_id\": \"9\", \"parent_node_id\": null, \"real_node_id\": \"9\"}}}}",
                     p, p);
            CHECK(strcmp(h.ev[i].json, want) == 0, "progress_state\n %s\n %s", h.ev[i].json, want);
            seen = 1;
        }
    for (size_t i = 0; i < h.n; i++)
        if (strstr(h.ev[i].json, "\"executed\""))
            CHECK(strstr(h.ev[i].json, "\"output\": {\"text\": [5]}") != NULL, "executed %s", h.ev[i].json);
    pthread_mutex_unlock(&h.mu);
    CHECK(seen, "no progress_state");
}

static void test_error(void)
{
    h_clear_events(&h);
    const char *id = h_queue(&h, "{\"1\": {\"class_type\": \"ExecTestFail\", \"inputs\": {\"value\": 3, \"fail\": true}}, "
                                 "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"1\", 0]}}}", NULL);
    char p[64];
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p) >= 0, "error run");
    expect_trace(p, "status1 status1 execution_start execution_cached:[] executing:1 execution_error status0 executing:null");
    struct json_object *hi = history(p);
    char path[128];
    snprintf(path, sizeof(path), "%s.status", p);
    struct json_object *st = jget(hi, path);
    CHECK(st && strcmp(jstr(st, "status_str"), "error") == 0, "status_str error");
    CHECK(st && !json_object_get_boolean(jget(st, "completed")), "completed false");
    struct json_object *msgs = jget(st, "messages");
    struct json_object *last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
    CHECK(last && strcmp(jstr(last, "0"), "execution_error") == 0, "last message");
    CHECK(last && strcmp(jstr(last, "1.exception_message"), "asked to fail\n") == 0, "exception_message");
    CHECK(last && strcmp(jstr(last, "1.exception_type"), "ValueError") == 0, "exception_type");
    CHECK(last && strcmp(jstr(last, "1.node_id"), "1") == 0 && strcmp(jstr(last, "1.node_type"), "ExecTestFail") == 0, "node");
    CHECK(last && json_object_is_type(jget(last, "1.traceback"), json_type_array), "traceback list");
    CHECK(last && strcmp(json_object_to_json_string_ext(jget(last, "1.current_inputs"), JSON_C_TO_STRING_PLAIN),
                         "{\"value\":[3],\"fail\":[true]}") == 0, "current_inputs %s",
          last ? json_object_to_json_string(jget(last, "1.current_inputs")) : "");
    json_object_put(hi);
    /* jobs API */
    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    CHECK(cd_runtime_get_job(h.rt, p, &b) == 200 && strstr(b.data, "\"status\": \"error\""), "job error: %s", b.data);
    {
        struct json_object *jo = json_tokener_parse(b.data);
        char keys[512] = "";
        json_object_object_foreach(jo, k, v) {
            (void)v;
            strncat(keys, k, sizeof(keys) - strlen(keys) - 2);
            strncat(keys, " ", sizeof(keys) - strlen(keys) - 1);
        }
        CHECK(strcmp(keys, "id status create_time error_message execution_error execution_start_time "
                           "execution_end_time outputs_count preview_output workflow_id outputs "
                           "execution_status workflow ") == 0, "job keys: %s", keys);
        CHECK(strcmp(jstr(jo, "error_message"), "asked to fail\n") == 0, "error_message");
        json_object_put(jo);
    }
    cd_buf_reset(&b);
    CHECK(cd_runtime_get_jobs(h.rt, "status=failed,in_progress&sort_order=asc", &b) == 200 &&
          strstr(b.data, p) != NULL, "upstream status names filter: %.200s", b.data);
    cd_buf_reset(&b);
    CHECK(cd_runtime_get_jobs(h.rt, "limit=x", &b) == 400, "bad limit is 400");
    cd_buf_reset(&b);
    CHECK(cd_runtime_get_job(h.rt, "never-seen", &b) == 404, "job 404");
    cd_buf_free(&b);
}

/* Waits until an `executing` event names `node` for prompt id. */
static int wait_executing(const char *id, const char *node)
{
    char want[256];
    snprintf(want, sizeof(want), "{\"type\": \"executing\", \"data\": {\"node\": \"%s\", \"display_node\": \"%s\", \"prompt_id\": \"%s\"}}",
             node, node, id);
    for (int k = 0; k < 2000; k++) {
        pthread_mutex_lock(&h.mu);
        for (size_t i = 0; i < h.n; i++)
            if (strcmp(h.ev[i].json, want) == 0) {
                pthread_mutex_unlock(&h.mu);
                return 1;
            }
        pthread_mutex_unlock(&h.mu);
        usleep(5000);
    }
    return 0;
}

#define SLEEP_GRAPH(secs) "{\"1\": {\"class_type\": \"TestSleep\", \"inputs\": {\"value\": 1, \"seconds\": " secs "}}, \"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"1\", 0]}}}"

static void test_interrupt(void)
{
    /* global */
    h_clear_events(&h);
    const char *id = h_queue(&h, SLEEP_GRAPH("30.0"), NULL);
    char p[64];
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(wait_executing(p, "1"), "sleep started");
    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    CHECK(cd_runtime_interrupt(h.rt, NULL, 0, &b) == 200 && b.len == 0, "interrupt");
    CHECK(h_wait_done(&h, p) >= 0, "interrupted run ends");
    expect_trace(p, "status1 status1 execution_start execution_cached:[] executing:1 execution_interrupted status0 executing:null");
    struct json_object *hi = history(p);
    char path[128];
    snprintf(path, sizeof(path), "%s.status.status_str", p);
    CHECK(hi && strcmp(jstr(hi, path), "error") == 0, "interrupted -> error");
    json_object_put(hi);
    cd_buf_reset(&b);
    CHECK(cd_runtime_get_job(h.rt, p, &b) == 200 && strstr(b.data, "\"status\": \"interrupted\""), "job interrupted: %s", b.data);

    /* by id: another id does nothing, the running id stops it */
    h_clear_events(&h);
    id = h_queue(&h, SLEEP_GRAPH("30.5"), NULL);
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(wait_executing(p, "1"), "sleep started");
    cd_buf_reset(&b);
    const char *nr = "{\"prompt_id\": \"not-running\"}";
    cd_runtime_interrupt(h.rt, nr, strlen(nr), &b);
    usleep(100000);
    char got[4096];
    h_trace(&h, p, got, sizeof(got));
    CHECK(strstr(got, "interrupted") == NULL, "other id interrupted: %s", got);
    char body[256];
    snprintf(body, sizeof(body), "{\"prompt_id\": \"%s\"}", p);
    cd_buf_reset(&b);
    cd_runtime_interrupt(h.rt, body, strlen(body), &b);
    CHECK(h_wait_done(&h, p) >= 0, "interrupted by id");
    h_trace(&h, p, got, sizeof(got));
    CHECK(strstr(got, "execution_interrupted") != NULL, "by id: %s", got);

    /* an interrupt while idle does not affect the next prompt */
    cd_buf_reset(&b);
    cd_runtime_interrupt(h.rt, "{}", 2, &b);
    h_clear_events(&h);
    id = h_queue(&h, SLEEP_GRAPH("0.05"), NULL);
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p) >= 0, "after idle interrupt");
    h_trace(&h, p, got, sizeof(got));
    CHECK(strstr(got, "execution_success") != NULL, "idle interrupt leaked: %s", got);
    cd_buf_free(&b);
}

static void test_queue_ops(void)
{
    h_clear_events(&h);
    const char *id = h_queue(&h, SLEEP_GRAPH("30.25"), NULL);
    char run[64], a[64], bb[64], c[64];
    snprintf(run, sizeof(run), "%s", id ? id : "");
    CHECK(wait_executing(run, "1"), "runner started");
    id = h_queue(&h, SLEEP_GRAPH("0.01"), NULL);
    snprintf(a, sizeof(a), "%s", id ? id : "");
    id = h_queue(&h, SLEEP_GRAPH("0.02"), NULL);
    snprintf(bb, sizeof(bb), "%s", id ? id : "");
    id = h_queue(&h, SLEEP_GRAPH("0.03"), "\"front\": true");
    snprintf(c, sizeof(c), "%s", id ? id : "");
    struct json_object *q = h_get(&h, cd_runtime_get_queue);
    CHECK(json_object_array_length(jget(q, "queue_running")) == 1 &&
          strcmp(jstr(q, "queue_running.0.1"), run) == 0, "running item");
    CHECK(json_object_array_length(jget(q, "queue_pending")) == 3, "3 pending");
    CHECK(strcmp(jstr(q, "queue_pending.0.1"), c) == 0, "front item at the heap root");
    CHECK(json_object_get_int(jget(q, "queue_pending.0.0")) <= 0, "front number <= 0");
    CHECK(strcmp(jstr(q, "queue_pending.1.3.client_id"), "c1") == 0, "client_id in extra_data");
    json_object_put(q);
    CHECK(cd_runtime_queue_remaining(h.rt) == 4, "queue_remaining counts running");

    char body[256];
    snprintf(body, sizeof(body), "{\"delete\": [\"%s\", \"%s\"]}", a, run);
    struct json_object *r = NULL;
    CHECK(h_req(&h, cd_runtime_post_queue, &r, "%s", body) == 200 && !r, "delete");
    q = h_get(&h, cd_runtime_get_queue);
    CHECK(json_object_array_length(jget(q, "queue_pending")) == 2, "deleted one");
    CHECK(json_object_array_length(jget(q, "queue_running")) == 1, "running untouched by delete");
    json_object_put(q);
    CHECK(h_req(&h, cd_runtime_post_queue, &r, "{\"clear\": true}") == 200, "clear");
    q = h_get(&h, cd_runtime_get_queue);
    CHECK(json_object_array_length(jget(q, "queue_pending")) == 0, "cleared");
    CHECK(json_object_array_length(jget(q, "queue_running")) == 1, "running kept by clear");
    json_object_put(q);
    CHECK(h_req(&h, cd_runtime_post_queue, &r, "") == 500, "empty body is 500");
    json_object_put(r);
    cd_buf b;
    cd_buf_init(&b, 1024);
    cd_runtime_interrupt(h.rt, NULL, 0, &b);
    cd_buf_free(&b);
    CHECK(h_wait_done(&h, run) >= 0, "runner ends");
    /* the deleted and cleared prompts never ran */
    struct json_object *ha = history(a);
    CHECK(ha == NULL, "deleted prompt ran");
    json_object_put(ha);
}

static void test_history_windows(void)
{
    struct json_object *r = NULL;
    h_req(&h, cd_runtime_post_history, &r, "{\"clear\": true}");
    char ids[5][64];
    for (int i = 0; i < 5; i++) {
        char extra[64];
        snprintf(extra, sizeof(extra), "\"prompt_id\": \"h%d\"", i);
        const char *id = h_queue(&h, "{\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": 1}}}", extra);
        snprintf(ids[i], sizeof(ids[i]), "%s", id ? id : "");
        CHECK(h_wait_done(&h, ids[i]) >= 0, "history run");
    }
    struct { long max, off; const char *want; } cases[] = {
        {-1, -1, "h0 h1 h2 h3 h4"}, {2, -1, "h3 h4"}, {2, 0, "h0 h1"}, {-1, 2, "h2 h3 h4"},
        {-1, 5, ""}, {0, -1, ""}, {0, 1, "h1"}, {2, 4, "h4"}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        cd_buf b;
        cd_buf_init(&b, 1 << 24);
        cd_runtime_get_history(h.rt, cases[k].max, cases[k].off, &b);
        struct json_object *o = json_tokener_parse(b.data);
        char got[256] = "";
        json_object_object_foreach(o, key, val) {
            (void)val;
            if (got[0])
                strncat(got, " ", sizeof(got) - strlen(got) - 1);
            strncat(got, key, sizeof(got) - strlen(got) - 1);
        }
        CHECK(strcmp(got, cases[k].want) == 0, "max_items=%ld offset=%ld: got '%s' want '%s'",
              cases[k].max, cases[k].off, got, cases[k].want);
        json_object_put(o);
        cd_buf_free(&b);
    }
    CHECK(h_req(&h, cd_runtime_post_history, &r, "{\"delete\": [\"h1\", \"nope\"]}") == 200, "delete");
    struct json_object *x = history("h1");
    CHECK(x == NULL, "h1 deleted");
    json_object_put(x);
    x = history("h2");
    CHECK(x != NULL, "h2 kept");
    json_object_put(x);
    /* re-running an id keeps its position */
    const char *id = h_queue(&h, "{\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": 2}}}", "\"prompt_id\": \"h0\"");
    CHECK(id && h_wait_done(&h, "h0") >= 0, "rerun");
    cd_buf b;
    cd_buf_init(&b, 1 << 24);
    cd_runtime_get_history(h.rt, 1, 0, &b);
    CHECK(strncmp(b.data, "{\"h0\":", 6) == 0, "h0 still first: %.40s", b.data);
    cd_buf_free(&b);
    /* jobs list sees them, newest first */
    cd_buf_init(&b, 1 << 24);
    CHECK(cd_runtime_get_jobs(h.rt, "status=completed&limit=2", &b) == 200, "jobs");
    x = json_tokener_parse(b.data);
    CHECK(json_object_array_length(jget(x, "jobs")) == 2, "limit 2");
    CHECK(json_object_get_boolean(jget(x, "pagination.has_more")), "has_more");
    json_object_put(x);
    cd_buf_free(&b);
}

static void test_hidden(void)
{
    const char *id = h_queue(&h, "{\"5\": {\"class_type\": \"ExecTestHidden\", \"inputs\": {}}}",
                             "\"extra_data\": {\"extra_pnginfo\": {\"workflow\": {\"a\": 1}}}, \"prompt_id\": \"hid\"");
    CHECK(id && h_wait_done(&h, "hid") >= 0, "hidden run");
    struct json_object *hi = history("hid");
    CHECK(hi && strcmp(jstr(hi, "hid.outputs.5.unique_id.0"), "5") == 0, "UNIQUE_ID");
    CHECK(hi && strcmp(jstr(hi, "hid.outputs.5.prompt.0"),
                       "{\"5\": {\"class_type\": \"ExecTestHidden\", \"inputs\": {}}}") == 0, "PROMPT %s",
          hi ? jstr(hi, "hid.outputs.5.prompt.0") : "");
    CHECK(hi && strcmp(jstr(hi, "hid.outputs.5.extra_pnginfo.0.workflow"), "{\"a\": 1}") == 0, "EXTRA_PNGINFO");
    json_object_put(hi);
}

static void test_is_changed(void)
{
    const char *g1 = "{" IMAGE_NODE("1", "BLACK") ", \"2\": {\"class_type\": \"TestCustomIsChanged\", \"inputs\": {\"image\": [\"1\", 0], \"should_change\": false}}, "
                     "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"2\", 0]}}}";
    const char *g2 = "{" IMAGE_NODE("1", "BLACK") ", \"2\": {\"class_type\": \"TestCustomIsChanged\", \"inputs\": {\"image\": [\"1\", 0], \"should_change\": true}}, "
                     "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"2\", 0]}}}";
    const char *gs[4] = {g1, g1, g2, g2};
    int want_ran[4] = {1, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        h_clear_events(&h);
        const char *id = h_queue(&h, gs[i], NULL);
        char p[64];
        snprintf(p, sizeof(p), "%s", id ? id : "");
        CHECK(h_wait_done(&h, p) >= 0, "is_changed run");
        char got[4096];
        h_trace(&h, p, got, sizeof(got));
        CHECK((strstr(got, "executing:2 ") != NULL) == want_ran[i], "run %d: %s", i, got);
    }
}

static void test_policy(const char *flag, const char *val, int second_runs)
{
    harness saved = h;
    if (h_start(&h, flag, val, (char *)NULL) != 0) {  /* val may be NULL */
        CHECK(0, "start with %s", flag);
        h = saved;
        return;
    }
    for (int i = 0; i < 2; i++) {
        h_clear_events(&h);
        const char *id = h_queue(&h, lazy_graph("0.0"), NULL);
        char p[64];
        snprintf(p, sizeof(p), "%s", id ? id : "");
        CHECK(h_wait_done(&h, p) >= 0, "policy run");
        char got[4096];
        h_trace(&h, p, got, sizeof(got));
        if (i == 1)
            CHECK((strstr(got, "executing:1") != NULL) == second_runs, "%s: %s", flag, got);
    }
    h_stop(&h);
    h = saved;
}

static void test_history_limit(void)
{
    harness saved = h;
    if (h_start(&h, "--history-max", "2", (char *)NULL) != 0) {
        CHECK(0, "start");
        h = saved;
        return;
    }
    for (int i = 0; i < 6; i++) {
        char extra[64];
        snprintf(extra, sizeof(extra), "\"prompt_id\": \"L%d\"", i);
        const char *id = h_queue(&h, "{\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": 1}}}", extra);
        CHECK(id && h_wait_done(&h, id) >= 0, "limit run");
    }
    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    cd_runtime_get_history(h.rt, -1, -1, &b);
    struct json_object *o = json_tokener_parse(b.data);
    /* ComfyUI drops the oldest only when more than max are held: max + 1 */
    CHECK(json_object_object_length(o) == 3 && jget(o, "L3") && jget(o, "L5"), "limit: %s", b.data);
    json_object_put(o);
    cd_buf_free(&b);
    h_stop(&h);
    h = saved;
}

/* Node expansion (§5.8): the for loop of ComfyUI's suite, a dynamic
 * dependency cycle blamed on the generator, and async nodes in parallel. */
static void test_expansion_and_async(void)
{
    /* for loop: average(black, v) three times over a white image -> 1/8 */
    h_clear_events(&h);
    const char *id = h_queue(&h,
        "{\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": 4, \"width\": 4, \"batch_size\": 1}}, "
        "\"2\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"WHITE\", \"height\": 4, \"width\": 4, \"batch_size\": 1}}, "
        "\"3\": {\"class_type\": \"TestForLoopOpen\", \"inputs\": {\"remaining\": 3, \"initial_value1\": [\"2\", 0]}}, "
        "\"4\": {\"class_type\": \"TestVariadicAverage\", \"inputs\": {\"input1\": [\"1\", 0], \"input2\": [\"3\", 2]}}, "
        "\"5\": {\"class_type\": \"TestForLoopClose\", \"inputs\": {\"flow_control\": [\"3\", 0], \"initial_value1\": [\"4\", 0]}}, "
        "\"6\": {\"class_type\": \"TestToBoolNode\", \"inputs\": {\"value\": [\"5\", 0]}}, "
        "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"6\", 0]}}}", NULL);
    char p[64];
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p) >= 0, "for loop run");
    char got[16384];
    h_trace(&h, p, got, sizeof(got));
    CHECK(strstr(got, "execution_success") != NULL, "for loop: %s", got);
    /* expanded nodes carry the parent's id as prefix and their display node */
    CHECK(strstr(got, "executing:5.0.0.") != NULL, "expanded nodes ran: %s", got);
    struct json_object *hi = history(p);
    char path[128];
    snprintf(path, sizeof(path), "%s.outputs.9.text.0", p);
    CHECK(hi && json_object_get_boolean(jget(hi, path)), "loop result is non-zero");
    json_object_put(hi);

    /* a cycle created by expansion is an execution error on the generator */
    h_clear_events(&h);
    id = h_queue(&h,
        "{\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": 4, \"width\": 4, \"batch_size\": 1}}, "
        "\"2\": {\"class_type\": \"TestDynamicDependencyCycle\", \"inputs\": {\"input1\": [\"1\", 0], \"input2\": [\"1\", 0]}}, "
        "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"2\", 0]}}}", NULL);
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p) >= 0, "cycle run");
    hi = history(p);
    snprintf(path, sizeof(path), "%s.status.messages.2.1", p);
    struct json_object *err = jget(hi, path);
    CHECK(err && strcmp(jstr(err, "exception_type"), "graph.DependencyCycleError") == 0 &&
          strcmp(jstr(err, "node_id"), "2") == 0, "cycle error: %s",
          err ? json_object_to_json_string(err) : "(none)");
    json_object_put(hi);

    /* three async sleeps of 0.4 s run side by side */
    h_clear_events(&h);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    id = h_queue(&h,
        "{\"1\": {\"class_type\": \"TestSleep\", \"inputs\": {\"value\": 1, \"seconds\": 0.4}}, "
        "\"2\": {\"class_type\": \"TestSleep\", \"inputs\": {\"value\": 2, \"seconds\": 0.41}}, "
        "\"3\": {\"class_type\": \"TestSleep\", \"inputs\": {\"value\": 3, \"seconds\": 0.42}}, "
        "\"4\": {\"class_type\": \"TestMakeListNode\", \"inputs\": {\"value1\": [\"1\", 0], \"value2\": [\"2\", 0], \"value3\": [\"3\", 0]}}, "
        "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"4\", 0]}}}", NULL);
    snprintf(p, sizeof(p), "%s", id ? id : "");
    CHECK(h_wait_done(&h, p) >= 0, "async run");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* all three started before the first one finished (no timing asserts) */
    h_trace(&h, p, got, sizeof(got));
    const char *e3 = strstr(got, "executing:3");
    const char *e2 = strstr(got, "executing:2");
    const char *e1 = strstr(got, "executing:1");
    pthread_mutex_lock(&h.mu);
    long first_finish = -1, last_start = -1;
    for (size_t k = 0; k < h.n; k++) {
        const char *j = h.ev[k].json;
        if (!strstr(j, p))
            continue;
        if (strncmp(j, "{\"type\": \"executing\"", strlen("{\"type\": \"executing\"")) == 0 &&
            (strstr(j, "\"node\": \"1\"") || strstr(j, "\"node\": \"2\"") || strstr(j, "\"node\": \"3\"")))
            last_start = (long)k;
        if (first_finish < 0 &&
            strncmp(j, "{\"type\": \"progress_state\"", strlen("{\"type\": \"progress_state\"")) == 0 &&
            strstr(j, "\"state\": \"finished\""))
            first_finish = (long)k;
    }
    pthread_mutex_unlock(&h.mu);
    CHECK(e1 && e2 && e3 && last_start >= 0 && first_finish > last_start,
          "async nodes did not overlap (%.2f s): %s", secs, got);
    hi = history(p);
    snprintf(path, sizeof(path), "%s.outputs.9.text", p);
    CHECK(hi && strcmp(json_object_to_json_string_ext(jget(hi, path), JSON_C_TO_STRING_PLAIN), "[1,2,3]") == 0,
          "list of async results: %s", hi ? json_object_to_json_string(jget(hi, path)) : "");
    json_object_put(hi);
}

int main(void)
{
    if (h_start(&h, (char *)NULL) != 0) {
        fprintf(stderr, "cannot start the runtime\n");
        return 1;
    }
    test_success_order_and_cache();
    test_progress_state_shape();
    test_error();
    test_interrupt();
    test_queue_ops();
    test_history_windows();
    test_hidden();
    test_is_changed();
    test_expansion_and_async();
    h_stop(&h);
    test_policy("--cache-none", NULL, 1);
    test_policy("--cache-lru", "10", 0);
    test_history_limit();
    if (!g_fail)
        printf("exec_run: ok\n");
    return g_fail;
}
