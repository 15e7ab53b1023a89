/*
 * test_rng.c - torch CPU randn, ComfyUI prepare_noise and the Brownian tree,
 * bit for bit against goldens from a real torch 1.13.1 / torchsde 0.2.6
 * (data/rng_cases.txt, made by gen/gen_rng.py) and the published values of
 * shared/spec/torch-rng.md section 12.
 */
#include "brownian.h"
#include "torch_rng.h"

#include "check.h"

#include <inttypes.h>
#include <math.h>

static void published(void)
{
  cd_torch_gen g;
  cd_torch_gen_seed(&g, 0);
  uint32_t a = cd_torch_gen_u32(&g), b = cd_torch_gen_u32(&g), c = cd_torch_gen_u32(&g);
  CHECK(a == 2357136044u && b == 2546248239u && c == 3071714933u, "mt seed 0: %u %u %u", a, b, c);
  cd_torch_gen_seed(&g, 5489);
  CHECK(cd_torch_gen_u32(&g) == 3499211612u, "mt seed 5489");

  cd_torch_gen_seed(&g, 0);
  float r0 = cd_torch_gen_uniform_f32(&g), r1 = cd_torch_gen_uniform_f32(&g);
  CHECK(r0 == 0.49625658988952637f && r1 == 0.7682217955589294f, "rand(2) %.17g %.17g", r0, r1);

  /* P1 / P2: scalar path, 12 values as four randn(3) calls */
  static const float p2[12] = {1.5409960746765137f, -0.293428897857666f, -2.1787893772125244f,
                               0.5684312582015991f, -1.0845223665237427f, -1.3985954523086548f,
                               0.40334683656692505f, 0.8380263447761536f, -0.7192575931549072f,
                               -0.40334352850914f, -0.5966353416442871f, 0.18203648924827576f};
  cd_torch_gen_seed(&g, 0);
  float v[64];
  for (int k = 0; k < 4; k++)
    cd_torch_randn(&g, v + 3 * k, 3);
  for (int i = 0; i < 12; i++)
    CHECK(v[i] == p2[i], "P2[%d] %.17g", i, v[i]);

  /* P3: seed 0, randn(27) (block + tail) */
  static const float p3[27] = {
      -1.1258398294448853f, -1.152360200881958f,  -0.2505785822868347f, -0.4338788092136383f,
      0.8487103581428528f,  0.6920091509819031f,  -0.31601276993751526f, -2.1152193546295166f,
      0.32227492332458496f, -1.2633347511291504f, 0.34998318552970886f, 0.26604941487312317f,
      0.16645534336566925f, 0.8743818402290344f,  -0.14347384870052338f, -0.1116093322634697f,
      -0.6135830879211426f, 0.03159274160861969f, -0.4926769733428955f, 0.05373690277338028f,
      0.6180566549301147f,  -0.41280221939086914f, -0.8410648107528687f, -2.316041946411133f,
      -0.10230965167284012f, 0.7924439907073975f, -0.28966769576072693f};
  cd_torch_gen_seed(&g, 0);
  cd_torch_randn(&g, v, 27);
  for (int i = 0; i < 27; i++)
    CHECK(v[i] == p3[i], "P3[%d] %.17g", i, v[i]);

  /* P6 [0,1,1] discriminates the FMA variant: element 15001 of randn(1,80,15000) */
  size_t n = 80 * 15000;
  float *big = malloc(n * sizeof(float));
  CHECK(big != NULL, "malloc");
  if (big) {
    cd_torch_gen_seed(&g, 0);
    cd_torch_randn(&g, big, n);
    CHECK(check_bits(big[15001]) == 0x3f1381a3u, "P6 [0,1,1] %08x", check_bits(big[15001]));
    CHECK(big[15000] == 0.869179368019104f && big[15002] == -0.41195306181907654f, "P6 row 1");
    free(big);
  }

  /* variant B (no contraction) against the spec's values (torch-rng.md 12.2) */
  {
    static const struct {
      uint64_t seed;
      size_t n;
      uint64_t fnv;
    } bv[] = {{0, 16384, 0xee1064e0fa88470full},
              {42, 16384, 0x1b438172ad3fc397ull},
              {123456789, 262144, 0xbc4295f0c5fcad31ull},
              {UINT64_MAX, 16900, 0xe3d73eba60d3e80cull}};
    float *buf = malloc(262144 * sizeof(float));
    CHECK(buf != NULL, "malloc");
    for (size_t k = 0; buf && k < sizeof bv / sizeof bv[0]; k++) {
      cd_torch_gen_seed(&g, bv[k].seed);
      g.variant = CD_TORCH_RANDN_AVX2_NOFMA;
      cd_torch_randn(&g, buf, bv[k].n);
      CHECK(check_fnv_f32(buf, bv[k].n) == bv[k].fnv, "variant B seed %llu n %zu",
            (unsigned long long)bv[k].seed, bv[k].n);
    }
    free(buf);
  }

  /* BrownianTree vectors of torch-rng.md 12.2: t0 = 0.0292f, t1 = 14.6146f,
   * shape (1,4,8,8); an ascending query returns W / sqrt(b - a) */
  {
    static const struct {
      uint64_t entropy;
      float a, b;
      uint32_t first[4];
    } bt[] = {
        {0, 1.0f, 2.0f, {0x3fc1e809, 0x3f4b5dfd, 0xbfbabe86, 0x3f4ef721}},
        {0, 0.0292f, 14.6146f, {0x3e89c0a0, 0xbfc22f37, 0xbdc11780, 0x3d8fb068}},
        {0, 5.5f, 7.25f, {0xbf113388, 0xbff5adf7, 0x3e71b122, 0x3fbf7cc8}},
        {12345, 1.0f, 2.0f, {0xbe844792, 0xbfc4e808, 0xbf577d88, 0x3eb57616}},
        {12345, 0.0292f, 14.6146f, {0x3ef61f36, 0xbf09d696, 0xbeea1e2c, 0x3ee9b17f}},
        {12345, 5.5f, 7.25f, {0x401a842a, 0x3e71d32d, 0xbfa57732, 0x3f584286}},
    };
    float w[256];
    for (size_t k = 0; k < sizeof bt / sizeof bt[0]; k++) {
      cd_brownian *t = cd_brownian_new(256, 0.0292f, 14.6146f, bt[k].entropy);
      CHECK(t && cd_brownian_noise(t, bt[k].a, bt[k].b, w) == 0, "spec tree %zu", k);
      for (int i = 0; t && i < 4; i++)
        CHECK(check_bits(w[i]) == bt[k].first[i], "spec tree %zu [%d]: %08x want %08x", k, i,
              check_bits(w[i]), bt[k].first[i]);
      cd_brownian_free(t);
    }
  }

  /* numpy SeedSequence(0).generate_state(3) */
  uint32_t st[3];
  cd_seed_sequence_state(0, 0, 0, 0, st, 3);
  CHECK(st[0] == 4025752534u && st[1] == 2687548107u && st[2] == 2326983537u, "SeedSequence(0)");
}

static int parse_list(const char *s, int64_t *out, int max)
{
  int n = 0;
  while (*s && n < max) {
    char *end;
    out[n++] = strtoll(s, &end, 10);
    if (end == s)
      return -1;
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

static void goldens(void)
{
  FILE *f = check_open_data("rng_cases.txt");
  if (!f)
    return;
  char line[1024];
  int nrandn = 0, nprep = 0, nbt = 0;
  cd_brownian *tree = NULL;
  uint64_t tree_key[4] = {0, 0, 0, 0};
  size_t tree_numel = 0;
  float *buf = malloc(70000 * sizeof(float));
  CHECK(buf != NULL, "malloc");
  while (buf && fgets(line, sizeof line, f)) {
    char kind[16], var[8], sizes[128], fnv[32], first[256];
    if (line[0] == '#')
      continue;
    if (sscanf(line, "%15s", kind) != 1)
      continue;
    if (!strcmp(kind, "randn")) {
      uint64_t seed;
      if (sscanf(line, "randn %7s %" SCNu64 " %127s %31s %255s", var, &seed, sizes, fnv, first) != 5) {
        CHECK(0, "bad line %s", line);
        continue;
      }
      int64_t sz[16];
      int ns = parse_list(sizes, sz, 16);
      cd_torch_gen g;
      cd_torch_gen_seed(&g, seed);
      g.variant = var[0] == 'C' ? CD_TORCH_RANDN_GENERIC : CD_TORCH_RANDN_AVX2_FMA;
      size_t off = 0;
      for (int k = 0; k < ns; k++) {
        cd_torch_randn(&g, buf + off, (size_t)sz[k]);
        off += (size_t)sz[k];
      }
      char got[32];
      snprintf(got, sizeof got, "%016" PRIx64, check_fnv_f32(buf, off));
      /* the portable (scalar fmaf) build of variant A must give the same bits */
      if (var[0] == 'A') {
        cd_torch_gen g2;
        cd_torch_gen_seed(&g2, seed);
        g2.variant = CD_TORCH_RANDN_AVX2_FMA_PORTABLE;
        size_t off2 = 0;
        for (int k = 0; k < ns; k++) {
          cd_torch_randn(&g2, buf + off2, (size_t)sz[k]);
          off2 += (size_t)sz[k];
        }
        char got2[32];
        snprintf(got2, sizeof got2, "%016" PRIx64, check_fnv_f32(buf, off2));
        CHECK(!strcmp(got2, fnv), "portable randn seed %" PRIu64 " sizes %s: %s want %s", seed, sizes,
              got2, fnv);
      }
      /* variant C depends on the platform libm; only A must be exact */
      if (var[0] == 'A')
        CHECK(!strcmp(got, fnv), "randn %s seed %" PRIu64 " sizes %s: fnv %s want %s (first %08x)",
              var, seed, sizes, got, fnv, check_bits(buf[0]));
      else if (strcmp(got, fnv))
        printf("note: variant C differs from this libm for seed %" PRIu64 " sizes %s\n", seed, sizes);
      nrandn++;
    } else if (!strcmp(kind, "prep")) {
      uint64_t seed;
      size_t item, batch;
      char inds[128];
      if (sscanf(line, "prep %" SCNu64 " %zu %127s %zu %31s", &seed, &item, inds, &batch, fnv) != 5) {
        CHECK(0, "bad line %s", line);
        continue;
      }
      int64_t bi[16];
      int nbi = inds[0] == '-' ? 0 : parse_list(inds, bi, 16);
      int rc = cd_torch_prepare_noise(seed, batch, item, nbi ? bi : NULL, (size_t)nbi, buf);
      char got[32];
      snprintf(got, sizeof got, "%016" PRIx64, check_fnv_f32(buf, batch * item));
      CHECK(rc == 0 && !strcmp(got, fnv), "prep seed %" PRIu64 " inds %s: %s want %s", seed, inds,
            got, fnv);
      nprep++;
    } else if (!strcmp(kind, "bt")) {
      uint64_t ent;
      size_t numel;
      unsigned smin, smax, sa, sb;
      if (sscanf(line, "bt %" SCNu64 " %zu %x %x %x %x %31s %255s", &ent, &numel, &smin, &smax, &sa,
                 &sb, fnv, first) != 8) {
        CHECK(0, "bad line %s", line);
        continue;
      }
      /* one tree per (entropy, numel, sigma range), queried in file order */
      if (!tree || tree_key[0] != ent || tree_numel != numel || tree_key[1] != smin ||
          tree_key[2] != smax) {
        cd_brownian_free(tree);
        tree = cd_brownian_new(numel, check_float(smin), check_float(smax), ent);
        tree_key[0] = ent;
        tree_key[1] = smin;
        tree_key[2] = smax;
        tree_numel = numel;
      }
      CHECK(tree != NULL, "tree");
      if (!tree)
        continue;
      int rc = cd_brownian_noise(tree, check_float(sa), check_float(sb), buf);
      char got[32];
      snprintf(got, sizeof got, "%016" PRIx64, check_fnv_f32(buf, numel));
      CHECK(rc == 0 && !strcmp(got, fnv), "bt entropy %" PRIu64 " (%08x,%08x): %s want %s first %08x want %s",
            ent, sa, sb, got, fnv, check_bits(buf[0]), first);
      nbt++;
    }
  }
  cd_brownian_free(tree);
  free(buf);
  fclose(f);
  CHECK(nrandn > 100 && nprep >= 5 && nbt >= 15, "case counts %d %d %d", nrandn, nprep, nbt);
  printf("randn cases %d, prepare_noise cases %d, brownian queries %d\n", nrandn, nprep, nbt);
}

static void bad_input(void)
{
  int64_t bi[2] = {0, -1};
  float out[8];
  CHECK(cd_torch_prepare_noise(1, 2, 4, bi, 2, out) == -22, "negative batch_index");
  CHECK(cd_torch_prepare_noise(1, 2, 4, bi, 1, out) == -22, "count mismatch");
  CHECK(cd_brownian_new(0, 0.1f, 1.0f, 0) == NULL, "numel 0");
  CHECK(cd_brownian_new(4, NAN, 1.0f, 0) == NULL, "nan sigma");
}

int main(void)
{
  published();
  goldens();
  bad_input();
  return check_done("sampling_rng");
}
