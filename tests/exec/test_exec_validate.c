/*
 * test_exec_validate.c — POST /prompt validation: every error type of the
 * catalogue (spec/api.md §4.5) with its exact message/details/extra_info,
 * conversions stored in the queued prompt (§4.4), partial acceptance and
 * the counter/number/front rules of §1.13.
 */
#include "harness.h"

static harness h;

/* Posts and returns the status; *r gets the parsed body. */
static int post(struct json_object **r, const char *body)
{
    return h_req(&h, cd_runtime_post_prompt, r, "%s", body);
}

#define OUTNODE "\"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"1\", 0], \"value\": 1.0}}"
#define IMG1 "\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": 8, \"width\": 8, \"batch_size\": 1}}"

static void expect_node_error(const char *body, const char *node, const char *type,
                              const char *message, const char *details, const char *extra)
{
    struct json_object *r = NULL;
    int st = post(&r, body);
    CHECK(st == 400, "status %d for %s", st, body);
    char path[128];
    snprintf(path, sizeof(path), "node_errors.%s.errors.0", node);
    struct json_object *e = jget(r, path);
    CHECK(e != NULL, "no error on node %s: %s", node, r ? json_object_to_json_string(r) : "");
    if (e) {
        CHECK(strcmp(jstr(e, "type"), type) == 0, "type %s != %s", jstr(e, "type"), type);
        CHECK(strcmp(jstr(e, "message"), message) == 0, "message '%s' != '%s'", jstr(e, "message"), message);
        CHECK(strcmp(jstr(e, "details"), details) == 0, "details '%s' != '%s'", jstr(e, "details"), details);
        if (extra) {
            cd_buf b;
            cd_buf_init(&b, 1 << 20);
            cd_json_dump(&b, jget(e, "extra_info"));
            CHECK(strcmp(b.data, extra) == 0, "extra_info\n  %s\n!=\n  %s", b.data, extra);
            cd_buf_free(&b);
        }
        CHECK(strcmp(jstr(r, "error.type"), "prompt_outputs_failed_validation") == 0, "top type %s",
              jstr(r, "error.type"));
        snprintf(path, sizeof(path), "node_errors.%s.class_type", node);
        CHECK(jstr(r, path) != NULL, "class_type missing");
    }
    json_object_put(r);
}

static void expect_top(const char *body, int status, const char *type, const char *message,
                       const char *details)
{
    struct json_object *r = NULL;
    int st = post(&r, body);
    CHECK(st == status, "status %d != %d for %s", st, status, body);
    CHECK(r && strcmp(jstr(r, "error.type"), type) == 0, "type %s != %s", r ? jstr(r, "error.type") : "-", type);
    if (message)
        CHECK(r && strcmp(jstr(r, "error.message"), message) == 0, "message %s", r ? jstr(r, "error.message") : "-");
    if (details)
        CHECK(r && strcmp(jstr(r, "error.details"), details) == 0, "details '%s' != '%s'",
              r ? jstr(r, "error.details") : "-", details);
    json_object_put(r);
}

int main(void)
{
    if (h_start(&h, "--queue-max", "3", (char *)NULL) != 0) {
        fprintf(stderr, "cannot start the runtime\n");
        return 1;
    }
    /* Keep the worker from draining the queue: a long node first. */

    expect_top("{\"client_id\": \"x\"}", 400, "no_prompt", "No prompt provided", "No prompt provided");
    expect_top("{\"prompt\": {\"7\": {\"class_type\": \"Foo\", \"inputs\": {}}}}", 400, "invalid_prompt",
               "Cannot execute because node Foo does not exist.", "Node ID '#7'");
    expect_top("{\"prompt\": {\"3\": {\"inputs\": {}}}}", 400, "invalid_prompt",
               "Cannot execute because a node is missing the class_type property.", "Node ID '#3'");
    expect_top("{\"prompt\": {}}", 400, "prompt_no_outputs", "Prompt has no outputs", "");
    expect_top("{\"prompt\": {" IMG1 "}}", 400, "prompt_no_outputs", "Prompt has no outputs", "");
    expect_top("{\"prompt\": {" IMG1 ", " OUTNODE "}, \"partial_execution_targets\": []}", 400,
               "prompt_no_outputs", NULL, NULL);
    expect_top("{\"prompt\": {" IMG1 ", " OUTNODE "}, \"partial_execution_targets\": [\"1\"]}", 400,
               "prompt_no_outputs", NULL, NULL);

    expect_node_error("{\"prompt\": {" IMG1 ", \"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"value\": 1.0}}}}",
                      "9", "required_input_missing", "Required input is missing", "image",
                      "{\"input_name\": \"image\"}");
    expect_node_error("{\"prompt\": {" IMG1 ", \"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"1\", 0, 2], \"value\": 1.0}}}}",
                      "9", "bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                      "image", "{\"input_name\": \"image\", \"input_config\": [\"IMAGE\", {}], \"received_value\": [\"1\", 0, 2]}");
    expect_node_error("{\"prompt\": {\"1\": {\"class_type\": \"StubMask\", \"inputs\": {\"value\": 0.5, \"height\": 8, \"width\": 8, \"batch_size\": 1}}, " OUTNODE "}}",
                      "9", "return_type_mismatch", "Return type mismatch between linked nodes",
                      "image, received_type(MASK) mismatch input_type(IMAGE)",
                      "{\"input_name\": \"image\", \"input_config\": [\"IMAGE\", {}], \"received_type\": \"MASK\", \"linked_node\": [\"1\", 0]}");
    expect_node_error("{\"prompt\": {\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": \"abc\", \"width\": 8, \"batch_size\": 1}}, " OUTNODE "}}",
                      "1", "invalid_input_type", "Failed to convert an input value to a INT value",
                      "height, abc, invalid literal for int() with base 10: 'abc'",
                      "{\"input_name\": \"height\", \"input_config\": [\"INT\", {\"default\": 512, \"min\": 1, \"max\": 1073741824, \"step\": 1}], \"received_value\": \"abc\", \"exception_message\": \"invalid literal for int() with base 10: 'abc'\"}");
    expect_node_error("{\"prompt\": {\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": 0, \"width\": 8, \"batch_size\": 1}}, " OUTNODE "}}",
                      "1", "value_smaller_than_min", "Value 0 smaller than min of 1", "height",
                      "{\"input_name\": \"height\", \"input_config\": [\"INT\", {\"default\": 512, \"min\": 1, \"max\": 1073741824, \"step\": 1}], \"received_value\": 0}");
    expect_node_error("{\"prompt\": {\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": 8, \"width\": 8, \"batch_size\": 1}}, \"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"1\", 0], \"value\": 12}}}}",
                      "9", "value_bigger_than_max", "Value 12.0 bigger than max of 10.0", "value",
                      "{\"input_name\": \"value\", \"input_config\": [\"FLOAT\", {\"default\": 1.0, \"min\": 0.0, \"max\": 10.0}], \"received_value\": 12.0}");
    expect_node_error("{\"prompt\": {\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"GREY\", \"height\": 8, \"width\": 8, \"batch_size\": 1}}, " OUTNODE "}}",
                      "1", "value_not_in_list", "Value not in list", "content: 'GREY' not in ['WHITE', 'BLACK', 'NOISE']",
                      "{\"input_name\": \"content\", \"input_config\": [[\"WHITE\", \"BLACK\", \"NOISE\"], {}], \"received_value\": \"GREY\"}");
    /* custom validation: TestCustomValidation5 rejects input2 == 7 */
    expect_node_error("{\"prompt\": {\"1\": {\"class_type\": \"TestCustomValidation5\", \"inputs\": {\"input1\": 0.0, \"input2\": 7.0}}, " OUTNODE "}}",
                      "1", "custom_validation_failed", "Custom validation failed for node",
                      "input1 - 7s are not allowed. I've never liked 7s.", "{\"input_name\": \"input1\"}");
    /* a link to a node that does not exist, from an inner node */
    expect_node_error("{\"prompt\": {\"1\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"2\", 0], \"value\": 1.0}}, "
                      "\"2\": {\"class_type\": \"TestVariadicAverage\", \"inputs\": {\"input1\": [\"42\", 0]}}}, \"partial_execution_targets\": [\"1\"]}",
                      "2", "exception_during_inner_validation", "Exception when validating inner node", "'42'", NULL);
    /* ... and from the output itself */
    expect_node_error("{\"prompt\": {\"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"42\", 0], \"value\": 1.0}}}}",
                      "9", "exception_during_validation", "Exception when validating node", "'42'",
                      "{\"exception_type\": \"KeyError\", \"traceback\": []}");
    /* details of prompt_outputs_failed_validation: the output's own errors */
    expect_top("{\"prompt\": {" IMG1 ", \"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"value\": 1.0}}}}",
               400, "prompt_outputs_failed_validation", "Prompt outputs failed validation",
               "Required input is missing: image");
    /* a static cycle is rejected */
    expect_top("{\"prompt\": {\"1\": {\"class_type\": \"TestVariadicAverage\", \"inputs\": {\"input1\": [\"2\", 0]}}, "
               "\"2\": {\"class_type\": \"TestVariadicAverage\", \"inputs\": {\"input1\": [\"1\", 0]}}, "
               "\"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"2\", 0], \"value\": 1.0}}}}",
               400, "prompt_outputs_failed_validation", NULL, NULL);

    /* accepted: number counter, conversions, partial acceptance */
    struct json_object *r = NULL;
    int st = post(&r, "{\"prompt\": {\"1\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": \"8\", \"width\": 8.7, \"batch_size\": {\"__value__\": 1}}}, "
                      "\"9\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"image\": [\"1\", 0], \"value\": 1}}, "
                      "\"10\": {\"class_type\": \"TestOutputNodeWithSocketOutput\", \"inputs\": {\"value\": 1}}}, \"client_id\": \"c9\"}");
    CHECK(st == 200, "partial acceptance status %d", st);
    CHECK(r && jget(r, "node_errors.10") != NULL, "node_errors lacks 10");
    CHECK(r && strlen(jstr(r, "prompt_id")) == 36, "uuid4 prompt_id");
    /* 19 requests without "number" went before: the counter says 19 */
    CHECK(r && json_object_get_int(jget(r, "number")) == 19, "number %s", r ? jstr(r, "number") : "-");
    const char *pid = r ? jstr(r, "prompt_id") : "";
    char id1[64];
    snprintf(id1, sizeof(id1), "%s", pid);
    json_object_put(r);
    long done = h_wait_done(&h, id1);
    CHECK(done >= 0, "prompt did not finish");
    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    cd_runtime_get_history_item(h.rt, id1, &b);
    CHECK(strstr(b.data, "\"height\": 8, \"width\": 8, \"batch_size\": 1}") != NULL, "conversions: %s", b.data);
    CHECK(strstr(b.data, "\"value\": 1.0}") != NULL, "FLOAT 1 stored as 1.0: %s", b.data);
    CHECK(strstr(b.data, "\"client_id\": \"c9\"") != NULL, "client_id in extra_data");
    CHECK(strstr(b.data, "[\"9\"]]") != NULL, "outputs_to_execute is [\"9\"]: %s", b.data);
    cd_buf_free(&b);

    /* explicit number, front, prompt_id override */
    st = post(&r, "{\"prompt\": {" IMG1 ", " OUTNODE "}, \"number\": 5, \"prompt_id\": \"my-id\"}");
    CHECK(st == 200 && strcmp(json_object_to_json_string_ext(jget(r, "number"), 0), "5.0") == 0,
          "number 5 -> 5.0 (%d)", st);
    CHECK(r && strcmp(jstr(r, "prompt_id"), "my-id") == 0, "prompt_id override");
    json_object_put(r);
    st = post(&r, "{\"prompt\": {" IMG1 ", " OUTNODE "}, \"front\": true}");
    CHECK(st == 200 && json_object_get_int(jget(r, "number")) == -20, "front -> -20 (%s)", r ? jstr(r, "number") : "-");
    json_object_put(r);
    /* uint64 seed survives */
    st = post(&r, "{\"prompt\": {\"1\": {\"class_type\": \"TestIntMathOperation\", \"inputs\": {\"a\": 18446744073709551615, \"b\": 0, \"operation\": \"add\"}}, "
                  "\"9\": {\"class_type\": \"ExecTestUI\", \"inputs\": {\"value\": [\"1\", 0]}}}, \"prompt_id\": \"seed\", \"client_id\": \"c1\"}");
    CHECK(st == 200, "uint64 status %d", st);
    json_object_put(r);
    h_wait_done(&h, "seed");
    cd_buf_init(&b, 1 << 20);
    cd_runtime_get_history_item(h.rt, "seed", &b);
    CHECK(strstr(b.data, "\"a\": 18446744073709551615") != NULL, "uint64 kept: %s", b.data);
    cd_buf_free(&b);
    h_stop(&h);
    if (!g_fail)
        printf("exec_validate: ok\n");
    return g_fail;
}
