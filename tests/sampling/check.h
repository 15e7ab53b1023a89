/*
 * check.h - the few helpers the sampling tests share: a failure counter,
 * FNV-1a over float32 bytes, float32 <-> hex, a comma-separated hex list,
 * and reading a golden file from SAMPLING_DATA_DIR (set by
 * tests/sampling/CMakeLists.txt).
 */
#ifndef SAMPLING_CHECK_H
#define SAMPLING_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      check_failures++;                                                      \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                          \
      fputc('\n', stderr);                                                   \
    }                                                                        \
  } while (0)

static inline uint64_t check_fnv_f32(const float *v, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;
  const unsigned char *b = (const unsigned char *)v; /* little-endian host */
  for (size_t i = 0; i < n * 4; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static inline uint32_t check_bits(float f)
{
  uint32_t b;
  memcpy(&b, &f, 4);
  return b;
}

static inline float check_float(uint32_t b)
{
  float f;
  memcpy(&f, &b, 4);
  return f;
}

/* Reads a list of float32 bit patterns in hex ("3f800000,40000000"), up
 * to the end of the line and at most `max`, into out; "-" is the empty
 * list.  The count read. */
static inline int check_hex_list(const char *s, float *out, int max)
{
  int n = 0;
  if (s[0] == '-')
    return 0;
  while (*s && *s != '\n' && n < max) {
    char *end;
    unsigned long v = strtoul(s, &end, 16);
    if (end == s)
      break;
    out[n++] = check_float((uint32_t)v);
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

/* Opens SAMPLING_DATA_DIR/name for reading; NULL (and a failure) if absent. */
static inline FILE *check_open_data(const char *name)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", SAMPLING_DATA_DIR, name);
  FILE *f = fopen(path, "r");
  if (!f) {
    check_failures++;
    fprintf(stderr, "cannot open %s\n", path);
  }
  return f;
}

static inline int check_done(const char *what)
{
  if (check_failures) {
    fprintf(stderr, "%s: %d failure(s)\n", what, check_failures);
    return 1;
  }
  printf("%s: ok\n", what);
  return 0;
}

#endif
