// rnnkit/ops/cpu_stream.py: one LSTM step at a small batch, and whole greedy decodes, on the CPU.
//
// At batch 1 a step is a matrix-vector product: every weight is read once per step and used for
// one multiply-add, so the step is bound by how fast the weights stream from cache (2 MB for
// I = H = 256 in float32). The weights are packed once (cpu_stream.py, pack_gates) into blocks of
// U units: block j holds, for every input k, the rows i, f, g, o of units jU..jU+U-1 side by side
// (4U values, 8 SIMD vectors of 64 bytes), so a block is one sequential stream, its 8 running sums
// stay in registers, and the block ends with the pointwise LSTM update of its own units.
// Blocks are shared among threads (the caller's, plus workers of a small pool): each thread
// prefers the same blocks at every step, so with 2 threads each core keeps its half of the weights
// in its own L2 cache. A block is claimed with a compare-and-swap before it is run, so a thread
// that is descheduled or asleep only means the others run more blocks.
// Plain C ABI over raw pointers; no torch headers.
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() {}
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// A pool of worker threads that share the blocks of one job with the calling thread.
// ---------------------------------------------------------------------------------------------
typedef void (*BlockFn)(void* ctx, int64_t block);

constexpr int kMaxWorkers = 15;
constexpr int64_t kMaxBlocks = 4096;
constexpr int64_t kSpinNs = 200000;  // a worker spins this long for the next job, then sleeps

struct Pool {
  std::mutex busy;  // one job at a time; a second caller runs its job alone
  std::mutex m;
  std::condition_variable cv;
  std::atomic<uint64_t> epoch{0};
  std::atomic<int> sleepers{0};
  alignas(64) std::atomic<int64_t> done{0};
  struct alignas(64) Claim { std::atomic<uint64_t> epoch{0}; };  // a cache line each: no false sharing
  Claim claim[kMaxBlocks];
  // the current job (written before epoch is bumped, read after it is seen)
  BlockFn fn = nullptr;
  void* ctx = nullptr;
  int64_t nblocks = 0;
  int nthreads = 1;
  int workers = 0;
  Pool() { for (auto& c : claim) c.epoch.store(0, std::memory_order_relaxed); }
};

Pool* g_pool = nullptr;
std::mutex g_pool_mutex;

void after_fork_child() { g_pool = nullptr; }  // the workers did not survive the fork; leak the old pool

inline bool try_claim(Pool* p, int64_t b, uint64_t e) {
  std::atomic<uint64_t>& c = p->claim[b].epoch;
  uint64_t v = c.load(std::memory_order_relaxed);
  while (v < e) {
    if (c.compare_exchange_weak(v, e, std::memory_order_acq_rel)) return true;
  }
  return false;
}

// Thread t of n runs its own blocks [t*nb/n, (t+1)*nb/n) first (the same ones at every step, so they
// stay in its core's cache), then takes what is left of the others' from their ends (the owners work
// from the front), and adds its count to `done` once.
void run_share(Pool* p, BlockFn fn, void* ctx, int64_t nb, int t, int n, uint64_t e) {
  const int64_t lo = nb * t / n, hi = nb * (t + 1) / n;
  int64_t ran = 0;
  for (int64_t b = lo; b < hi; ++b) {
    if (try_claim(p, b, e)) { fn(ctx, b); ++ran; }
  }
  for (int64_t i = 1; i < n; ++i) {
    const int64_t u = (t + i) % n, ulo = nb * u / n;
    for (int64_t b = nb * (u + 1) / n - 1; b >= ulo; --b) {
      if (try_claim(p, b, e)) { fn(ctx, b); ++ran; }
    }
  }
  if (ran) p->done.fetch_add(ran, std::memory_order_acq_rel);
}

void worker_main(Pool* p, int index) {
  uint64_t seen = p->epoch.load(std::memory_order_acquire);
  for (;;) {
    auto start = std::chrono::steady_clock::now();
    int spins = 0;
    while (p->epoch.load(std::memory_order_acquire) == seen) {
      cpu_relax();
      if (++spins < 256) continue;
      spins = 0;
      if (std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count() <
          kSpinNs) continue;
      std::unique_lock<std::mutex> lock(p->m);
      p->sleepers.fetch_add(1);
      p->cv.wait(lock, [&] { return p->epoch.load() != seen; });
      p->sleepers.fetch_sub(1);
      start = std::chrono::steady_clock::now();
    }
    seen = p->epoch.load(std::memory_order_acquire);
    BlockFn fn = p->fn;
    void* ctx = p->ctx;
    const int64_t nb = p->nblocks;
    const int n = p->nthreads;
    if (index + 1 < n) run_share(p, fn, ctx, nb, index + 1, n, seen);
  }
}

Pool* get_pool(int workers) {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (g_pool == nullptr) {
    static bool registered = false;
    if (!registered) { pthread_atfork(nullptr, nullptr, after_fork_child); registered = true; }
    g_pool = new Pool();  // never freed: detached workers may still read it at exit
  }
  while (g_pool->workers < workers) {
    std::thread(worker_main, g_pool, g_pool->workers).detach();
    ++g_pool->workers;
  }
  return g_pool;
}

// Run fn(ctx, b) for every block b < nb on up to `threads` threads (the caller included).
void parallel_blocks(BlockFn fn, void* ctx, int64_t nb, int threads) {
  if (threads > kMaxWorkers + 1) threads = kMaxWorkers + 1;
  if (threads > nb) threads = int(nb);
  if (threads <= 1 || nb > kMaxBlocks) {
    for (int64_t b = 0; b < nb; ++b) fn(ctx, b);
    return;
  }
  Pool* p = get_pool(threads - 1);
  std::unique_lock<std::mutex> busy(p->busy, std::try_to_lock);
  if (!busy.owns_lock()) {  // another thread's job holds the pool
    for (int64_t b = 0; b < nb; ++b) fn(ctx, b);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->nblocks = nb;
  p->nthreads = threads;
  p->done.store(0, std::memory_order_relaxed);
  const uint64_t e = p->epoch.fetch_add(1) + 1;  // seq_cst: pairs with the sleepers check below
  if (p->sleepers.load() > 0) {
    std::lock_guard<std::mutex> lock(p->m);
    p->cv.notify_all();
  }
  run_share(p, fn, ctx, nb, 0, threads, e);
  while (p->done.load(std::memory_order_acquire) < nb) cpu_relax();
}

// ---------------------------------------------------------------------------------------------
// The LSTM block: 4U gate sums over K inputs, then the update of U units.
// ---------------------------------------------------------------------------------------------
template <typename T> struct V8 {
  typedef T vec __attribute__((vector_size(64), aligned(sizeof(T))));  // unaligned loads allowed
  static constexpr int lanes = 64 / sizeof(T);
  static constexpr int units = 2 * lanes;  // U: 8 vectors = 4 gates x 2 vectors
};

// rk_sigmoid and rk_tanh: ops/cpu_kernels.ACTIVATIONS, prepended to this file at build.

// s[0..4U) = init (+ init2) + sum_k xh[k] * w[k][0..4U)  (w: this block's K x 4U slab)
template <typename T>
inline void block_sums(int64_t K, const T* __restrict xh, const T* __restrict w, const T* __restrict init,
                       const T* __restrict init2, T* __restrict s) {
  typedef typename V8<T>::vec vec;
  constexpr int L = V8<T>::lanes;
  vec a0, a1, a2, a3, a4, a5, a6, a7;
  std::memcpy(&a0, init, 64); std::memcpy(&a1, init + L, 64); std::memcpy(&a2, init + 2 * L, 64);
  std::memcpy(&a3, init + 3 * L, 64); std::memcpy(&a4, init + 4 * L, 64); std::memcpy(&a5, init + 5 * L, 64);
  std::memcpy(&a6, init + 6 * L, 64); std::memcpy(&a7, init + 7 * L, 64);
  if (init2) {
    const vec* q = reinterpret_cast<const vec*>(init2);
    a0 += q[0]; a1 += q[1]; a2 += q[2]; a3 += q[3]; a4 += q[4]; a5 += q[5]; a6 += q[6]; a7 += q[7];
  }
  for (int64_t k = 0; k < K; ++k) {
    const vec* q = reinterpret_cast<const vec*>(w + k * 8 * L);
    const T x = xh[k];
    a0 += x * q[0]; a1 += x * q[1]; a2 += x * q[2]; a3 += x * q[3];
    a4 += x * q[4]; a5 += x * q[5]; a6 += x * q[6]; a7 += x * q[7];
  }
  vec* o = reinterpret_cast<vec*>(s);
  o[0] = a0; o[1] = a1; o[2] = a2; o[3] = a3; o[4] = a4; o[5] = a5; o[6] = a6; o[7] = a7;
}

// c, h: this block's U units. s: gate sums in (i, f, g, o) order, U each.
template <typename T> inline void block_update(const T* __restrict s, T* __restrict c, T* __restrict h) {
  constexpr int U = V8<T>::units;
  T ig[U], fg[U], gg[U], og[U];
  for (int u = 0; u < U; ++u) {
    ig[u] = rk_sigmoid(s[u]);
    fg[u] = rk_sigmoid(s[U + u]);
    gg[u] = rk_tanh(s[2 * U + u]);
    og[u] = rk_sigmoid(s[3 * U + u]);
  }
  for (int u = 0; u < U; ++u) {
    const T cn = fg[u] * c[u] + ig[u] * gg[u];
    c[u] = cn;
    h[u] = og[u] * rk_tanh(cn);
  }
}

// One LSTM layer over B rows: xh (B, K) = [x; h_prev]; c (B, Hp) updated in place; h_out (B, Hp).
template <typename T> struct LayerJob {
  int64_t B, K, Hp;
  const T* xh;
  const T* w;      // (nb, K, 4U)
  const T* init;   // (nb * 4U): the bias, or per row (B, nb * 4U) when init_stride > 0
  int64_t init_stride;
  const T* init2;  // null, or per row (B, nb * 4U)
  T* c;
  T* h_out;
  const uint8_t* skip;  // null, or B flags: rows not to compute
};

template <typename T> void layer_block(void* vctx, int64_t j) {
  const LayerJob<T>& job = *static_cast<const LayerJob<T>*>(vctx);
  constexpr int U = V8<T>::units;
  const int64_t G = 4 * U;
  alignas(64) T s[4 * U];
  const T* wj = job.w + j * job.K * G;
  for (int64_t b = 0; b < job.B; ++b) {
    if (job.skip && job.skip[b]) continue;
    const T* init = job.init + b * job.init_stride + j * G;
    const T* init2 = job.init2 ? job.init2 + b * (job.Hp / U) * G + j * G : nullptr;
    block_sums<T>(job.K, job.xh + b * job.K, wj, init, init2, s);
    block_update<T>(s, job.c + b * job.Hp + j * U, job.h_out + b * job.Hp + j * U);
  }
}

// logits (B, Vp) = bias + W h for a vocabulary head packed like the gates (blocks of 8 vectors).
template <typename T> struct HeadJob {
  int64_t B, K, Vp;
  const T* h;  // (B, K) rows with stride hstride
  int64_t hstride;
  const T* w;  // (Vp / (8L), K, 8L)
  const T* bias;
  T* out;      // (B, Vp)
  const uint8_t* skip;
};

template <typename T> void head_block(void* vctx, int64_t j) {
  const HeadJob<T>& job = *static_cast<const HeadJob<T>*>(vctx);
  constexpr int W = 8 * V8<T>::lanes;
  for (int64_t b = 0; b < job.B; ++b) {
    if (job.skip && job.skip[b]) continue;
    block_sums<T>(job.K, job.h + b * job.hstride, job.w + j * job.K * W, job.bias + j * W, nullptr,
                  job.out + b * job.Vp + j * W);
  }
}

// The layers of a packed LSTM stack, described by an int64 table from cpu_stream.py:
// meta = [L, H, Hp, I0, then per layer: K, weight address, bias address].
struct Stack {
  int64_t L, H, Hp, I0;
  const int64_t* layer;  // 3 per layer
  int64_t K(int64_t l) const { return layer[3 * l]; }
  int64_t kmax() const {  // the widest layer input
    int64_t k = 0;
    for (int64_t l = 0; l < L; ++l) k = K(l) > k ? K(l) : k;
    return k;
  }
  template <typename T> const T* w(int64_t l) const { return reinterpret_cast<const T*>(layer[3 * l + 1]); }
  template <typename T> const T* b(int64_t l) const { return reinterpret_cast<const T*>(layer[3 * l + 2]); }
};

inline Stack stack_of(const int64_t* meta) { return Stack{meta[0], meta[1], meta[2], meta[3], meta + 4}; }

// Scratch: xh (B, Kmax) + c (L, B, Hp) + h (L, B, Hp) + the head's logits (B, Vp) for greedy.
template <typename T>
void run_layer(const Stack& st, int64_t l, int64_t B, const T* x, int64_t xstride, int64_t xlen, T* xh,
               const T* h_prev, int64_t hstride, T* c, T* h_out, const T* init, int64_t init_stride,
               const T* init2, const uint8_t* skip, int threads) {
  const int64_t K = xlen + st.H;
  for (int64_t b = 0; b < B; ++b) {
    if (skip && skip[b]) continue;
    if (xlen) std::memcpy(xh + b * K, x + b * xstride, xlen * sizeof(T));
    std::memcpy(xh + b * K + xlen, h_prev + b * hstride, st.H * sizeof(T));
  }
  LayerJob<T> job{B, K, st.Hp, xh, st.w<T>(l), init, init_stride, init2, c, h_out, skip};
  parallel_blocks(&layer_block<T>, &job, st.Hp / V8<T>::units, threads);
}

template <typename T>
void lstm_step(const int64_t* meta, int64_t B, const T* x, const T* h0, const T* c0, T* h1, T* c1, T* scratch,
               int threads) {
  const Stack st = stack_of(meta);
  const int64_t H = st.H, Hp = st.Hp;
  const int64_t kmax = st.kmax();
  T* xh = scratch;
  T* cs = xh + B * kmax;  // (B, Hp)
  T* hs = cs + B * Hp;    // (B, Hp)
  for (int64_t l = 0; l < st.L; ++l) {
    for (int64_t b = 0; b < B; ++b) std::memcpy(cs + b * Hp, c0 + (l * B + b) * H, H * sizeof(T));
    const T* xin = l == 0 ? x : hs;
    const int64_t xlen = l == 0 ? st.I0 : H, xstride = l == 0 ? st.I0 : Hp;
    run_layer<T>(st, l, B, xin, xstride, xlen, xh, h0 + l * B * H, H, cs, hs, st.b<T>(l), 0, nullptr, nullptr,
                 threads);
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(h1 + (l * B + b) * H, hs + b * Hp, H * sizeof(T));
      std::memcpy(c1 + (l * B + b) * H, cs + b * Hp, H * sizeof(T));
    }
  }
}

// --- bfloat16 weights (opt-in): half the bytes per step ------------------------------------------
// The weights of a block are stored as bf16 pairs: for inputs (2p, 2p+1), the 4U gate rows side by
// side, each row's two weights next to each other ((nb, Kp/2, 4U, 2), Kp = K rounded up to even). The
// inputs [x; h] are rounded to bf16 pairs too, and each pair of products is added to float32 sums:
// AVX512-BF16's vdpbf16ps where the CPU has it (32 multiply-adds per instruction), else the same
// products spelled out (a bf16 value is the top half of a float32, so widening is a shift).
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return uint16_t(u >> 16);
}

// dst[0..n) = bf16 of src[0..n) (32 at a time with AVX512-BF16's vcvtne2ps2bf16, which also rounds to
// nearest even; it reads float32 denormals as zero, below anything an LSTM's inputs carry).
inline void to_bf16_row(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  int64_t k = 0;
#if defined(__AVX512BF16__)
  for (; k + 32 <= n; k += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16), _mm512_loadu_ps(src + k));
    _mm512_storeu_si512(reinterpret_cast<void*>(dst + k), (__m512i)v);
  }
#endif
  for (; k < n; ++k) dst[k] = to_bf16(src[k]);
}

inline float from_bf16_bits(uint32_t top) {
  float f;
  std::memcpy(&f, &top, 4);
  return f;
}

// s[0..4U) = init + sum_p (xp[p].lo * w[p][r].lo + xp[p].hi * w[p][r].hi) for rows r
inline void block_sums_bf16(int64_t P, const uint32_t* __restrict xp, const uint16_t* __restrict w,
                            const float* __restrict init, float* __restrict s) {
  constexpr int R = 4 * V8<float>::units;  // 128 gate rows per block
#if defined(__AVX512BF16__)
  __m512 a[8];
  for (int i = 0; i < 8; ++i) a[i] = _mm512_loadu_ps(init + 16 * i);
  for (int64_t p = 0; p < P; ++p) {
    const __m512bh xv = (__m512bh)_mm512_set1_epi32(int(xp[p]));
    const uint16_t* q = w + p * 2 * R;
    a[0] = _mm512_dpbf16_ps(a[0], (__m512bh)_mm512_loadu_si512(q), xv);
    a[1] = _mm512_dpbf16_ps(a[1], (__m512bh)_mm512_loadu_si512(q + 32), xv);
    a[2] = _mm512_dpbf16_ps(a[2], (__m512bh)_mm512_loadu_si512(q + 64), xv);
    a[3] = _mm512_dpbf16_ps(a[3], (__m512bh)_mm512_loadu_si512(q + 96), xv);
    a[4] = _mm512_dpbf16_ps(a[4], (__m512bh)_mm512_loadu_si512(q + 128), xv);
    a[5] = _mm512_dpbf16_ps(a[5], (__m512bh)_mm512_loadu_si512(q + 160), xv);
    a[6] = _mm512_dpbf16_ps(a[6], (__m512bh)_mm512_loadu_si512(q + 192), xv);
    a[7] = _mm512_dpbf16_ps(a[7], (__m512bh)_mm512_loadu_si512(q + 224), xv);
  }
  for (int i = 0; i < 8; ++i) _mm512_storeu_ps(s + 16 * i, a[i]);
#else
  typedef uint32_t u32v __attribute__((vector_size(64), aligned(4)));
  typedef float f32v __attribute__((vector_size(64), aligned(4)));
  f32v a[8];
  std::memcpy(a, init, sizeof(a));
  const u32v hi_mask = u32v{} + 0xffff0000u;
  for (int64_t p = 0; p < P; ++p) {
    const float xlo = from_bf16_bits(xp[p] << 16), xhi = from_bf16_bits(xp[p] & 0xffff0000u);
    const uint16_t* q = w + p * 2 * R;
    for (int i = 0; i < 8; ++i) {
      u32v v;
      std::memcpy(&v, q + 32 * i, 64);
      const u32v lo = v << 16, hi = v & hi_mask;
      f32v wlo, whi;
      std::memcpy(&wlo, &lo, 64);
      std::memcpy(&whi, &hi, 64);
      a[i] += wlo * xlo + whi * xhi;
    }
  }
  std::memcpy(s, a, sizeof(a));
#endif
}

struct LayerJobBf16 {
  int64_t B, P, Hp;
  const uint32_t* xp;  // (B, P) bf16 pairs of [x; h]
  const uint16_t* w;   // (nb, P, 4U, 2)
  const float* init;   // (nb * 4U): the bias, or per row (B, nb * 4U) when init_stride > 0
  int64_t init_stride;
  float* c;
  float* h_out;
  const uint8_t* skip;  // null, or B flags: rows not to compute
};

void layer_block_bf16(void* vctx, int64_t j) {
  const LayerJobBf16& job = *static_cast<const LayerJobBf16*>(vctx);
  constexpr int U = V8<float>::units;
  const int64_t G = 4 * U;
  alignas(64) float s[4 * U];
  const uint16_t* wj = job.w + j * job.P * 2 * G;
  for (int64_t b = 0; b < job.B; ++b) {
    if (job.skip && job.skip[b]) continue;
    block_sums_bf16(job.P, job.xp + b * job.P, wj, job.init + b * job.init_stride + j * G, s);
    block_update<float>(s, job.c + b * job.Hp + j * U, job.h_out + b * job.Hp + j * U);
  }
}

// logits (B, Vp) = bias + W h with the head stored as bf16 pairs ((Vp / 128, P, 128, 2)).
struct HeadJobBf16 {
  int64_t B, P, Vp;
  const uint32_t* xp;  // (B, P) bf16 pairs of h
  const uint16_t* w;
  const float* bias;
  float* out;
  const uint8_t* skip;
};

void head_block_bf16(void* vctx, int64_t j) {
  const HeadJobBf16& job = *static_cast<const HeadJobBf16*>(vctx);
  constexpr int64_t R = 4 * V8<float>::units;
  for (int64_t b = 0; b < job.B; ++b) {
    if (job.skip && job.skip[b]) continue;
    block_sums_bf16(job.P, job.xp + b * job.P, job.w + j * job.P * 2 * R, job.bias + j * R, job.out + b * job.Vp + j * R);
  }
}

// Row b of xp (P pairs) = bf16 of [a (na values); h (nh values)], the odd last pair padded with zero.
inline void pairs_row(uint32_t* xp_row, const float* a, int64_t na, const float* h, int64_t nh) {
  uint16_t* row = reinterpret_cast<uint16_t*>(xp_row);
  to_bf16_row(a, row, na);
  to_bf16_row(h, row + na, nh);
  if ((na + nh) % 2) row[na + nh] = 0;
}

// As lstm_step<float>, with each layer's weights stored as bf16 pairs (meta's addresses point to them).
void lstm_step_bf16(const int64_t* meta, int64_t B, const float* x, const float* h0, const float* c0, float* h1,
                    float* c1, float* scratch, int threads) {
  const Stack st = stack_of(meta);
  const int64_t H = st.H, Hp = st.Hp;
  float* cs = scratch;                                        // (B, Hp)
  float* hs = cs + B * Hp;                                    // (B, Hp)
  uint32_t* xp = reinterpret_cast<uint32_t*>(hs + B * Hp);    // (B, (kmax + 1) / 2)
  for (int64_t l = 0; l < st.L; ++l) {
    const int64_t K = st.K(l), P = (K + 1) / 2;
    const int64_t xlen = l == 0 ? st.I0 : H;
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(cs + b * Hp, c0 + (l * B + b) * H, H * sizeof(float));
      pairs_row(xp + b * P, l == 0 ? x + b * st.I0 : hs + b * Hp, xlen, h0 + (l * B + b) * H, H);
    }
    LayerJobBf16 job{B, P, Hp, xp, st.w<uint16_t>(l), st.b<float>(l), 0, cs, hs, nullptr};
    parallel_blocks(&layer_block_bf16, &job, Hp / V8<float>::units, threads);
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(h1 + (l * B + b) * H, hs + b * Hp, H * sizeof(float));
      std::memcpy(c1 + (l * B + b) * H, cs + b * Hp, H * sizeof(float));
    }
  }
}

// --- int8 weights (opt-in): a quarter of the bytes per step --------------------------------------
// Each layer's weights are split into the part that reads x and the part that reads h; each part is
// quantized per gate row: q = round(w / s_r), s_r = max_k |w_rk| / 127 (symmetric int8). A block
// stores, for every quad of inputs (4k .. 4k+3), its 4U gate rows' four weights side by side
// ((nb, Qx + Qh, 4U, 4), the x quads first; a part's inputs are padded with zero weights to a
// multiple of 4). At each step the x part and the h part of every row are quantized on their own,
// as unsigned bytes around 128: u = round(v / t) + 128, t = max |v| / 127. AVX512-VNNI's vpdpbusd
// adds four u8 x s8 products to each int32 sum (64 per instruction); the sums of the weights (times
// 128) are subtracted after the loop, and the part's sum enters the float32 gate as
// s_r * t * (sum - 128 * rowsum_r). A NaN among the inputs makes t NaN, so the gates are NaN as in float.
// Per block, after the bias, the layer's float buffer holds aux = [s_r of the x part (4U), s_r of the
// h part (4U), 128 * rowsum_r of the x part (4U, int32), the same of the h part (4U, int32)].
constexpr int64_t kQuadRows = 4 * V8<float>::units;  // 128 gate rows per block

// dst[0..npad) = u8 of src[0..n) around 128 (zero-point 128 past n); returns the scale t.
inline float quant_u8_row(const float* __restrict src, int64_t n, uint8_t* __restrict dst, int64_t npad) {
  // max |v| read on the bits (|v|'s bits order as its values do), so that -ffast-math keeps NaN and inf
  uint32_t mb = 0;
  for (int64_t k = 0; k < n; ++k) {
    uint32_t b;
    std::memcpy(&b, src + k, 4);
    b &= 0x7fffffffu;
    mb = b > mb ? b : mb;
  }
  if (mb >= 0x7f800000u) {  // inf or NaN: the gates become inf/NaN through the scale
    std::memset(dst, 128, npad);
    const uint32_t tb = mb == 0x7f800000u ? 0x7f800000u : 0x7fc00000u;
    float t;
    std::memcpy(&t, &tb, 4);
    return t;
  }
  float m;
  std::memcpy(&m, &mb, 4);
  const float t = m > 0.f ? m * (1.f / 127.f) : 1.f, inv = 1.f / t;  // the same products as int8_reference
  int64_t k = 0;
#if defined(__AVX512F__)
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), zp = _mm512_set1_epi32(128);
  for (; k + 16 <= n; k += 16) {  // vcvtps2dq rounds to nearest even, as nearbyint does below
    __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + k), vinv));
    q = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), zp);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k), _mm512_cvtepi32_epi8(q));
  }
#endif
  for (; k < n; ++k) {
    float q = std::nearbyint(src[k] * inv);
    q = q < -127.f ? -127.f : (q > 127.f ? 127.f : q);
    dst[k] = uint8_t(int(q) + 128);
  }
  for (; k < npad; ++k) dst[k] = 128;
  return t;
}

// acc[r] = sum over Q quads of u[4p + i] * w[p][r][i] (int32), 128 rows
inline void quad_sums(int64_t Q, const uint8_t* __restrict u, const int8_t* __restrict w, int32_t* __restrict acc) {
#if defined(__AVX512VNNI__)
  __m512i a[8];
  for (int i = 0; i < 8; ++i) a[i] = _mm512_setzero_si512();
  for (int64_t p = 0; p < Q; ++p) {
    int32_t quad;
    std::memcpy(&quad, u + 4 * p, 4);
    const __m512i xv = _mm512_set1_epi32(quad);
    const int8_t* q = w + p * 4 * kQuadRows;
    a[0] = _mm512_dpbusd_epi32(a[0], xv, _mm512_loadu_si512(q));
    a[1] = _mm512_dpbusd_epi32(a[1], xv, _mm512_loadu_si512(q + 64));
    a[2] = _mm512_dpbusd_epi32(a[2], xv, _mm512_loadu_si512(q + 128));
    a[3] = _mm512_dpbusd_epi32(a[3], xv, _mm512_loadu_si512(q + 192));
    a[4] = _mm512_dpbusd_epi32(a[4], xv, _mm512_loadu_si512(q + 256));
    a[5] = _mm512_dpbusd_epi32(a[5], xv, _mm512_loadu_si512(q + 320));
    a[6] = _mm512_dpbusd_epi32(a[6], xv, _mm512_loadu_si512(q + 384));
    a[7] = _mm512_dpbusd_epi32(a[7], xv, _mm512_loadu_si512(q + 448));
  }
  for (int i = 0; i < 8; ++i) _mm512_storeu_si512(acc + 16 * i, a[i]);
#else
  typedef int32_t i32v __attribute__((vector_size(64), aligned(4)));
  i32v a[8] = {};
  for (int64_t p = 0; p < Q; ++p) {
    const int8_t* q = w + p * 4 * kQuadRows;
    for (int i = 0; i < 8; ++i) {
      i32v v = {};
      for (int r = 0; r < 16; ++r) {
        const int8_t* wr = q + 4 * (16 * i + r);
        v[r] = int32_t(u[4 * p]) * wr[0] + int32_t(u[4 * p + 1]) * wr[1] + int32_t(u[4 * p + 2]) * wr[2] +
               int32_t(u[4 * p + 3]) * wr[3];
      }
      a[i] += v;
    }
  }
  std::memcpy(acc, a, sizeof(a));
#endif
}

// s[r] += scale[r] * t * (acc[r] - corr[r])
inline void dequant_add(const int32_t* __restrict acc, const int32_t* __restrict corr, const float* __restrict scale,
                        float t, float* __restrict s) {
  for (int64_t r = 0; r < kQuadRows; ++r) s[r] += scale[r] * t * float(acc[r] - corr[r]);
}

struct LayerJobI8 {
  int64_t B, Qx, Qh, Hp;
  const uint8_t* u;     // (B, 4 (Qx + Qh)) u8 of [x; h], each part padded to whole quads
  const float* t;       // (B, 2) the parts' scales
  const int8_t* w;      // (nb, Qx + Qh, 4U, 4)
  const float* init;    // (nb * 4U): the bias, or per row (B, nb * 4U) when init_stride > 0
  int64_t init_stride;
  const float* aux;     // (nb, 4, 4U), see above
  float* c;
  float* h_out;
  const uint8_t* skip;  // null, or B flags: rows not to compute
};

void layer_block_i8(void* vctx, int64_t j) {
  const LayerJobI8& job = *static_cast<const LayerJobI8*>(vctx);
  constexpr int64_t G = kQuadRows, U = V8<float>::units;
  alignas(64) float s[G];
  alignas(64) int32_t acc[G];
  const int8_t* wj = job.w + j * (job.Qx + job.Qh) * 4 * G;
  const float* aux = job.aux + j * 4 * G;
  const int32_t* corr = reinterpret_cast<const int32_t*>(aux + 2 * G);
  for (int64_t b = 0; b < job.B; ++b) {
    if (job.skip && job.skip[b]) continue;
    const uint8_t* u = job.u + b * 4 * (job.Qx + job.Qh);
    std::memcpy(s, job.init + b * job.init_stride + j * G, sizeof(s));
    if (job.Qx) {
      quad_sums(job.Qx, u, wj, acc);
      dequant_add(acc, corr, aux, job.t[2 * b], s);
    }
    quad_sums(job.Qh, u + 4 * job.Qx, wj + job.Qx * 4 * G, acc);
    dequant_add(acc, corr + G, aux + G, job.t[2 * b + 1], s);
    block_update<float>(s, job.c + b * job.Hp + j * U, job.h_out + b * job.Hp + j * U);
  }
}

// Row b's u8 codes and scales of [x (xlen values); h (H values)] (u: (B, 4 (Qx + Qh)), t: (B, 2)).
inline void quant_rows(int64_t B, const float* x, int64_t xstride, int64_t xlen, const float* h, int64_t hstride,
                       int64_t H, uint8_t* u, float* t, const uint8_t* skip) {
  const int64_t Qx = (xlen + 3) / 4, Qh = (H + 3) / 4, n = 4 * (Qx + Qh);
  for (int64_t b = 0; b < B; ++b) {
    if (skip && skip[b]) continue;
    t[2 * b] = xlen ? quant_u8_row(x + b * xstride, xlen, u + b * n, 4 * Qx) : 1.f;
    t[2 * b + 1] = quant_u8_row(h + b * hstride, H, u + b * n + 4 * Qx, 4 * Qh);
  }
}

// logits (B, Vp) = bias + W h with the head quantized like a layer's h part: (Vp / 4U, Qh, 4U, 4) int8
// weights; aux = per block [scales (4U), 128 * row sums (4U, int32)].
struct HeadJobI8 {
  int64_t B, Q, Vp;
  const uint8_t* u;  // (B, 4 Q) u8 of h
  const float* t;    // (B, 2): [1] is h's scale
  const int8_t* w;
  const float* bias;
  const float* aux;
  float* out;
  const uint8_t* skip;
};

void head_block_i8(void* vctx, int64_t j) {
  const HeadJobI8& job = *static_cast<const HeadJobI8*>(vctx);
  constexpr int64_t G = kQuadRows;
  alignas(64) int32_t acc[G];
  const float* aux = job.aux + j * 2 * G;
  for (int64_t b = 0; b < job.B; ++b) {
    if (job.skip && job.skip[b]) continue;
    float* s = job.out + b * job.Vp + j * G;
    std::memcpy(s, job.bias + j * G, G * sizeof(float));
    quad_sums(job.Q, job.u + b * 4 * job.Q, job.w + j * job.Q * 4 * G, acc);
    dequant_add(acc, reinterpret_cast<const int32_t*>(aux + G), aux, job.t[2 * b + 1], s);
  }
}

// As lstm_step<float>, with each layer's weights stored as int8 quads (meta's addresses point to
// them; the bias address to [bias; aux]).
void lstm_step_i8(const int64_t* meta, int64_t B, const float* x, const float* h0, const float* c0, float* h1,
                  float* c1, float* scratch, int threads) {
  const Stack st = stack_of(meta);
  const int64_t H = st.H, Hp = st.Hp, nb = Hp / V8<float>::units;
  float* cs = scratch;               // (B, Hp)
  float* hs = cs + B * Hp;           // (B, Hp)
  float* ts = hs + B * Hp;           // (B, 2)
  uint8_t* us = reinterpret_cast<uint8_t*>(ts + 2 * B);  // (B, 4 (Qx + Qh))
  const int64_t Qh = (H + 3) / 4;
  for (int64_t l = 0; l < st.L; ++l) {
    const int64_t xlen = l == 0 ? st.I0 : H, Qx = (xlen + 3) / 4;
    for (int64_t b = 0; b < B; ++b) std::memcpy(cs + b * Hp, c0 + (l * B + b) * H, H * sizeof(float));
    quant_rows(B, l == 0 ? x : hs, l == 0 ? st.I0 : Hp, xlen, h0 + l * B * H, H, H, us, ts, nullptr);
    const float* bias = st.b<float>(l);
    LayerJobI8 job{B, Qx, Qh, Hp, us, ts, st.w<int8_t>(l), bias, 0, bias + nb * kQuadRows, cs, hs, nullptr};
    parallel_blocks(&layer_block_i8, &job, nb, threads);
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(h1 + (l * B + b) * H, hs + b * Hp, H * sizeof(float));
      std::memcpy(c1 + (l * B + b) * H, cs + b * Hp, H * sizeof(float));
    }
  }
}

// The per-token network work of a greedy decode, for weights in the stream's own dtype T: one LSTM
// layer (rows where skip is set are left alone) and the vocabulary head.
template <typename T> struct DenseNet {
  const Stack& st;
  T* xh;  // scratch (B, Kmax)
  const T* head_w;
  const T* head_b;
  int64_t Vp;
  int threads;
  void layer(int64_t l, int64_t B, const T* xin, int64_t xlen, const T* h_prev, T* c, T* h_out, const T* init,
             int64_t init_stride, const uint8_t* skip) {
    run_layer<T>(st, l, B, xin, st.Hp, xlen, xh, h_prev, st.Hp, c, h_out, init, init_stride, nullptr, skip, threads);
  }
  void head(int64_t B, const T* h, T* logits, const uint8_t* skip) {
    HeadJob<T> hj{B, st.H, Vp, h, st.Hp, head_w, head_b, logits, skip};
    parallel_blocks(&head_block<T>, &hj, Vp / (8 * V8<T>::lanes), threads);
  }
};

// The same with every layer's weights and the head stored as bf16 pairs (precision="bfloat16").
struct Bf16Net {
  const Stack& st;
  uint32_t* xp;  // scratch (B, (Kmax + 1) / 2)
  const uint16_t* head_w;
  const float* head_b;
  int64_t Vp;
  int threads;
  void layer(int64_t l, int64_t B, const float* xin, int64_t xlen, const float* h_prev, float* c, float* h_out,
             const float* init, int64_t init_stride, const uint8_t* skip) {
    const int64_t P = (xlen + st.H + 1) / 2;
    for (int64_t b = 0; b < B; ++b)
      if (!skip || !skip[b]) pairs_row(xp + b * P, xin + b * st.Hp, xlen, h_prev + b * st.Hp, st.H);
    LayerJobBf16 job{B, P, st.Hp, xp, st.w<uint16_t>(l), init, init_stride, c, h_out, skip};
    parallel_blocks(&layer_block_bf16, &job, st.Hp / V8<float>::units, threads);
  }
  void head(int64_t B, const float* h, float* logits, const uint8_t* skip) {
    const int64_t P = (st.H + 1) / 2;
    for (int64_t b = 0; b < B; ++b)
      if (!skip || !skip[b]) pairs_row(xp + b * P, h + b * st.Hp, st.H, nullptr, 0);
    HeadJobBf16 hj{B, P, Vp, xp, head_w, head_b, logits, skip};
    parallel_blocks(&head_block_bf16, &hj, Vp / (4 * V8<float>::units), threads);
  }
};

// The same with every layer's weights and the head stored as int8 quads (precision="int8").
struct Int8Net {
  const Stack& st;
  uint8_t* u;  // scratch (B, Kmax + 8) codes
  float* t;    // scratch (B, 2) scales
  const int8_t* head_w;
  const float* head_b;  // [bias (Vp); aux]
  int64_t Vp;
  int threads;
  void layer(int64_t l, int64_t B, const float* xin, int64_t xlen, const float* h_prev, float* c, float* h_out,
             const float* init, int64_t init_stride, const uint8_t* skip) {
    const int64_t nb = st.Hp / V8<float>::units;
    quant_rows(B, xin, st.Hp, xlen, h_prev, st.Hp, st.H, u, t, skip);
    LayerJobI8 job{B, (xlen + 3) / 4, (st.H + 3) / 4, st.Hp, u, t, st.w<int8_t>(l), init, init_stride,
                   st.b<float>(l) + nb * kQuadRows, c, h_out, skip};
    parallel_blocks(&layer_block_i8, &job, nb, threads);
  }
  void head(int64_t B, const float* h, float* logits, const uint8_t* skip) {
    quant_rows(B, nullptr, 0, 0, h, st.Hp, st.H, u, t, skip);
    HeadJobI8 hj{B, (st.H + 3) / 4, Vp, u, t, head_w, head_b, head_b + Vp, logits, skip};
    parallel_blocks(&head_block_i8, &hj, Vp / kQuadRows, threads);
  }
};

// Greedy decoding of a token LSTM: layer 0's input part is a table (V, nb*4U) = the embedding of
// every token through W_ih (and the bias), so a token costs a row lookup. h, c: (L, B, Hp) in/out.
// tokens: (B,) the first inputs. Writes out (B, max_len) (pad for finished rows), lengths (B),
// scores (B) (sum of chosen log-probs); returns the number of steps run. Net: DenseNet or Bf16Net.
template <typename T, typename Net>
int64_t lstm_greedy(Net& net, const Stack& st, int64_t B, const T* table, const T* rowbias, int64_t V,
                    int64_t Vp, int64_t eos, int64_t pad, int64_t max_len, T* h, T* c, const int64_t* first,
                    int64_t* out, int64_t* lengths, double* scores, uint8_t* finished, T* scratch) {
  const int64_t H = st.H, Hp = st.Hp, L = st.L;
  constexpr int U = V8<T>::units;
  const int64_t G = (Hp / U) * 4 * U;
  T* hnew = scratch;              // (B, Hp)
  T* logits = hnew + B * Hp;      // (B, Vp)
  T* gate0 = logits + B * Vp;     // (B, G): table row (+ row bias) of each row's token
  std::vector<int64_t> tok(first, first + B);
  int64_t steps = 0;
  for (int64_t t = 0; t < max_len; ++t) {
    for (int64_t b = 0; b < B; ++b) {
      if (finished[b]) continue;
      const T* row = table + tok[b] * G;
      if (rowbias) {
        for (int64_t g = 0; g < G; ++g) gate0[b * G + g] = row[g] + rowbias[b * G + g];
      } else {
        std::memcpy(gate0 + b * G, row, G * sizeof(T));
      }
    }
    for (int64_t l = 0; l < L; ++l) {
      T* hl = h + l * B * Hp;
      T* cl = c + l * B * Hp;
      if (l == 0) {
        net.layer(0, B, nullptr, 0, hl, cl, hnew, gate0, G, finished);
      } else {
        net.layer(l, B, h + (l - 1) * B * Hp, H, hl, cl, hnew, st.b<T>(l), 0, finished);
      }
      for (int64_t b = 0; b < B; ++b)
        if (!finished[b]) std::memcpy(hl + b * Hp, hnew + b * Hp, Hp * sizeof(T));
    }
    net.head(B, h + (L - 1) * B * Hp, logits, finished);
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (finished[b]) { out[b * max_len + t] = pad; continue; }
      const T* z = logits + b * Vp;
      int64_t best = 0;
      T top = z[0];
      for (int64_t v = 1; v < V; ++v)
        if (z[v] > top) { top = z[v]; best = v; }  // first maximum, as torch.argmax
      double sum = 0;
      for (int64_t v = 0; v < V; ++v) sum += std::exp(double(z[v]) - double(top));
      scores[b] += -std::log(sum);  // log-softmax of the arg-max: z_best - logsumexp(z)
      out[b * max_len + t] = best;
      if (best == eos) { finished[b] = 1; lengths[b] = t + 1; }
      tok[b] = best;
      all_done = all_done && finished[b];
    }
    steps = t + 1;
    if (all_done) break;
  }
  return steps;
}

// Scratch of the greedy entry points: the net's own (xh, or the bf16 pairs) first, then lstm_greedy's.
template <typename T>
int64_t dense_greedy(const int64_t* meta, int64_t B, const T* table, const T* rowbias, const T* head_w,
                     const T* head_b, int64_t V, int64_t Vp, int64_t eos, int64_t pad, int64_t max_len, T* h, T* c,
                     const int64_t* first, int64_t* out, int64_t* lengths, double* scores, uint8_t* finished,
                     T* scratch, int threads) {
  const Stack st = stack_of(meta);
  const int64_t kmax = st.kmax();
  DenseNet<T> net{st, scratch, head_w, head_b, Vp, threads};
  return lstm_greedy<T>(net, st, B, table, rowbias, V, Vp, eos, pad, max_len, h, c, first, out, lengths, scores,
                        finished, scratch + B * kmax);
}

int64_t bf16_greedy(const int64_t* meta, int64_t B, const float* table, const float* rowbias, const uint16_t* head_w,
                    const float* head_b, int64_t V, int64_t Vp, int64_t eos, int64_t pad, int64_t max_len, float* h,
                    float* c, const int64_t* first, int64_t* out, int64_t* lengths, double* scores,
                    uint8_t* finished, float* scratch, int threads) {
  const Stack st = stack_of(meta);
  const int64_t kmax = st.kmax();
  Bf16Net net{st, reinterpret_cast<uint32_t*>(scratch), head_w, head_b, Vp, threads};
  return lstm_greedy<float>(net, st, B, table, rowbias, V, Vp, eos, pad, max_len, h, c, first, out, lengths, scores,
                            finished, scratch + B * kmax);
}

int64_t i8_greedy(const int64_t* meta, int64_t B, const float* table, const float* rowbias, const int8_t* head_w,
                  const float* head_b, int64_t V, int64_t Vp, int64_t eos, int64_t pad, int64_t max_len, float* h,
                  float* c, const int64_t* first, int64_t* out, int64_t* lengths, double* scores, uint8_t* finished,
                  float* scratch, int threads) {
  const Stack st = stack_of(meta);
  const int64_t kmax = st.kmax();
  float* t = scratch;  // (B, 2), then the codes: B (kmax + 8) bytes within the next B (kmax + 6) floats
  Int8Net net{st, reinterpret_cast<uint8_t*>(scratch + 2 * B), t, head_w, head_b, Vp, threads};
  return lstm_greedy<float>(net, st, B, table, rowbias, V, Vp, eos, pad, max_len, h, c, first, out, lengths, scores,
                            finished, scratch + B * (kmax + 8));
}

}  // namespace

// A digest of sampled parameter elements (cpu_stream.ParamsWatch): table = [n, then per element its
// address and size in bytes (at most 8)]; FNV-1a over the elements, one 64-bit word each.
static uint64_t probe_digest(const int64_t* table) {
  uint64_t digest = 1469598103934665603ull;
  for (int64_t i = 0; i < table[0]; ++i) {
    uint64_t word = 0;
    std::memcpy(&word, reinterpret_cast<const void*>(table[1 + 2 * i]), static_cast<size_t>(table[2 + 2 * i]));
    digest = (digest ^ word) * 1099511628211ull;
  }
  return digest;
}

#define RNNKIT_STREAM_EXPORT(T, SUFFIX)                                                                      \
  extern "C" void rnnkit_lstm_step_##SUFFIX(const int64_t* meta, int64_t B, const T* x, const T* h0,         \
                                            const T* c0, T* h1, T* c1, T* scratch, int threads) {          \
    lstm_step<T>(meta, B, x, h0, c0, h1, c1, scratch, threads);                                              \
  }                                                                                                          \
  extern "C" int64_t rnnkit_lstm_greedy_##SUFFIX(                                                            \
      const int64_t* meta, int64_t B, const T* table, const T* rowbias, const T* head_w, const T* head_b,    \
      int64_t V, int64_t Vp, int64_t eos, int64_t pad, int64_t max_len, T* h, T* c, const int64_t* first,    \
      int64_t* out, int64_t* lengths, double* scores, uint8_t* finished, T* scratch, int threads) {          \
    return dense_greedy<T>(meta, B, table, rowbias, head_w, head_b, V, Vp, eos, pad, max_len, h, c, first,   \
                           out, lengths, scores, finished, scratch, threads);                                \
  }

RNNKIT_STREAM_EXPORT(float, f32)
RNNKIT_STREAM_EXPORT(double, f64)

// In-place streaming: h, c (L, B, H) are read and overwritten; y (B, H) gets the top layer's new h.
// One argument, a = [meta, B, x, h, c, y, scratch, threads, probe table, digest] (addresses as int64):
// the caller keeps the array and rewrites x, y and threads only, and ctypes converts one argument
// instead of ten. Returns 1 without stepping where the parameters' sampled elements no longer give
// the digest (the packed weights are stale: repack and call again), else 0.
#define RNNKIT_STREAM_INPLACE(T, SUFFIX, STEP)                                                             \
  extern "C" int rnnkit_lstm_stream_##SUFFIX(const int64_t* a) {                                           \
    if (a[8] != 0 && probe_digest(reinterpret_cast<const int64_t*>(a[8])) != static_cast<uint64_t>(a[9]))  \
      return 1;                                                                                            \
    const int64_t* meta = reinterpret_cast<const int64_t*>(a[0]);                                          \
    const int64_t B = a[1];                                                                                \
    T* h = reinterpret_cast<T*>(a[3]);                                                                     \
    T* c = reinterpret_cast<T*>(a[4]);                                                                     \
    STEP(meta, B, reinterpret_cast<const T*>(a[2]), h, c, h, c, reinterpret_cast<T*>(a[6]), int(a[7]));    \
    std::memcpy(reinterpret_cast<T*>(a[5]), h + (meta[0] - 1) * B * meta[1], B * meta[1] * sizeof(T));     \
    return 0;                                                                                              \
  }

RNNKIT_STREAM_INPLACE(float, f32, lstm_step<float>)
RNNKIT_STREAM_INPLACE(double, f64, lstm_step<double>)
RNNKIT_STREAM_INPLACE(float, bf16, lstm_step_bf16)
RNNKIT_STREAM_INPLACE(float, i8, lstm_step_i8)

extern "C" void rnnkit_lstm_step_i8(const int64_t* meta, int64_t B, const float* x, const float* h0,
                                    const float* c0, float* h1, float* c1, float* scratch, int threads) {
  lstm_step_i8(meta, B, x, h0, c0, h1, c1, scratch, threads);
}

extern "C" void rnnkit_lstm_step_bf16(const int64_t* meta, int64_t B, const float* x, const float* h0,
                                      const float* c0, float* h1, float* c1, float* scratch, int threads) {
  lstm_step_bf16(meta, B, x, h0, c0, h1, c1, scratch, threads);
}

extern "C" int64_t rnnkit_lstm_greedy_bf16(const int64_t* meta, int64_t B, const float* table, const float* rowbias,
                                           const uint16_t* head_w, const float* head_b, int64_t V, int64_t Vp,
                                           int64_t eos, int64_t pad, int64_t max_len, float* h, float* c,
                                           const int64_t* first, int64_t* out, int64_t* lengths, double* scores,
                                           uint8_t* finished, float* scratch, int threads) {
  return bf16_greedy(meta, B, table, rowbias, head_w, head_b, V, Vp, eos, pad, max_len, h, c, first, out, lengths,
                     scores, finished, scratch, threads);
}

extern "C" int64_t rnnkit_lstm_greedy_i8(const int64_t* meta, int64_t B, const float* table, const float* rowbias,
                                         const int8_t* head_w, const float* head_b, int64_t V, int64_t Vp,
                                         int64_t eos, int64_t pad, int64_t max_len, float* h, float* c,
                                         const int64_t* first, int64_t* out, int64_t* lengths, double* scores,
                                         uint8_t* finished, float* scratch, int threads) {
  return i8_greedy(meta, B, table, rowbias, head_w, head_b, V, Vp, eos, pad, max_len, h, c, first, out, lengths,
                   scores, finished, scratch, threads);
}

extern "C" int rnnkit_stream_has_avx512bf16() {
#if defined(__AVX512BF16__)
  return 1;
#else
  return 0;
#endif
}

extern "C" int rnnkit_stream_has_avx512vnni() {
#if defined(__AVX512VNNI__)
  return 1;
#else
  return 0;
#endif
}

extern "C" uint64_t rnnkit_probe(const int64_t* table) { return probe_digest(table); }

extern "C" int rnnkit_stream_units_f32() { return V8<float>::units; }
extern "C" int rnnkit_stream_units_f64() { return V8<double>::units; }
