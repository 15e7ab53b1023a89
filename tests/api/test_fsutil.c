/* The network layer's path checks: "..", absolute names and symbolic links
 * cannot leave the root (cd_paths_join_beneath, runtime/paths.c, as the
 * api routes call it); the file helpers of fsutil.c. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fsutil.h"
#include "paths.h"

int main(void)
{
    char tmpl[] = "/tmp/api_fsutil_XXXXXX", out[CD_PATH_MAX], p[CD_PATH_MAX];
    char *root = mkdtemp(tmpl);
    CHECK(root != NULL);
    if (!root) DONE();
    snprintf(p, sizeof(p), "%s/sub", root);
    mkdir(p, 0755);

    CHECK(cd_paths_join_beneath(root, "a.png", out, sizeof(out)) == 0);
    snprintf(p, sizeof(p), "%s/a.png", root);
    CHECK_STR(out, p);
    CHECK(cd_paths_join_beneath(root, "", out, sizeof(out)) == 0);
    CHECK_STR(out, root);
    CHECK(cd_paths_join_beneath(root, "sub/../b//./c.png", out, sizeof(out)) == 0);
    snprintf(p, sizeof(p), "%s/b/c.png", root);
    CHECK_STR(out, p);
    CHECK(cd_paths_join_beneath(root, "..", out, sizeof(out)) < 0);
    CHECK(cd_paths_join_beneath(root, "sub/../../x", out, sizeof(out)) < 0);
    CHECK(cd_paths_join_beneath(root, "/etc/passwd", out, sizeof(out)) < 0);
    CHECK(cd_paths_join_beneath(root, "a", out, 4) < 0);            /* does not fit */

    /* a symlink pointing outside is refused; one pointing inside is fine */
    snprintf(p, sizeof(p), "%s/out", root);
    CHECK(symlink("/etc", p) == 0);
    CHECK(cd_paths_join_beneath(root, "out/passwd", out, sizeof(out)) < 0);
    CHECK(cd_paths_join_beneath(root, "out/not/yet/made", out, sizeof(out)) < 0);
    snprintf(p, sizeof(p), "%s/in", root);
    CHECK(symlink("sub", p) == 0);
    CHECK(cd_paths_join_beneath(root, "in/x.png", out, sizeof(out)) == 0);

    /* mkdirs, write, read with ceiling */
    snprintf(p, sizeof(p), "%s/d1/d2/f.txt", root);
    CHECK(cd_fs_mkparent(p) == 0);
    CHECK(cd_fs_write(p, "hello", 5) == 0);
    size_t n = 0;
    char *data = cd_fs_read(p, 100, &n);
    CHECK(data && n == 5 && strcmp(data, "hello") == 0);
    free(data);
    CHECK(cd_fs_read(p, 4, &n) == NULL);
    CHECK(cd_fs_is_file(p) && !cd_fs_is_dir(p));

    char cmd[CD_PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    DONE();
}
