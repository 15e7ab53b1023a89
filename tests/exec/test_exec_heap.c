/*
 * test_exec_heap.c — the pending queue keeps Python heapq's exact array
 * order (spec/api.md §3.2).  Expected lines come from gen/heap_golden.py.
 */
#include <stdio.h>
#include <string.h>

#include "queue.h"

static const char *const expect[] = {
    "e", "c e", "c e h", "a c h e", "a b h e c", "z b a e c h", "z b a e c h g",
    "z b a d c h g e", "a b e d c h g", "a b e d c g", "y b a d c g e", "a b e d c g",
    "a b e d g", "a b x d g e"};

static struct json_object *item(double num, int is_float, const char *id)
{
    struct json_object *a = json_object_new_array();
    json_object_array_add(a, is_float ? json_object_new_double(num) : json_object_new_int64((int64_t)num));
    json_object_array_add(a, json_object_new_string(id));
    json_object_array_add(a, json_object_new_object());
    json_object_array_add(a, json_object_new_object());
    json_object_array_add(a, json_object_new_array());
    return a;
}

static int check(cd_queue *q, int step)
{
    char line[256] = "";
    for (size_t i = 0; i < q->n; i++) {
        if (i)
            strncat(line, " ", sizeof(line) - strlen(line) - 1);
        strncat(line, q->v[i]->prompt_id, sizeof(line) - strlen(line) - 1);
    }
    if (strcmp(line, expect[step]) != 0) {
        fprintf(stderr, "step %d: got '%s', want '%s'\n", step, line, expect[step]);
        return 1;
    }
    return 0;
}

int main(void)
{
    cd_queue q;
    cd_queue_init(&q, 0);
    int fail = 0, step = 0;
    struct { char op; double n; int f; const char *id; } ops[] = {
        {'p', 5, 0, "e"}, {'p', 3, 0, "c"}, {'p', 8, 0, "h"}, {'p', 1, 0, "a"}, {'p', 3, 0, "b"},
        {'p', -2, 0, "z"}, {'p', 7, 0, "g"}, {'p', 3.5, 1, "d"}, {'o', 0, 0, NULL},
        {'d', 0, 0, "h"}, {'p', 0, 0, "y"}, {'o', 0, 0, NULL}, {'d', 0, 0, "c"}, {'p', 2, 0, "x"}};
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        if (ops[k].op == 'p') {
            cd_qitem *it = cd_qitem_new(item(ops[k].n, ops[k].f, ops[k].id), (long long)k);
            if (cd_queue_push(&q, it) < 0)
                return 1;
        } else if (ops[k].op == 'o') {
            cd_qitem_free(cd_queue_pop(&q));
        } else {
            long at = cd_queue_find(&q, ops[k].id);
            if (at < 0)
                return 1;
            cd_qitem_free(cd_queue_remove_at(&q, (size_t)at));
        }
        fail |= check(&q, step++);
    }
    /* popping drains in (number, prompt_id) order */
    const char *order[] = {"a", "x", "b", "d", "e", "g"};
    for (int i = 0; i < 6; i++) {
        cd_qitem *it = cd_queue_pop(&q);
        if (!it || strcmp(it->prompt_id, order[i]) != 0) {
            fprintf(stderr, "pop %d: got %s want %s\n", i, it ? it->prompt_id : "(none)", order[i]);
            fail = 1;
        }
        cd_qitem_free(it);
    }
    /* a bounded queue refuses the item past its ceiling */
    cd_queue b;
    cd_queue_init(&b, 2);
    cd_qitem *i1 = cd_qitem_new(item(1, 0, "1"), 1), *i2 = cd_qitem_new(item(2, 0, "2"), 2),
             *i3 = cd_qitem_new(item(3, 0, "3"), 3);
    if (cd_queue_push(&b, i1) || cd_queue_push(&b, i2) || cd_queue_push(&b, i3) != -1) {
        fprintf(stderr, "bounded queue accepted a third item\n");
        fail = 1;
    }
    cd_qitem_free(i3);
    cd_queue_free(&b);
    cd_queue_free(&q);
    if (!fail)
        printf("exec_heap: ok\n");
    return fail;
}
