/*
 * buf.h — a growable byte buffer with a ceiling set at creation.
 *
 * Every response body, JSON document and log line that the runtime builds
 * goes through a cd_buf.  The ceiling (max) turns runaway output into a
 * clean error instead of an OOM.  Not thread-safe: one owner at a time.
 *
 *     cd_buf b;
 *     cd_buf_init(&b, 1 << 20);
 *     if (cd_buf_printf(&b, "%d", 42) < 0) goto fail;
 *     use(b.data, b.len);       // b.data is always NUL-terminated
 *     cd_buf_free(&b);
 */
#ifndef CD_BUF_H
#define CD_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct cd_buf {
    char *data;   /* owned; NUL-terminated after any successful append */
    size_t len;   /* bytes used, not counting the NUL                   */
    size_t cap;   /* bytes allocated                                     */
    size_t max;   /* ceiling on len; appends beyond it fail              */
} cd_buf;

/* Starts an empty buffer that may grow to `max` bytes.  Allocates nothing. */
void cd_buf_init(cd_buf *b, size_t max);

/* Frees the data and resets to empty (the ceiling is kept). */
void cd_buf_free(cd_buf *b);

/* Empties the buffer, keeping its allocation. */
void cd_buf_reset(cd_buf *b);

/* Makes room for `n` more bytes plus the NUL without appending (for a
 * producer that writes into data + len itself, then advances len).
 * 0, or -1 when memory runs out or the ceiling would be passed. */
int cd_buf_reserve(cd_buf *b, size_t n);

/* Appends bytes.  Returns 0, or -1 when memory runs out or the ceiling
 * would be passed (the buffer is then unchanged). */
int cd_buf_append(cd_buf *b, const void *p, size_t n);
int cd_buf_puts(cd_buf *b, const char *s);
int cd_buf_putc(cd_buf *b, char c);
int cd_buf_printf(cd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cd_buf_vprintf(cd_buf *b, const char *fmt, va_list ap);

/* Hands the data to the caller (who frees it with free()) and resets the
 * buffer.  Returns an empty allocated string when the buffer is empty,
 * NULL only when memory runs out. */
char *cd_buf_steal(cd_buf *b, size_t *len);

#endif
