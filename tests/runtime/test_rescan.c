/* runtime_rescan_registry: cd_registry_rescan against readers on other
 * threads, the class capacity, and what counts as a new pack file.
 *
 * Two reader threads walk the registry without locks (count, at, find,
 * pack_at) while the main thread rescans a directory many times: the
 * first rescans add rt_slow and rt_good, and every rescan loads rt_dup
 * again, whose first class (RtDupOwn) is staged and dropped when its
 * second clashes.  The readers must never see RtDupOwn, a count that goes
 * down, or a class whose lookup or pack is missing.  Build it with
 * -fsanitize=thread to check the publication order.
 *
 * Usage: runtime_rescan_registry RT_SLOW.so RT_GOOD.so RT_DUP.so */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "host.h"
#include "log.h"
#include "registry.h"

#define RESCANS 200

static atomic_int g_stop;
static atomic_int g_bad;        /* a reader saw something it must not */
static atomic_long g_reads;

static void *reader(void *arg)
{
    const cd_registry *r = arg;
    size_t last = 0;
    while (!atomic_load(&g_stop)) {
        size_t n = cd_registry_count(r);
        if (n < last)
            atomic_fetch_add(&g_bad, 1);
        last = n;
        for (size_t i = 0; i < n; i++) {
            const cd_class *c = cd_registry_at(r, i);
            if (!c || cd_registry_find(r, c->def->name) != c || !c->pack ||
                !cd_registry_find_pack(r, cd_pack_name(c->pack)))
                atomic_fetch_add(&g_bad, 1);
        }
        if (cd_registry_find(r, "RtDupOwn"))
            atomic_fetch_add(&g_bad, 1);
        size_t np = cd_registry_pack_count(r);
        for (size_t i = 0; i < np; i++)
            if (!cd_registry_pack_at(r, i))
                atomic_fetch_add(&g_bad, 1);
        atomic_fetch_add(&g_reads, 1);
    }
    return NULL;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    int rc = -1;
    if (!in || !out)
        goto out;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            goto out;
    rc = ferror(in) ? -1 : 0;
out:
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

static int log_has(cd_logger *log, const char *needle)
{
    cd_buf b;
    cd_buf_init(&b, 1 << 22);
    int found = cd_logger_dump(log, 0, &b) == 0 && b.data && strstr(b.data, needle);
    cd_buf_free(&b);
    return found;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s RT_SLOW.so RT_GOOD.so RT_DUP.so\n", argv[0]);
        return 2;
    }
    char dir[64], dir2[64], p[512], q[512];
    snprintf(dir, sizeof dir, "/tmp/rtrescanXXXXXX");
    snprintf(dir2, sizeof dir2, "/tmp/rtrescanXXXXXX");
    if (!mkdtemp(dir) || !mkdtemp(dir2))
        return 1;
    cd_logger *log = cd_logger_new(2000, 0);
    cd_host *host = cd_host_new(log, NULL);
    CHECK(log && host);
    if (!log || !host)
        CHECK_DONE();

    /* ---- readers against rescans ---- */
    cd_registry *r = cd_registry_new(cd_host_table(host));
    CHECK(r != NULL);
    const char *dirs[] = {dir};
    snprintf(p, sizeof p, "%s/rt_slow.so", dir);
    CHECK(copy_file(argv[1], p) == 0);
    CHECK_INT(cd_registry_rescan(r, dirs, 1), 1);
    CHECK_INT(cd_registry_count(r), 2);

    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, r);
    /* zz_dup sorts after rt_good, so its RtDouble clashes every time. */
    snprintf(p, sizeof p, "%s/rt_good.so", dir);
    CHECK(copy_file(argv[2], p) == 0);
    snprintf(p, sizeof p, "%s/zz_dup.so", dir);
    CHECK(copy_file(argv[3], p) == 0);
    /* Both readers are running before the first rescan publishes. */
    while (atomic_load(&g_reads) < 100)
        usleep(1000);
    int added = 0;
    for (int i = 0; i < RESCANS; i++)
        added += cd_registry_rescan(r, dirs, 1);
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(added, 1);
    CHECK_INT(atomic_load(&g_bad), 0);
    CHECK(atomic_load(&g_reads) > 0);
    CHECK_INT(cd_registry_count(r), 6);
    CHECK_INT(cd_registry_pack_count(r), 2);
    CHECK_STR(cd_registry_at(r, 0)->def->name, "RtSlowSleep");
    CHECK_STR(cd_registry_at(r, 2)->def->name, "LoadImage");
    CHECK(cd_registry_find(r, "RtDupOwn") == NULL);
    CHECK(log_has(log, "zz_dup.so: init failed: duplicate node class RtDouble"));
    printf("%ld reader passes over %d rescans\n", (long)atomic_load(&g_reads), RESCANS);

    /* The same file under another name (a symlink) is not a new pack; a
     * replaced file is logged and stays loaded. */
    snprintf(p, sizeof p, "%s/rt_slow.so", dir);
    snprintf(q, sizeof q, "%s/again.so", dir2);
    CHECK(symlink(p, q) == 0);
    const char *both[] = {dir, dir2};
    snprintf(q, sizeof q, "%s/zz_dup.so", dir);
    CHECK(unlink(q) == 0);
    CHECK_INT(cd_registry_rescan(r, both, 2), 0);
    CHECK(!log_has(log, "again.so"));
    snprintf(q, sizeof q, "%s/.tmp", dir);
    CHECK(copy_file(argv[1], q) == 0 && rename(q, p) == 0);
    CHECK_INT(cd_registry_rescan(r, both, 2), 0);
    CHECK(log_has(log, "was replaced; the loaded version stays: restart to replace "
                       "rt_slow"));
    snprintf(p, sizeof p, "%s/rt_good.so", dir);
    CHECK(unlink(p) == 0);
    CHECK_INT(cd_registry_rescan(r, dirs, 1), 0);
    CHECK(log_has(log, "was removed; it stays loaded: restart to unload rt_good"));
    CHECK_INT(cd_registry_count(r), 6);
    cd_registry_free(r);

    /* ---- the class capacity ---- */
    r = cd_registry_new_bounded(cd_host_table(host), 5);
    CHECK(r != NULL);
    CHECK(cd_registry_new_bounded(cd_host_table(host), 0) == NULL);
    snprintf(p, sizeof p, "%s/rt_good.so", dir);
    CHECK(copy_file(argv[2], p) == 0);
    /* rt_good (4 classes) loads; rt_slow's first class fits, its second
     * does not, so the pack is skipped and the first one dropped. */
    CHECK_INT(cd_registry_load_dir(r, dir), 1);
    CHECK_INT(cd_registry_count(r), 4);
    CHECK(cd_registry_find(r, "RtSlowSleep") == NULL);
    CHECK(log_has(log, "the registry holds at most 5 node classes"));
    CHECK(log_has(log, "rt_slow.so: init failed: more than 5 node classes in all"));
    cd_registry_free(r);

    unlink(p);
    snprintf(p, sizeof p, "%s/rt_slow.so", dir);
    unlink(p);
    snprintf(q, sizeof q, "%s/again.so", dir2);
    unlink(q);
    rmdir(dir);
    rmdir(dir2);
    cd_host_free(host);
    cd_logger_free(log);
    CHECK_DONE();
}
