// The CPU execution layer behind tests/emu/include (see tests/emu/README.md): device memory,
// streams as lazily run queues, and kernel launches whose threads are Boost.Context fibers.
//
// A launch runs its blocks one after another (order per LATENTKIT_EMU_ORDER). Inside a block each
// thread is a fiber on its own stack; the scheduler runs every ready thread, in the chosen order,
// until it blocks (__syncthreads, a warp intrinsic) or exits, and repeats until all have exited.
// A barrier releases when every thread that has not exited has arrived (sm_70+ semantics); a warp
// intrinsic releases when every lane in its mask has arrived. Nothing here is concurrent: one OS
// thread runs everything, so atomics and shared memory need no locking.
//
// Tested by tests/emu/test_emu_layer.cu (planted bugs each caught, correct kernels pass) and by
// every GPU test of the suite, which runs on this layer under the CTest label `emu`.
#include <boost/context/fiber.hpp>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "lkemu/kernel.h"

#if defined(__SANITIZE_ADDRESS__)
#define LKEMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LKEMU_ASAN 1
#endif
#endif

#ifdef LKEMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define LKEMU_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define LKEMU_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define LKEMU_POISON(p, n) ((void)(p), (void)(n))
#define LKEMU_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace ctx = boost::context;

namespace lkemu {

const ThreadView* g_view = nullptr;

namespace {

// ---- options -----------------------------------------------------------------------------------
enum class Order { Forward, Reverse, Shuffle };

struct Options {
  Order order = Order::Forward;
  uint64_t shuffle_seed = 0x5eed;  // any fixed value: shuffled runs are reproducible
  std::string name = "forward";
  bool set(const std::string& s) {
    if (s == "forward" || s.empty()) order = Order::Forward;
    else if (s == "reverse") order = Order::Reverse;
    else if (s.rfind("shuffle", 0) == 0 && (s.size() == 7 || s[7] == ':')) {
      order = Order::Shuffle;
      if (s.size() > 8) shuffle_seed = std::strtoull(s.c_str() + 8, nullptr, 10);
    } else {
      return false;
    }
    name = s.empty() ? "forward" : s;
    return true;
  }
  Options() {
    if (const char* o = std::getenv("LATENTKIT_EMU_ORDER")) {
      if (!set(o)) {
        std::fprintf(stderr, "LATENTKIT_EMU_ORDER=%s: use forward, reverse or shuffle[:SEED]\n", o);
        std::exit(2);
      }
    }
  }
};
Options& options() {
  static Options o;
  return o;
}

// ---- errors ------------------------------------------------------------------------------------
cudaError_t g_last_error = cudaSuccess;

cudaError_t fail(cudaError_t e, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
cudaError_t fail(cudaError_t e, const char* fmt, ...) {
  std::fprintf(stderr, "[emulated GPU] %s: ", cudaGetErrorName(e));
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  g_last_error = e;
  return e;
}

// ---- device memory -----------------------------------------------------------------------------
struct Allocation {
  size_t bytes;
  bool pinned;  // cudaMallocHost: host memory that copies may read or write later
};
std::map<uintptr_t, Allocation>& allocations() {
  static std::map<uintptr_t, Allocation> m;
  return m;
}
size_t g_device_bytes = 0;
// Memory the emulated device reports (cudaMemGetInfo, totalGlobalMem): an H100's 80 GB.
constexpr size_t kDeviceMemory = size_t(80) << 30;

const Allocation* find_alloc(const void* p, size_t bytes, bool pinned, uintptr_t* base = nullptr) {
  auto& m = allocations();
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(a);
  if (it == m.begin()) return nullptr;
  --it;
  if (it->second.pinned != pinned) return nullptr;
  if (a - it->first > it->second.bytes || bytes > it->second.bytes - (a - it->first)) return nullptr;
  if (base) *base = it->first;
  return &it->second;
}

Stats g_stats{};

// LATENTKIT_EMU_STATS=FILE: at exit, the process's counters (stats()) are appended to FILE as one
// JSON line, e.g. to count the host-device copies of one app run.
void write_stats_at_exit() {
  const char* path = std::getenv("LATENTKIT_EMU_STATS");
  if (!path) return;
  FILE* f = std::fopen(path, "a");
  if (!f) return;
  const Stats& s = g_stats;
  std::fprintf(f,
               "{\"launches\": %llu, \"h2d_copies\": %llu, \"h2d_bytes\": %llu, "
               "\"d2h_copies\": %llu, \"d2h_bytes\": %llu, \"d2d_copies\": %llu, "
               "\"memsets\": %llu, \"host_work\": %llu}\n",
               s.launches, s.h2d_copies, s.h2d_bytes, s.d2h_copies, s.d2h_bytes, s.d2d_copies,
               s.memsets, s.host_work);
  std::fclose(f);
}
[[maybe_unused]] const bool g_stats_registered = std::atexit(write_stats_at_exit) == 0;

// ---- streams -----------------------------------------------------------------------------------
struct Op {
  std::function<void()> fn;
  const char* what;
};

}  // namespace
}  // namespace lkemu

struct CUstream_st {
  std::deque<lkemu::Op> pending;
  uint64_t enqueued = 0;  // ops ever queued
  uint64_t executed = 0;  // ops ever run (the first `executed` of them)
  bool blocking = true;   // cudaStreamCreate: synchronises with the legacy stream
  bool running = false;
  int id = 0;
};
struct CUevent_st {
  CUstream_st* stream = nullptr;
  uint64_t position = 0;  // complete when stream->executed >= position
  bool recorded = false;
  double time_ms = 0;
};

namespace lkemu {
namespace {

CUstream_st g_legacy;  // the legacy default stream (stream 0)
std::vector<CUstream_st*>& streams() {  // every stream alive, the legacy one first
  static std::vector<CUstream_st*> v{&g_legacy};
  return v;
}
int g_next_stream_id = 1;

CUstream_st* resolve(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy) return &g_legacy;
  return s;
}
bool valid_stream(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy) return true;
  auto& v = streams();
  return std::find(v.begin(), v.end(), s) != v.end();
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

void flush_to(CUstream_st* s, uint64_t position) {
  while (s->executed < position) {
    if (s->running) {
      // A stream waiting, through events, for work queued after its own current op: a cycle no
      // real program can build (events capture the past). Report instead of recursing forever.
      device_fault("stream %d waits for its own later work (an event cycle)", s->id);
    }
    Op op = std::move(s->pending.front());
    s->pending.pop_front();
    s->running = true;
    op.fn();
    s->running = false;
    ++s->executed;
  }
}
void flush_all() {
  // Ops may queue nothing new, but they may flush other streams; loop until every queue is empty.
  for (bool again = true; again;) {
    again = false;
    for (CUstream_st* s : std::vector<CUstream_st*>(streams())) {
      if (s->executed < s->enqueued) {
        flush_to(s, s->enqueued);
        again = true;
      }
    }
  }
}

void push(CUstream_st* s, const char* what, std::function<void()> fn) {
  // Implicit synchronisation of the legacy stream with blocking streams: work on the legacy
  // stream waits for all blocking streams' earlier work, and theirs waits for the legacy stream's.
  if (s == &g_legacy) {
    for (CUstream_st* o : streams()) {
      if (o != &g_legacy && o->blocking && o->executed < o->enqueued) {
        const uint64_t pos = o->enqueued;
        s->pending.push_back({[o, pos] { flush_to(o, pos); }, "implicit sync"});
        ++s->enqueued;
      }
    }
  } else if (s->blocking && g_legacy.executed < g_legacy.enqueued) {
    const uint64_t pos = g_legacy.enqueued;
    s->pending.push_back({[pos] { flush_to(&g_legacy, pos); }, "implicit sync"});
    ++s->enqueued;
  }
  s->pending.push_back({std::move(fn), what});
  ++s->enqueued;
}

// ---- fibers ------------------------------------------------------------------------------------
// Fiber stacks: mmap'ed once per thread slot with a guard page below, reused by every block and
// launch. 256 KiB: the kernels' per-thread arrays (e.g. kNN's 2 x 256 candidates) plus the
// sanitizer's red zones and the deepest call chains seen, with room to spare.
constexpr size_t kStackBytes = 256 * 1024;

struct Stack {
  void* base = nullptr;  // lowest address (the guard page)
  size_t bytes = 0;
};
std::deque<Stack>& stack_pool() {  // a deque: Stack addresses stay valid as it grows
  static std::deque<Stack> v;
  return v;
}
Stack& stack_for(int slot) {
  auto& pool = stack_pool();
  while (static_cast<int>(pool.size()) <= slot) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = kStackBytes + page;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "[emulated GPU] cannot map a %zu-byte fiber stack\n", bytes);
      std::abort();
    }
    mprotect(p, page, PROT_NONE);  // overflow faults instead of corrupting the next stack
    pool.push_back({p, bytes});
  }
  return pool[slot];
}

struct PoolStackAllocator {
  Stack* stack;
  ctx::stack_context allocate() {
    ctx::stack_context sc;
    sc.size = stack->bytes;
    sc.sp = static_cast<char*>(stack->base) + stack->bytes;
    return sc;
  }
  void deallocate(ctx::stack_context&) noexcept {}
};

enum class TState { Ready, AtBarrier, AtWarp, Done };

struct Thread {
  ThreadView view;
  int linear = 0, lane = 0, warp = 0;
  TState state = TState::Ready;
  ctx::fiber fiber;      // the thread, while it is suspended
  ctx::fiber scheduler;  // the scheduler, while the thread runs
  void* fake_stack = nullptr;
  const void* sched_bottom = nullptr;
  size_t sched_size = 0;
  Stack* stack = nullptr;
};

struct Warp {
  unsigned exists = 0;   // lanes inside the block
  unsigned exited = 0;   // lanes that returned
  unsigned arrived = 0;  // lanes waiting in the current exchange
  unsigned mask = 0;     // its mask
  const char* what = nullptr;
  const char* file = nullptr;
  int line = 0;
  uint64_t generation = 0;
  uint64_t values[2][32];  // double-buffered by generation: a fast lane's next deposit cannot
                           // overwrite a value a slow lane has not read yet
};

// Shared memory: one arena per launch, reset for every block; allocations are separated by
// poisoned red zones so that an overrun of one __shared__ array is a sanitizer report.
constexpr size_t kRedZone = 64;
constexpr size_t kArenaBytes = kOptinSharedLimit + 64 * kRedZone + 4096;

struct Block {
  const LaunchRecord* rec = nullptr;
  uint3 idx{};
  int nthreads = 0, live = 0, at_barrier = 0;
  const char* barrier_file = nullptr;
  int barrier_line = 0;
  std::vector<Thread> threads;
  std::vector<Warp> warps;
  unsigned char* arena = nullptr;
  size_t arena_used = 0;   // bytes handed out (dynamic first, then static with red zones)
  size_t static_bytes = 0; // sum of the __shared__ variables' sizes
  size_t dynamic_bytes = 0;
  size_t shared_limit = kDefaultSharedLimit;
  std::vector<std::pair<const void*, void*>> shared_vars;
};
Block* g_block = nullptr;
Thread* g_thread = nullptr;

unsigned char* arena() {
  static unsigned char* a = [] {
    void* p = nullptr;
    if (posix_memalign(&p, 256, kArenaBytes) != 0) std::abort();
    return static_cast<unsigned char*>(p);
  }();
  return a;
}

struct FuncAttrs {
  int max_dynamic_shared = static_cast<int>(kDefaultSharedLimit);
};
std::unordered_map<std::string, FuncAttrs>& func_attrs() {
  static std::unordered_map<std::string, FuncAttrs> m;
  return m;
}

void switch_to_thread(Thread& t) {
  g_thread = &t;
  g_view = &t.view;
#ifdef LKEMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, t.stack->base, t.stack->bytes);
#endif
  t.fiber = std::move(t.fiber).resume();
#ifdef LKEMU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  g_thread = nullptr;
  g_view = nullptr;
}

void yield_to_scheduler() {
  Thread& t = *g_thread;
#ifdef LKEMU_ASAN
  __sanitizer_start_switch_fiber(&t.fake_stack, t.sched_bottom, t.sched_size);
#endif
  t.scheduler = std::move(t.scheduler).resume();
#ifdef LKEMU_ASAN
  __sanitizer_finish_switch_fiber(t.fake_stack, &t.sched_bottom, &t.sched_size);
#endif
}

void release_barrier(Block& b) {
  for (Thread& t : b.threads)
    if (t.state == TState::AtBarrier) t.state = TState::Ready;
  b.at_barrier = 0;
  b.barrier_file = nullptr;
}

void thread_exited(Block& b, Thread& t) {
  t.state = TState::Done;
  --b.live;
  Warp& w = b.warps[t.warp];
  w.exited |= 1u << t.lane;
  if (w.arrived && (w.mask >> t.lane & 1u))
    device_fault("lane %d exited while lanes 0x%08x wait in %s (%s:%d) whose mask 0x%08x names it",
                 t.lane, w.arrived, w.what, w.file, w.line, w.mask);
  if (b.at_barrier > 0 && b.at_barrier == b.live) release_barrier(b);
}

void order_indices(std::vector<int>& v, std::mt19937_64& rng) {
  switch (options().order) {
    case Order::Forward: break;
    case Order::Reverse: std::reverse(v.begin(), v.end()); break;
    case Order::Shuffle: std::shuffle(v.begin(), v.end(), rng); break;
  }
}

std::string describe_waits(const Block& b) {
  std::string s;
  char buf[256];
  for (const Thread& t : b.threads) {
    if (t.state == TState::AtBarrier) {
      std::snprintf(buf, sizeof buf, "\n  thread %d at __syncthreads (%s:%d)", t.linear,
                    b.barrier_file, b.barrier_line);
    } else if (t.state == TState::AtWarp) {
      const Warp& w = b.warps[t.warp];
      std::snprintf(buf, sizeof buf, "\n  thread %d at %s (%s:%d), mask 0x%08x, arrived 0x%08x",
                    t.linear, w.what, w.file, w.line, w.mask, w.arrived);
    } else {
      continue;
    }
    s += buf;
    if (s.size() > 4000) {
      s += "\n  ...";
      break;
    }
  }
  return s;
}

void run_block(Block& b, std::mt19937_64& rng) {
  const LaunchRecord& rec = *b.rec;
  const dim3 bd = rec.cfg.block;
  b.nthreads = static_cast<int>(bd.x * bd.y * bd.z);
  b.live = b.nthreads;
  b.at_barrier = 0;
  b.threads.resize(b.nthreads);
  b.warps.assign((b.nthreads + 31) / 32, Warp{});
  // Shared memory: everything poisoned, then the dynamic part handed out and filled with 0xFF.
  b.arena = arena();
  LKEMU_UNPOISON(b.arena, kArenaBytes);
  std::memset(b.arena, kPoisonByte, std::min(kArenaBytes, b.arena_used + 2 * kRedZone));
  LKEMU_POISON(b.arena, kArenaBytes);
  b.shared_vars.clear();
  b.static_bytes = 0;
  b.arena_used = (b.dynamic_bytes + 255) / 256 * 256 + kRedZone;
  LKEMU_UNPOISON(b.arena, b.dynamic_bytes);

  for (int i = 0; i < b.nthreads; ++i) {
    Thread& t = b.threads[i];
    t.linear = i;
    t.lane = i % 32;
    t.warp = i / 32;
    b.warps[t.warp].exists |= 1u << t.lane;
    t.view.thread_idx = uint3{i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
    t.view.block_idx = b.idx;
    t.view.block_dim = bd;
    t.view.grid_dim = rec.cfg.grid;
    t.state = TState::Ready;
    t.stack = &stack_for(i);
    Thread* tp = &t;
    t.fiber = ctx::fiber(std::allocator_arg, PoolStackAllocator{t.stack},
                         [tp](ctx::fiber&& sched) {
                           tp->scheduler = std::move(sched);
#ifdef LKEMU_ASAN
                           __sanitizer_finish_switch_fiber(nullptr, &tp->sched_bottom,
                                                           &tp->sched_size);
#endif
                           g_block->rec->run(g_block->rec->state.get());
                           thread_exited(*g_block, *tp);
#ifdef LKEMU_ASAN
                           __sanitizer_start_switch_fiber(nullptr, tp->sched_bottom,
                                                          tp->sched_size);
#endif
                           return std::move(tp->scheduler);
                         });
  }
  std::vector<int> ready;
  ready.reserve(b.nthreads);
  while (b.live > 0) {
    ready.clear();
    for (int i = 0; i < b.nthreads; ++i)
      if (b.threads[i].state == TState::Ready) ready.push_back(i);
    if (ready.empty()) {
      device_fault("deadlock: %d threads wait and none can proceed:%s", b.live,
                   describe_waits(b).c_str());
    }
    order_indices(ready, rng);
    for (int i : ready)
      if (b.threads[i].state == TState::Ready) switch_to_thread(b.threads[i]);
  }
  for (Thread& t : b.threads) t.fiber = ctx::fiber();  // all finished: nothing to unwind
}

void run_launch(const LaunchRecord& rec) {
  ++g_stats.launches;
  const dim3 g = rec.cfg.grid;
  const size_t nblocks = size_t(g.x) * g.y * g.z;
  auto it = func_attrs().find(rec.name);
  Block b;
  b.rec = &rec;
  b.dynamic_bytes = rec.cfg.smem;
  b.shared_limit = it != func_attrs().end() && it->second.max_dynamic_shared > int(kDefaultSharedLimit)
                       ? size_t(it->second.max_dynamic_shared)
                       : kDefaultSharedLimit;
  b.arena_used = kArenaBytes - 2 * kRedZone;  // the first block poisons the whole arena
  std::vector<int> order;
  std::mt19937_64 rng(options().shuffle_seed ^ (g_stats.launches * 0x9E3779B97F4A7C15ull));
  // Blocks in the chosen order (in chunks, so a huge grid needs no index vector of its size).
  constexpr size_t kChunk = 4096;
  std::vector<size_t> chunk_order((nblocks + kChunk - 1) / kChunk);
  for (size_t c = 0; c < chunk_order.size(); ++c) chunk_order[c] = c;
  switch (options().order) {
    case Order::Forward: break;
    case Order::Reverse: std::reverse(chunk_order.begin(), chunk_order.end()); break;
    case Order::Shuffle: std::shuffle(chunk_order.begin(), chunk_order.end(), rng); break;
  }
  Block* saved = g_block;
  g_block = &b;
  for (size_t c : chunk_order) {
    const size_t lo = c * kChunk, hi = std::min(nblocks, lo + kChunk);
    order.resize(hi - lo);
    for (size_t i = lo; i < hi; ++i) order[i - lo] = static_cast<int>(i - lo);
    order_indices(order, rng);
    for (int off : order) {
      const size_t id = lo + off;
      b.idx = uint3{static_cast<unsigned>(id % g.x), static_cast<unsigned>((id / g.x) % g.y),
                    static_cast<unsigned>(id / (size_t(g.x) * g.y))};
      run_block(b, rng);
    }
  }
  g_block = saved;
  LKEMU_UNPOISON(arena(), kArenaBytes);
}

}  // namespace

// ---- kernel-side entry points ------------------------------------------------------------------
void device_fault(const char* fmt, ...) {
  std::fflush(stdout);
  std::fprintf(stderr, "\n[emulated GPU] device fault: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (g_block && g_block->rec) {
    const LaunchRecord& r = *g_block->rec;
    std::fprintf(stderr, "\n  in kernel %s launched at %s:%d, grid (%u,%u,%u) block (%u,%u,%u), "
                 "block index (%u,%u,%u)",
                 r.name, r.file, r.line, r.cfg.grid.x, r.cfg.grid.y, r.cfg.grid.z, r.cfg.block.x,
                 r.cfg.block.y, r.cfg.block.z, g_block->idx.x, g_block->idx.y, g_block->idx.z);
    if (g_thread)
      std::fprintf(stderr, ", thread (%u,%u,%u)", g_thread->view.thread_idx.x,
                   g_thread->view.thread_idx.y, g_thread->view.thread_idx.z);
  }
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}

void syncthreads(const char* file, int line) {
  Block& b = *g_block;
  Thread& t = *g_thread;
  if (b.at_barrier == 0) {
    b.barrier_file = file;
    b.barrier_line = line;
  } else if (line != b.barrier_line || std::strcmp(file, b.barrier_file) != 0) {
    device_fault("__syncthreads at %s:%d reached while %d threads wait at %s:%d (a barrier in "
                 "divergent code)", file, line, b.at_barrier, b.barrier_file, b.barrier_line);
  }
  ++b.at_barrier;
  t.state = TState::AtBarrier;
  if (b.at_barrier == b.live) {
    release_barrier(b);
    t.state = TState::Ready;  // the scheduler picks the order of the next phase
  }
  yield_to_scheduler();
}

const uint64_t* warp_exchange(unsigned mask, uint64_t value, const char* what, const char* file,
                              int line) {
  Block& b = *g_block;
  Thread& t = *g_thread;
  Warp& w = b.warps[t.warp];
  if (!(mask >> t.lane & 1u))
    device_fault("%s at %s:%d: mask 0x%08x does not name the calling lane %d", what, file, line,
                 mask, t.lane);
  if (mask & ~w.exists)
    device_fault("%s at %s:%d: mask 0x%08x names lanes 0x%08x that do not exist (block of %d "
                 "threads)", what, file, line, mask, mask & ~w.exists, b.nthreads);
  if (mask & w.exited)
    device_fault("%s at %s:%d: mask 0x%08x names lanes 0x%08x that have exited", what, file, line,
                 mask, mask & w.exited);
  if (w.arrived == 0) {
    w.mask = mask;
    w.what = what;
    w.file = file;
    w.line = line;
  } else if (w.mask != mask || w.line != line || std::strcmp(w.file, file) != 0) {
    device_fault("%s at %s:%d with mask 0x%08x, while lanes 0x%08x of the warp wait in %s at "
                 "%s:%d with mask 0x%08x (divergent warp intrinsics)",
                 what, file, line, mask, w.arrived, w.what, w.file, w.line, w.mask);
  }
  const uint64_t gen = w.generation;
  w.values[gen & 1][t.lane] = value;
  w.arrived |= 1u << t.lane;
  if (w.arrived == mask) {
    w.arrived = 0;
    ++w.generation;
    for (int l = 0; l < 32; ++l)
      if (mask >> l & 1u) b.threads[t.warp * 32 + l].state = TState::Ready;
  } else {
    t.state = TState::AtWarp;
  }
  yield_to_scheduler();
  return w.values[gen & 1];
}

unsigned lane_id() { return static_cast<unsigned>(g_thread->lane); }

void* shared_alloc(const void* key, size_t bytes, size_t align) {
  Block& b = *g_block;
  for (auto& kv : b.shared_vars)
    if (kv.first == key) return kv.second;
  b.static_bytes += bytes;
  if (b.static_bytes + b.dynamic_bytes > b.shared_limit)
    device_fault("shared memory: %zu bytes static + %zu dynamic exceed the %zu-byte limit per "
                 "block (%s)", b.static_bytes, b.dynamic_bytes, b.shared_limit,
                 b.shared_limit == kDefaultSharedLimit
                     ? "48 KB unless cudaFuncSetAttribute(MaxDynamicSharedMemorySize) raises it"
                     : "the kernel's attribute");
  align = std::max<size_t>(align, 16);
  size_t off = (b.arena_used + align - 1) / align * align;
  if (off + bytes + kRedZone > kArenaBytes) device_fault("shared memory arena exhausted");
  void* p = b.arena + off;
  LKEMU_UNPOISON(p, bytes);
  b.arena_used = off + bytes + kRedZone;
  b.shared_vars.emplace_back(key, p);
  return p;
}

void* dynamic_shared_ptr() {
  Block& b = *g_block;
  if (b.dynamic_bytes > b.shared_limit)
    device_fault("dynamic shared memory of %zu bytes exceeds the %zu-byte limit", b.dynamic_bytes,
                 b.shared_limit);
  return b.arena;
}

void check_launch_bounds(int max_threads, const char* file, int line) {
  if (g_block->nthreads > max_threads)
    device_fault("__launch_bounds__(%d) at %s:%d but the block has %d threads", max_threads, file,
                 line, g_block->nthreads);
}

// ---- launches ----------------------------------------------------------------------------------
void submit_launch(LaunchRecord rec, const void* const* pointer_args, size_t n_pointer_args) {
  const LaunchCfg& c = rec.cfg;
  const unsigned long long threads = 1ull * c.block.x * c.block.y * c.block.z;
  if (threads == 0 || c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0) {
    fail(cudaErrorInvalidConfiguration, "launch of %s at %s:%d: empty grid (%u,%u,%u) or block "
         "(%u,%u,%u)", rec.name, rec.file, rec.line, c.grid.x, c.grid.y, c.grid.z, c.block.x,
         c.block.y, c.block.z);
    return;
  }
  if (threads > kMaxThreadsPerBlock || c.block.z > kMaxBlockDimZ || c.grid.x > kMaxGridX ||
      c.grid.y > kMaxGridYZ || c.grid.z > kMaxGridYZ) {
    fail(cudaErrorInvalidConfiguration, "launch of %s at %s:%d: grid (%u,%u,%u) block (%u,%u,%u) "
         "exceeds the device limits (1024 threads per block, block z <= 64, grid y/z <= 65535)",
         rec.name, rec.file, rec.line, c.grid.x, c.grid.y, c.grid.z, c.block.x, c.block.y,
         c.block.z);
    return;
  }
  auto it = func_attrs().find(rec.name);
  const size_t limit = it != func_attrs().end() ? size_t(it->second.max_dynamic_shared)
                                                : kDefaultSharedLimit;
  if (c.smem > limit) {
    fail(cudaErrorInvalidValue, "launch of %s at %s:%d: %zu bytes of dynamic shared memory "
         "exceed the %zu-byte limit (raise it with cudaFuncSetAttribute)", rec.name, rec.file,
         rec.line, c.smem, limit);
    return;
  }
  if (!valid_stream(c.stream)) {
    fail(cudaErrorInvalidResourceHandle, "launch of %s at %s:%d: stream %p is not a live stream",
         rec.name, rec.file, rec.line, static_cast<void*>(c.stream));
    return;
  }
  for (size_t i = 0; i < n_pointer_args; ++i) {
    const void* p = pointer_args[i];
    if (p && !find_alloc(p, 0, false) && !find_alloc(p, 0, true))
      fail(cudaErrorInvalidValue, "launch of %s at %s:%d: pointer argument %zu (%p) is not in any "
           "live device allocation (host memory, or freed)", rec.name, rec.file, rec.line, i, p),
          std::abort();
  }
  auto shared = std::make_shared<LaunchRecord>(std::move(rec));
  push(resolve(c.stream), shared->name, [shared] { run_launch(*shared); });
}

void enqueue_host_work(cudaStream_t stream, const char* what, void (*fn)(void*),
                       std::shared_ptr<void> state) {
  if (!valid_stream(stream)) device_fault("%s on a stream that is not alive", what);
  ++g_stats.host_work;
  push(resolve(stream), what, [fn, state] { fn(state.get()); });
}

void flush_stream(cudaStream_t stream) {
  CUstream_st* s = resolve(stream);
  flush_to(s, s->enqueued);
}

bool is_device_range(const void* ptr, size_t bytes) {
  return find_alloc(ptr, bytes, false) != nullptr;
}

void require_device_range(const void* ptr, size_t bytes, const char* what) {
  if (!is_device_range(ptr, bytes))
    device_fault("%s: [%p, +%zu bytes) is not inside one live device allocation", what, ptr, bytes);
}

cudaError_t set_func_attribute(const char* kernel_name, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || size_t(value) > kOptinSharedLimit)
      return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: %d bytes of dynamic shared memory "
                  "exceed the device's opt-in limit %zu", value, kOptinSharedLimit);
    func_attrs()[kernel_name].max_dynamic_shared = value;
  }
  return cudaSuccess;
}

Stats stats() { return g_stats; }

void set_order(const char* mode) {
  if (!options().set(mode)) device_fault("set_order(\"%s\"): use forward, reverse or shuffle[:SEED]", mode);
}
const char* order_name() { return options().name.c_str(); }

}  // namespace lkemu

// ---- the runtime API ---------------------------------------------------------------------------
using namespace lkemu;

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidSymbol: return "cudaErrorInvalidSymbol";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    default: return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing (not emulated)";
    default: return cudaGetErrorName(e);
  }
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return g_last_error; }

// LATENTKIT_EMU_NO_DEVICE=1 makes the emulated build look like a machine without a GPU.
static bool no_device() { return std::getenv("LATENTKIT_EMU_NO_DEVICE") != nullptr; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (no_device()) {
    *count = 0;
    g_last_error = cudaErrorNoDevice;
    return cudaErrorNoDevice;
  }
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0 || no_device())
    return fail(cudaErrorInvalidDevice, "cudaSetDevice(%d): the emulated machine has device 0 only",
                device);
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0 || no_device()) return fail(cudaErrorInvalidDevice, "no device %d", device);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "latentkit emulated GPU (CPU, sm_90 limits)");
  prop->totalGlobalMem = kDeviceMemory;
  prop->sharedMemPerBlock = kDefaultSharedLimit;
  prop->sharedMemPerBlockOptin = kOptinSharedLimit;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = kMaxThreadsPerBlock;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = kMaxBlockDimZ;
  prop->maxGridSize[0] = static_cast<int>(kMaxGridX);
  prop->maxGridSize[1] = prop->maxGridSize[2] = static_cast<int>(kMaxGridYZ);
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;  // an H100 SXM's count, so grid-size heuristics match
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->l2CacheSize = 50 << 20;
  prop->memoryBusWidth = 5120;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  cudaDeviceProp p;
  if (const cudaError_t e = cudaGetDeviceProperties(&p, device)) return e;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(p.sharedMemPerBlockOptin);
      break;
    default: return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute(%d) not emulated", attr);
  }
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = no_device() ? 0 : 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  flush_all();
  return cudaSuccess;
}
cudaError_t cudaDeviceReset() {
  flush_all();
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = kDeviceMemory;
  *free_bytes = kDeviceMemory > g_device_bytes ? kDeviceMemory - g_device_bytes : 0;
  return cudaSuccess;
}

// ---- memory ------------------------------------------------------------------------------------
static cudaError_t allocate(void** p, size_t bytes, bool pinned) {
  if (!p) return fail(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (!pinned && g_device_bytes + bytes > kDeviceMemory)
    return fail(cudaErrorMemoryAllocation, "cudaMalloc of %zu bytes: the emulated device has %zu "
                "of %zu bytes in use", bytes, g_device_bytes, kDeviceMemory);
  // 256-byte alignment as cudaMalloc guarantees; the exact size, so the sanitizer sees overruns.
  void* q = nullptr;
  if (posix_memalign(&q, 256, bytes) != 0 || !q)
    return fail(cudaErrorMemoryAllocation, "cudaMalloc of %zu bytes: host allocation failed", bytes);
  std::memset(q, kPoisonByte, bytes);
  allocations()[reinterpret_cast<uintptr_t>(q)] = Allocation{bytes, pinned};
  if (!pinned) g_device_bytes += bytes;
  *p = q;
  return cudaSuccess;
}
static cudaError_t release(void* p, bool pinned) {
  if (!p) return cudaSuccess;
  flush_all();  // cudaFree synchronises the device
  auto& m = allocations();
  auto it = m.find(reinterpret_cast<uintptr_t>(p));
  if (it == m.end() || it->second.pinned != pinned)
    return fail(cudaErrorInvalidValue, "%s(%p): not the start of a live %s allocation",
                pinned ? "cudaFreeHost" : "cudaFree", p, pinned ? "pinned" : "device");
  if (!pinned) g_device_bytes -= it->second.bytes;
  m.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** p, size_t bytes) { return allocate(p, bytes, false); }
cudaError_t cudaFree(void* p) { return release(p, false); }
cudaError_t cudaMallocHost(void** p, size_t bytes) { return allocate(p, bytes, true); }
cudaError_t cudaFreeHost(void* p) { return release(p, true); }

namespace {
enum class Where { Device, Pinned, Pageable };
Where where(const void* p, size_t bytes) {
  if (find_alloc(p, bytes, false)) return Where::Device;
  if (find_alloc(p, bytes, true)) return Where::Pinned;
  return Where::Pageable;
}

cudaError_t copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                 cudaStream_t stream, bool host_sync, const char* api) {
  if (bytes == 0) return cudaSuccess;
  if (!valid_stream(stream))
    return fail(cudaErrorInvalidResourceHandle, "%s: stream %p is not alive", api,
                static_cast<void*>(stream));
  const Where wd = where(dst, bytes), ws = where(src, bytes);
  const bool dev_dst = wd == Where::Device, dev_src = ws == Where::Device;
  if (kind == cudaMemcpyDefault) {
    kind = dev_dst ? (dev_src ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                   : (dev_src ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  }
  const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (want_dst != dev_dst || want_src != dev_src) {
    return fail(cudaErrorInvalidValue, "%s of %zu bytes, kind %d: destination %p is %s and source "
                "%p is %s (each must be inside one live device allocation exactly when the kind "
                "says device)", api, bytes, int(kind), dst, dev_dst ? "device memory" : "not device memory",
                src, dev_src ? "device memory" : "not device memory");
  }
  CUstream_st* s = resolve(stream);
  switch (kind) {
    case cudaMemcpyHostToDevice: {
      ++g_stats.h2d_copies;
      g_stats.h2d_bytes += bytes;
      if (ws == Where::Pinned) {  // truly asynchronous: the source is read when the copy runs
        push(s, "memcpy HtoD", [=] { std::memcpy(dst, src, bytes); });
      } else {  // pageable: staged now, so the caller may reuse the source; the DMA runs later
        auto staged = std::make_shared<std::vector<unsigned char>>(
            static_cast<const unsigned char*>(src), static_cast<const unsigned char*>(src) + bytes);
        push(s, "memcpy HtoD", [=] { std::memcpy(dst, staged->data(), bytes); });
      }
      break;
    }
    case cudaMemcpyDeviceToHost:
      ++g_stats.d2h_copies;
      g_stats.d2h_bytes += bytes;
      push(s, "memcpy DtoH", [=] { std::memcpy(dst, src, bytes); });
      // Into pageable memory the call returns only when the data is there.
      if (host_sync || wd == Where::Pageable) flush_to(s, s->enqueued);
      break;
    case cudaMemcpyDeviceToDevice:
      ++g_stats.d2d_copies;
      push(s, "memcpy DtoD", [=] { std::memmove(dst, src, bytes); });
      break;
    default:
      flush_to(s, s->enqueued);
      std::memmove(dst, src, bytes);
      break;
  }
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  // Legacy stream. Host to device from pageable memory returns once the source is staged (the
  // copy into device memory may land later: CUDA's documented behaviour, and here it does).
  return copy(dst, src, bytes, kind, nullptr, kind == cudaMemcpyDeviceToHost, "cudaMemcpy");
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return copy(dst, src, bytes, kind, stream, false, "cudaMemcpyAsync");
}
static cudaError_t set(void* p, int value, size_t bytes, cudaStream_t stream, const char* api) {
  if (bytes == 0) return cudaSuccess;
  if (!find_alloc(p, bytes, false))
    return fail(cudaErrorInvalidValue, "%s(%p, %zu bytes): not inside one live device allocation",
                api, p, bytes);
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "%s: dead stream", api);
  ++g_stats.memsets;
  push(resolve(stream), api, [=] { std::memset(p, value, bytes); });
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  return set(p, value, bytes, nullptr, "cudaMemset");
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
  return set(p, value, bytes, stream, "cudaMemsetAsync");
}

// ---- streams and events ------------------------------------------------------------------------
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  auto* st = new CUstream_st;
  st->blocking = !(flags & cudaStreamNonBlocking);
  st->id = g_next_stream_id++;
  streams().push_back(st);
  *s = st;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || !valid_stream(s))
    return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy(%p): not a live stream",
                static_cast<void*>(s));
  flush_to(s, s->enqueued);  // its work completes before the stream goes
  auto& v = streams();
  v.erase(std::find(v.begin(), v.end(), s));
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (!valid_stream(s)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: dead stream");
  flush_stream(s);
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t s) { return cudaStreamSynchronize(s); }
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream) {
  if (!e || !valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord");
  CUstream_st* s = resolve(stream);
  push(s, "event record", [e] { e->time_ms = now_ms(); });
  e->stream = s;
  e->position = s->enqueued;
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize(null)");
  if (e->recorded && valid_stream(e->stream)) flush_to(e->stream, e->position);
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t e, unsigned int) {
  if (!e || !valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent");
  if (!e->recorded) return cudaSuccess;
  CUstream_st* src = e->stream;
  const uint64_t pos = e->position;
  push(resolve(stream), "event wait", [src, pos] {
    if (valid_stream(src)) flush_to(src, pos);
  });
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  cudaEventSynchronize(start);
  cudaEventSynchronize(end);
  *ms = static_cast<float>(end->time_ms - start->time_ms);
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
  return fail(cudaErrorStreamCaptureUnsupported, "stream capture (CUDA graphs) is not emulated");
}
cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
  *g = nullptr;
  return fail(cudaErrorStreamCaptureUnsupported, "stream capture (CUDA graphs) is not emulated");
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t, unsigned long long) {
  *exec = nullptr;
  return fail(cudaErrorStreamCaptureUnsupported, "CUDA graphs are not emulated");
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t, cudaStream_t) {
  return fail(cudaErrorStreamCaptureUnsupported, "CUDA graphs are not emulated");
}
cudaError_t cudaGraphDestroy(cudaGraph_t) { return cudaSuccess; }
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t) { return cudaSuccess; }
