/*
 * brownian.c - torchsde's dyadic BrownianTree as ComfyUI uses it (see
 * brownian.h).  Float32 tensor arithmetic is done in the order torch does
 * it, with Python-float scalars rounded to float before each tensor op.
 */
#include "brownian.h"

#include "torch_rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL 24
#define MAX_DEPTH 60

/* ---- numpy SeedSequence ---- */

static uint32_t hashmix(uint32_t v, uint32_t *hc)
{
  v ^= *hc;
  *hc *= 0x931e8875u;
  v *= *hc;
  v ^= v >> 16;
  return v;
}

static uint32_t mix(uint32_t x, uint32_t y)
{
  uint32_t r = 0xca01f9ddu * x - 0x4973f715u * y;
  return r ^ (r >> 16);
}

/* Little-endian 32-bit words of v (0 -> one word); returns the count. */
static size_t words(uint64_t v, uint32_t *w)
{
  if (v == 0) {
    w[0] = 0;
    return 1;
  }
  size_t n = 0;
  while (v) {
    w[n++] = (uint32_t)v;
    v >>= 32;
  }
  return n;
}

void cd_seed_sequence_state(uint64_t entropy, int has_key, uint64_t key, uint64_t depth,
                            uint32_t *out, size_t n)
{
  uint32_t ent[POOL + 4];
  size_t ne = words(entropy, ent);
  if (has_key) {
    while (ne < POOL)
      ent[ne++] = 0;
    ne += words(key, ent + ne);
    ne += words(depth, ent + ne);
  }
  uint32_t pool[POOL];
  uint32_t hc = 0x43b0d7e5u;
  for (size_t i = 0; i < POOL; i++)
    pool[i] = hashmix(i < ne ? ent[i] : 0u, &hc);
  for (size_t s = 0; s < POOL; s++)
    for (size_t d = 0; d < POOL; d++)
      if (s != d)
        pool[d] = mix(pool[d], hashmix(pool[s], &hc));
  for (size_t s = POOL; s < ne; s++)
    for (size_t d = 0; d < POOL; d++)
      pool[d] = mix(pool[d], hashmix(ent[s], &hc));
  uint32_t h = 0x8b51f9ddu;
  for (size_t i = 0; i < n; i++) {
    uint32_t v = pool[i % POOL] ^ h;
    h *= 0x58f38dedu;
    v *= h;
    v ^= v >> 16;
    out[i] = v;
  }
}

/* ---- the tree ---- */

typedef struct node {
  double start, end, mid;
  int parent, left, right; /* indices; -1 when absent */
  int is_left;
  int split;               /* has children */
  uint64_t key, depth;
  uint32_t seed;           /* W seed used to split this node */
  unsigned need, hit;      /* query stamps: on a path to a located node / located */
  int cslot;               /* slot of this node's W in the cache, -1 if none */
} node;

struct cd_brownian {
  uint64_t entropy;
  size_t numel;
  node *nodes;       /* owned */
  size_t nnodes, cap;
  float *w_root;     /* owned, numel */
  float *rnd, *acc;  /* owned scratch, numel each */
  int *found;        /* owned, located node list */
  size_t nfound, found_cap;
  float **level;     /* owned: W of the node being visited at each depth */
  int nlevel;
  unsigned stamp;    /* current query */
  int nacc;          /* located increments summed so far in this query */
  /* LRU cache of node increments (children computed in earlier queries) */
  int ncache;
  float *cache_mem;  /* owned, ncache * numel */
  int *cache_node;   /* owned, node index per slot or -1 */
  uint64_t *cache_tick; /* owned */
  uint64_t tick;
};

/* Python round(t, 6): the double nearest to t correctly rounded to six
 * decimals (glibc's printf rounds the exact binary value). */
static double round6(double t)
{
  char b[64];
  snprintf(b, sizeof b, "%.6f", t);
  return strtod(b, NULL);
}

static int new_node(cd_brownian *t, double start, double end, int parent, int is_left)
{
  if (t->nnodes == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 64;
    if (nc > CD_BROWNIAN_MAX_NODES)
      return -ERANGE;
    node *nn = realloc(t->nodes, nc * sizeof *nn);
    if (!nn)
      return -ENOMEM;
    t->nodes = nn;
    t->cap = nc;
  }
  node *n = &t->nodes[t->nnodes];
  memset(n, 0, sizeof *n);
  n->start = round6(start);
  n->end = round6(end);
  n->parent = parent;
  n->left = n->right = -1;
  n->is_left = is_left;
  n->cslot = -1;
  return (int)t->nnodes++;
}

static int split_exact(cd_brownian *t, int ni, double m)
{
  node *n = &t->nodes[ni];
  n->mid = round6(m);
  if (n->parent < 0) {
    n->key = 0;
    n->depth = 0;
  } else {
    node *p = &t->nodes[n->parent];
    if (p->depth >= MAX_DEPTH)
      return -ERANGE;
    n->key = 2 * p->key + (n->is_left ? 0 : 1);
    n->depth = p->depth + 1;
  }
  uint32_t st[4];
  cd_seed_sequence_state(t->entropy, 1, n->key, n->depth, st, 4);
  n->seed = st[0];
  double start = n->start, end = n->end;
  int l = new_node(t, start, m, ni, 1);
  if (l < 0)
    return l;
  int r = new_node(t, m, end, ni, 0);
  if (r < 0)
    return r;
  n = &t->nodes[ni];
  n->left = l;
  n->right = r;
  n->split = 1;
  return 0;
}

static int split(cd_brownian *t, int ni, double m)
{
  for (int guard = 0; guard <= MAX_DEPTH + 1; guard++) {
    node *n = &t->nodes[ni];
    int rc = split_exact(t, ni, 0.5 * (n->end + n->start));
    if (rc < 0)
      return rc;
    n = &t->nodes[ni];
    if (m > n->mid)
      ni = n->right;
    else if (m < n->mid)
      ni = n->left;
    else
      return 0;
  }
  return -ERANGE;
}

static int push_found(cd_brownian *t, int ni)
{
  if (t->nfound == t->found_cap) {
    size_t nc = t->found_cap ? t->found_cap * 2 : 16;
    int *nf = realloc(t->found, nc * sizeof *nf);
    if (!nf)
      return -ENOMEM;
    t->found = nf;
    t->found_cap = nc;
  }
  t->found[t->nfound++] = ni;
  return 0;
}

/* Appends the nodes that exactly cover [ta, tb] (inside node ni), left to
 * right, splitting leaves as torchsde does. */
static int locate(cd_brownian *t, int ni, double ta, double tb, int level)
{
  if (level > 4 * MAX_DEPTH)
    return -ERANGE;
  for (;;) {
    node *n = &t->nodes[ni];
    if (ta < n->start || tb > n->end) {
      /* outside this node (after a split sent us right): ask the parent */
      if (n->parent < 0)
        return -ERANGE;
      ni = n->parent;
      if (++level > 4 * MAX_DEPTH)
        return -ERANGE;
      continue;
    }
    if (ta == n->start && tb == n->end)
      return push_found(t, ni);
    if (!n->split) {
      int rc;
      if (ta == n->start) {
        rc = split(t, ni, tb);
        if (rc < 0)
          return rc;
        ni = t->nodes[ni].left;
      } else {
        rc = split(t, ni, ta);
        if (rc < 0)
          return rc;
        ni = t->nodes[ni].right;
      }
      continue;
    }
    if (tb <= n->mid) {
      ni = n->left;
    } else if (ta >= n->mid) {
      ni = n->right;
    } else {
      double mid = n->mid;
      int r = n->right;
      int rc = locate(t, n->left, ta, mid, level + 1);
      if (rc < 0)
        return rc;
      ni = r;
      ta = mid;
    }
    if (++level > 4 * MAX_DEPTH)
      return -ERANGE;
  }
}

static void randn_seeded(float *out, size_t n, uint32_t seed)
{
  cd_torch_gen g;
  cd_torch_gen_seed(&g, seed);
  cd_torch_randn(&g, out, n);
}

/* The buffer for W of a node at depth d (root: 0), allocated on first use. */
static float *level_buf(cd_brownian *t, int d)
{
  if (d >= t->nlevel) {
    if (d > MAX_DEPTH + 1)
      return NULL;
    float **nl = realloc(t->level, (size_t)(d + 1) * sizeof *nl);
    if (!nl)
      return NULL;
    t->level = nl;
    for (int k = t->nlevel; k <= d; k++)
      t->level[k] = NULL;
    t->nlevel = d + 1;
  }
  if (!t->level[d])
    t->level[d] = malloc(t->numel * sizeof(float));
  return t->level[d];
}

/* Stores w as node ni's increment in the least recently used cache slot. */
static void cache_put(cd_brownian *t, int ni, const float *w)
{
  if (t->ncache == 0)
    return;
  int slot = t->nodes[ni].cslot;
  if (slot < 0) {
    slot = 0;
    for (int k = 1; k < t->ncache; k++)
      if (t->cache_tick[k] < t->cache_tick[slot])
        slot = k;
    if (t->cache_node[slot] >= 0)
      t->nodes[t->cache_node[slot]].cslot = -1;
    t->cache_node[slot] = ni;
    t->nodes[ni].cslot = slot;
  }
  t->cache_tick[slot] = ++t->tick;
  memcpy(t->cache_mem + (size_t)slot * t->numel, w, t->numel * sizeof(float));
}

/* Copies node ni's cached increment to out; 0 if not cached. */
static int cache_get(cd_brownian *t, int ni, float *out)
{
  int slot = t->nodes[ni].cslot;
  if (slot < 0)
    return 0;
  t->cache_tick[slot] = ++t->tick;
  memcpy(out, t->cache_mem + (size_t)slot * t->numel, t->numel * sizeof(float));
  return 1;
}

/* The left child's increment of node nd (increment w): the Brownian
 * bridge mean plus the scaled randn of nd's seed, in torch's float order. */
static void left_increment(cd_brownian *t, const node *nd, const float *w, float *out)
{
  size_t n = t->numel;
  double hr = 1.0 / (nd->end - nd->start);
  double ld = nd->mid - nd->start;
  double rd = nd->end - nd->mid;
  float fld = (float)ld, fhr = (float)hr;
  float fsd = (float)sqrt(ld * rd * hr);
  randn_seeded(t->rnd, n, nd->seed);
  for (size_t i = 0; i < n; i++) {
    float mean = (fld * w[i]) * fhr;
    out[i] = mean + fsd * t->rnd[i];
  }
}

/* Visits the marked part of the tree below node ni, whose increment is in
 * w (depth d), left before right, so located nodes are met in interval
 * order and summed into t->acc in the order torchsde sums them.  A parent
 * whose needed children are not cached costs one randn (both children share
 * that noise); the children computed are cached for later queries. */
static int visit(cd_brownian *t, int ni, const float *w, int d)
{
  const node *nd = &t->nodes[ni];
  size_t n = t->numel;
  if (nd->hit == t->stamp) {
    if (t->nacc++ == 0)
      memcpy(t->acc, w, n * sizeof(float));
    else
      for (size_t i = 0; i < n; i++)
        t->acc[i] = t->acc[i] + w[i];
    return 0;
  }
  if (!nd->split)
    return 0;
  int l = nd->left, r = nd->right;
  int need_l = t->nodes[l].need == t->stamp, need_r = t->nodes[r].need == t->stamp;
  if (!need_l && !need_r)
    return 0;
  float *child = level_buf(t, d + 1);
  if (!child)
    return d + 1 > MAX_DEPTH + 1 ? -ERANGE : -ENOMEM;
  int rc, left_valid = 0;
  if (need_l) {
    if (!cache_get(t, l, child)) {
      left_increment(t, nd, w, child);
      cache_put(t, l, child);
    }
    left_valid = 1;
    if ((rc = visit(t, l, child, d + 1)) < 0) /* leaves child (this level) intact */
      return rc;
  }
  if (need_r) {
    if (!cache_get(t, r, child)) {
      if (!left_valid && !cache_get(t, l, child)) {
        left_increment(t, nd, w, child);
        cache_put(t, l, child);
      }
      for (size_t i = 0; i < n; i++)
        child[i] = w[i] - child[i];
      cache_put(t, r, child);
    }
    if ((rc = visit(t, r, child, d + 1)) < 0)
      return rc;
  }
  return 0;
}

cd_brownian *cd_brownian_new(size_t numel, float s0, float s1, uint64_t seed)
{
  if (numel == 0 || numel > SIZE_MAX / 8 / sizeof(float) || !isfinite(s0) || !isfinite(s1))
    return NULL;
  cd_brownian *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->entropy = seed;
  t->numel = numel;
  t->w_root = malloc(numel * sizeof(float));
  t->rnd = malloc(numel * sizeof(float));
  t->acc = malloc(numel * sizeof(float));
  if (!t->w_root || !t->rnd || !t->acc)
    goto fail;
  /* cache: up to 64 increments within a 16 MiB budget (at least 4); it
   * saves about 10% of the randn calls of a 20-step karras run */
  size_t budget = ((size_t)16 << 20) / (numel * sizeof(float));
  t->ncache = budget > 64 ? 64 : (budget < 4 ? 4 : (int)budget);
  t->cache_mem = malloc((size_t)t->ncache * numel * sizeof(float));
  t->cache_node = malloc((size_t)t->ncache * sizeof *t->cache_node);
  t->cache_tick = calloc((size_t)t->ncache, sizeof *t->cache_tick);
  if (!t->cache_mem || !t->cache_node || !t->cache_tick)
    goto fail;
  for (int k = 0; k < t->ncache; k++)
    t->cache_node[k] = -1;
  double t0 = s0 < s1 ? s0 : s1, t1 = s0 < s1 ? s1 : s0;
  if (new_node(t, t0, t1, -1, 0) < 0)
    goto fail;
  uint32_t st[3];
  cd_seed_sequence_state(seed, 0, 0, 0, st, 3);
  randn_seeded(t->w_root, numel, st[0]);
  float sc = (float)sqrt(t1 - t0);
  for (size_t i = 0; i < numel; i++)
    t->w_root[i] = t->w_root[i] * sc;
  return t;
fail:
  cd_brownian_free(t);
  return NULL;
}

void cd_brownian_free(cd_brownian *t)
{
  if (!t)
    return;
  free(t->nodes);
  free(t->w_root);
  free(t->rnd);
  free(t->acc);
  free(t->found);
  for (int k = 0; k < t->nlevel; k++)
    free(t->level[k]);
  free(t->cache_mem);
  free(t->cache_node);
  free(t->cache_tick);
  free(t->level);
  free(t);
}

int cd_brownian_noise(cd_brownian *t, float sigma, float sigma_next, float *out)
{
  size_t n = t->numel;
  if (sigma != sigma || sigma_next != sigma_next)
    return -EINVAL;
  float lo = sigma < sigma_next ? sigma : sigma_next;
  float hi = sigma < sigma_next ? sigma_next : sigma;
  float sign = sigma < sigma_next ? 1.0f : -1.0f;
  const node *root = &t->nodes[0];
  double ta = lo, tb = hi;
  if (ta < root->start)
    ta = root->start;
  if (tb < root->start)
    tb = root->start;
  if (ta > root->end)
    ta = root->end;
  if (tb > root->end)
    tb = root->end;
  if (ta == tb) {
    memset(t->acc, 0, n * sizeof(float));
  } else {
    ta = round6(ta);
    tb = round6(tb);
    t->nfound = 0;
    int rc = locate(t, 0, ta, tb, 0);
    if (rc < 0)
      return rc;
    /* mark the located nodes and their ancestors, then one walk from the root */
    if (++t->stamp == 0) {
      for (size_t k = 0; k < t->nnodes; k++)
        t->nodes[k].need = t->nodes[k].hit = 0;
      t->stamp = 1;
    }
    for (size_t k = 0; k < t->nfound; k++) {
      int ni = t->found[k];
      t->nodes[ni].hit = t->stamp;
      for (; ni >= 0 && t->nodes[ni].need != t->stamp; ni = t->nodes[ni].parent)
        t->nodes[ni].need = t->stamp;
    }
    t->nacc = 0;
    if ((rc = visit(t, 0, t->w_root, 0)) < 0)
      return rc;
    if (t->nacc != (int)t->nfound)
      return -ERANGE;
  }
  float den = sqrtf(fabsf(sigma_next - sigma));
  for (size_t i = 0; i < n; i++)
    out[i] = (t->acc[i] * sign) / den;
  return 0;
}
