/*
 * test_history.c — the history store (runtime/history.c): entries round
 * trip byte for byte through the deflated block store (small, large and
 * incompressible texts, records bigger than a block), ids keep their first
 * position when replaced, the oldest go past `max`, GET /history windows,
 * and the store's mapped bytes follow deletions (blocks unmapped, the store
 * compacted below twice its live bytes plus a block, nothing after clear).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "history.h"

#define BLOCK ((size_t)64 << 10)

/* A history-like entry text for entry i (about 700 bytes), or, with
 * `noise`, n pseudo-random printable bytes that deflate cannot shrink. */
static char *entry_text(unsigned i, size_t noise)
{
    cd_buf b;
    cd_buf_init(&b, (size_t)1 << 24);
    if (noise) {
        unsigned x = i * 2654435761u + 1;
        cd_buf_putc(&b, '"');
        for (size_t k = 0; k < noise; k++) {
            x = x * 1103515245u + 12345u;
            cd_buf_putc(&b, (char)('#' + (x >> 16) % 90));
        }
        cd_buf_putc(&b, '"');
    } else {
        cd_buf_printf(&b,
                      "{\"prompt\": [%u, \"id-%u\", {\"1\": {\"class_type\": \"StubConstantImage\", "
                      "\"inputs\": {\"value\": 0.%u, \"height\": 64, \"width\": 64, \"batch_size\": 1}}}, "
                      "{}, [\"2\"]], \"outputs\": {}, \"status\": {\"status_str\": \"success\", "
                      "\"completed\": true, \"messages\": [[\"execution_start\", {\"prompt_id\": "
                      "\"id-%u\", \"timestamp\": 17953446993%02u}]]}, \"meta\": {}}",
                      i, i, i, i, i % 100);
    }
    return cd_buf_steal(&b, NULL);
}

static char *id_of(unsigned i)
{
    char *s = malloc(32);
    snprintf(s, 32, "id-%u", i);
    return s;
}

static int put(cd_history *h, unsigned i, const char *text)
{
    char *id = id_of(i);
    char sum[64];
    snprintf(sum, sizeof(sum), "{\"priority\": %u}", i);
    cd_hjob job = {.state = CD_JOB_COMPLETED, .created_ms = i, .seq = i};
    int rc = cd_history_put(h, id, &job, sum, text, strlen(text));
    free(id);
    return rc;
}

/* Entry i's text reads back as `want`. */
static int same_text(cd_history *h, unsigned i, const char *want)
{
    char *id = id_of(i);
    const cd_hentry *e = cd_history_get(h, id);
    free(id);
    if (!e)
        return 0;
    cd_buf b;
    cd_buf_init(&b, (size_t)1 << 24);
    int ok = cd_history_text(h, e, &b) == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    cd_buf_free(&b);
    return ok;
}

static void test_round_trip(void)
{
    cd_history h;
    cd_history_init(&h, 10000);
    char *small = entry_text(1, 0), *noise = entry_text(2, 3000), *huge = entry_text(3, 300000);
    char *empty = strdup("");
    CHECK(put(&h, 1, small) == 0);
    CHECK(put(&h, 2, noise) == 0);
    CHECK(put(&h, 3, huge) == 0);   /* a record bigger than a block */
    CHECK(put(&h, 4, empty) == 0);
    CHECK(same_text(&h, 1, small));
    CHECK(same_text(&h, 2, noise));
    CHECK(same_text(&h, 3, huge));
    CHECK(same_text(&h, 4, empty));
    const cd_hentry *e = cd_history_get(&h, "id-1");
    CHECK(e && strcmp(cd_hentry_id(e), "id-1") == 0);
    cd_buf sb;
    cd_buf_init(&sb, 1024);
    CHECK(e && cd_history_summary(&h, e, &sb) == 0);
    CHECK_STR(sb.data, "{\"priority\": 1}");
    cd_buf_free(&sb);
    CHECK(e && e->job.seq == 1 && e->job.state == CD_JOB_COMPLETED);
    /* the small entry is stored deflated */
    CHECK(e && e->zlen * 2 < e->text_len);
    CHECK(cd_history_get(&h, "id-9") == NULL);
    CHECK(cd_history_get(&h, "id-") == NULL);

    /* {id: entry} and the whole map */
    cd_buf b;
    cd_buf_init(&b, (size_t)1 << 24);
    CHECK(e && cd_history_write_entry(&h, e, &b) == 0);
    char *want = malloc(strlen(small) + 64);
    snprintf(want, strlen(small) + 64, "{\"id-1\": %s}", small);
    CHECK_STR(b.data, want);
    free(want);
    cd_buf_reset(&b);
    CHECK(cd_history_write(&h, 1, -1, &b) == 0);   /* max_items=1: the newest */
    CHECK_STR(b.data, "{\"id-4\": }");
    cd_buf_free(&b);
    cd_history_free(&h);
    free(small);
    free(noise);
    free(huge);
    free(empty);
}

static void test_order_replace_evict(void)
{
    cd_history h;
    cd_history_init(&h, 5);
    char *t[10];
    for (unsigned i = 0; i < 10; i++)
        t[i] = entry_text(i, 0);
    for (unsigned i = 0; i < 4; i++)
        CHECK(put(&h, i, t[i]) == 0);
    /* replacing id-1 keeps its place, with the new text */
    CHECK(put(&h, 1, t[9]) == 0);
    CHECK_INT(h.n, 4);
    CHECK_STR(cd_hentry_id(&h.v[1]), "id-1");
    CHECK(same_text(&h, 1, t[9]));
    /* ComfyUI drops the oldest while more than max are held before an insert */
    for (unsigned i = 4; i < 9; i++)
        CHECK(put(&h, i, t[i]) == 0);
    CHECK_INT(h.n, 6);
    CHECK_STR(cd_hentry_id(&h.v[0]), "id-3");
    CHECK_STR(cd_hentry_id(&h.v[5]), "id-8");
    CHECK(cd_history_get(&h, "id-2") == NULL);
    for (unsigned i = 3; i < 9; i++)
        CHECK(same_text(&h, i, t[i]));

    cd_buf b;
    cd_buf_init(&b, 1 << 20);
    CHECK(cd_history_write(&h, 2, 1, &b) == 0);   /* offset 1, two items */
    CHECK(strncmp(b.data, "{\"id-4\": ", 9) == 0);
    CHECK(strstr(b.data, "\"id-5\": ") != NULL && strstr(b.data, "id-6\": ") == NULL);
    cd_buf_free(&b);
    cd_history_free(&h);
    for (unsigned i = 0; i < 10; i++)
        free(t[i]);
}

static void test_store_memory(void)
{
    enum { N = 4000 };
    cd_history h;
    cd_history_init(&h, 10000);
    static char *t[N];
    size_t text_bytes = 0;
    for (unsigned i = 0; i < N; i++) {
        t[i] = entry_text(i, i % 97 == 0 ? 2000 : 0);
        text_bytes += strlen(t[i]);
        CHECK(put(&h, i, t[i]) == 0);
    }
    size_t full = cd_history_mapped_bytes(&h);
    printf("history store: %d entries, %zu text bytes, %zu live, %zu mapped\n", N, text_bytes,
           cd_history_live_bytes(&h), full);
    CHECK(cd_history_live_bytes(&h) * 2 < text_bytes);   /* deflated */
    CHECK(full <= cd_history_live_bytes(&h) + BLOCK);

    /* every other entry goes: the store compacts */
    for (unsigned i = 0; i < N; i += 2) {
        char *id = id_of(i);
        CHECK(cd_history_delete(&h, id) == 1);
        CHECK(cd_history_delete(&h, id) == 0);
        free(id);
        CHECK(cd_history_mapped_bytes(&h) <= 2 * cd_history_live_bytes(&h) + BLOCK);
    }
    CHECK_INT(h.n, N / 2);
    for (unsigned i = 1; i < N; i += 2)
        if (!same_text(&h, i, t[i])) {
            CHECK(!"text survives compaction");
            break;
        }
    CHECK(cd_history_mapped_bytes(&h) < full * 2 / 3);

    /* the oldest half goes: whole blocks are unmapped */
    for (unsigned i = 1; i < N / 2; i += 2) {
        char *id = id_of(i);
        CHECK(cd_history_delete(&h, id) == 1);
        free(id);
    }
    CHECK(cd_history_mapped_bytes(&h) <= 2 * cd_history_live_bytes(&h) + BLOCK);
    CHECK(same_text(&h, N - 1, t[N - 1]));

    cd_history_clear(&h);
    CHECK_INT(cd_history_mapped_bytes(&h), 0);
    CHECK_INT(cd_history_live_bytes(&h), 0);
    CHECK(h.v == NULL);
    CHECK(put(&h, 7, t[7]) == 0 && same_text(&h, 7, t[7]));
    CHECK(cd_history_delete(&h, "id-7") == 1);
    CHECK_INT(cd_history_mapped_bytes(&h), 0);   /* the last one takes its block along */
    cd_history_free(&h);
    for (unsigned i = 0; i < N; i++)
        free(t[i]);
}

int main(void)
{
    test_round_trip();
    test_order_replace_evict();
    test_store_memory();
    CHECK_DONE();
}
