// Plain C++ reference of the t-SNE kernel family (declared in latentkit/ref/tsne_ref.h): float64
// accumulation, no cleverness beyond what keeps the CPU path usable (the pair loop of the exact
// repulsion visits each pair once, the FFT skips lines that are known to be zero). Shares no code
// with kernels/tsne.cu / kernels/tsne_fft.cu but the grid geometry (latentkit/families/tsne_grid.h).
// Tests: tests/test_ref_tsne.cpp; GPU comparison: tests/test_tsne_gpu.cu.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/tsne_ref.h"

namespace latentkit::ref {

void tsne_all_pairs(const float* X, int n, int d, int32_t* idx, float* dist2) {
  LK_CHECK(n >= 2 && d >= 1, "tsne_all_pairs: need n >= 2 and d >= 1, got n=" << n << " d=" << d);
  const size_t k = static_cast<size_t>(n) - 1;
  for (int i = 0; i < n; ++i) {
    const float* xi = X + static_cast<size_t>(i) * d;
    size_t m = 0;
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      const float* xj = X + static_cast<size_t>(j) * d;
      double s = 0.0;
      for (int a = 0; a < d; ++a) {
        const double diff = static_cast<double>(xi[a]) - static_cast<double>(xj[a]);
        s += diff * diff;
      }
      idx[i * k + m] = j;
      dist2[i * k + m] = static_cast<float>(s);
      ++m;
    }
  }
}

void tsne_calibrate(const float* dist2, int n, int k, float perplexity, float* p_cond,
                    float* beta_out) {
  LK_CHECK(n >= 1 && k >= 1, "tsne_calibrate: need n >= 1 and k >= 1");
  LK_CHECK(perplexity > 0, "tsne_calibrate: perplexity must be positive");
  const double desired_entropy = std::log(static_cast<double>(perplexity));
  std::vector<double> p(k);
  for (int i = 0; i < n; ++i) {
    const float* d = dist2 + static_cast<size_t>(i) * k;
    // Distances relative to the row's nearest: the same p and entropy (both are shift-invariant),
    // but exp() never underflows to an all-zero row (where scikit-learn falls back to 1e-8).
    double d_min = std::numeric_limits<double>::infinity();
    for (int j = 0; j < k; ++j) d_min = std::min(d_min, static_cast<double>(d[j]));
    double beta = 1.0;
    double beta_min = -std::numeric_limits<double>::infinity();
    double beta_max = std::numeric_limits<double>::infinity();
    double sum_p = 0.0, beta_eval = beta;
    for (int step = 0; step < kTsnePerplexitySteps; ++step) {
      beta_eval = beta;
      // entropy of p_j = e_j / sum e:  H = log(sum e) + beta * sum(d_j e_j) / sum e
      sum_p = 0.0;
      double sum_de = 0.0;
      for (int j = 0; j < k; ++j) {
        const double dj = static_cast<double>(d[j]) - d_min;
        p[j] = std::exp(-dj * beta);
        sum_p += p[j];
        sum_de += dj * p[j];
      }
      const double entropy = std::log(sum_p) + beta * (sum_de / sum_p);
      const double diff = entropy - desired_entropy;
      if (std::fabs(diff) <= kTsnePerplexityTol) break;
      if (diff > 0) {
        beta_min = beta;
        beta = std::isinf(beta_max) ? beta * 2.0 : (beta + beta_max) / 2.0;
      } else {
        beta_max = beta;
        beta = std::isinf(beta_min) ? beta / 2.0 : (beta + beta_min) / 2.0;
      }
    }
    // The probabilities of the last beta evaluated (scikit-learn keeps those too).
    for (int j = 0; j < k; ++j)
      p_cond[static_cast<size_t>(i) * k + j] = static_cast<float>(p[j] / sum_p);
    beta_out[i] = static_cast<float>(beta_eval);
  }
}

TsneCsr tsne_symmetrize(const int32_t* idx, const float* p_cond, int n, int k) {
  LK_CHECK(n >= 1 && k >= 1, "tsne_symmetrize: need n >= 1 and k >= 1");
  const size_t entries = static_cast<size_t>(n) * k;
  // Bucket both directions of every entry by row (counting sort), then sort and merge each row.
  std::vector<int64_t> start(static_cast<size_t>(n) + 1, 0);
  for (size_t e = 0; e < entries; ++e) {
    const int32_t j = idx[e];
    LK_CHECK(j >= 0 && j < n,
             "tsne_symmetrize: neighbour index " << j << " out of [0, " << n << ")");
    ++start[e / k + 1];
    ++start[static_cast<size_t>(j) + 1];
  }
  for (int i = 0; i < n; ++i) start[i + 1] += start[i];
  std::vector<std::pair<int32_t, double>> bucket(2 * entries);
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (size_t e = 0; e < entries; ++e) {
    const int32_t i = static_cast<int32_t>(e / k), j = idx[e];
    const double p = static_cast<double>(p_cond[e]);
    bucket[fill[i]++] = {j, p};
    bucket[fill[j]++] = {i, p};
  }
  TsneCsr out;
  out.row_ptr.assign(static_cast<size_t>(n) + 1, 0);
  std::vector<double> merged;
  merged.reserve(2 * entries);
  out.col.reserve(2 * entries);
  for (int i = 0; i < n; ++i) {
    auto first = bucket.begin() + start[i], last = bucket.begin() + start[i + 1];
    std::sort(first, last, [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto it = first; it != last;) {
      const int32_t c = it->first;
      double v = 0.0;
      for (; it != last && it->first == c; ++it) v += it->second;
      out.col.push_back(c);
      merged.push_back(v);
    }
    out.row_ptr[i + 1] = static_cast<int32_t>(out.col.size());
    LK_CHECK(out.col.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()),
             "tsne_symmetrize: more than 2^31 nonzeros; use fewer points or a lower perplexity");
  }
  double total = 0.0;
  for (double v : merged) total += v;
  LK_CHECK(total > 0, "tsne_symmetrize: all affinities are zero");
  out.val.resize(merged.size());
  for (size_t e = 0; e < merged.size(); ++e) out.val[e] = static_cast<float>(merged[e] / total);
  return out;
}

namespace {
// The attraction for a compile-time dimension, so the coordinate loops unroll (the CPU path's
// hottest loop: ~3 * perplexity * 1.3 terms per point per iteration).
template <int DIMS>
void attractive_rows(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y,
                     int n, float* attr) {
  for (int i = 0; i < n; ++i) {
    double acc[DIMS] = {}, yi[DIMS];
    for (int a = 0; a < DIMS; ++a) yi[a] = Y[static_cast<size_t>(i) * DIMS + a];
    for (int32_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
      const float* yj = Y + static_cast<size_t>(col[e]) * DIMS;
      double diff[DIMS], r2 = 0.0;
      for (int a = 0; a < DIMS; ++a) {
        diff[a] = yi[a] - static_cast<double>(yj[a]);
        r2 += diff[a] * diff[a];
      }
      const double pq = static_cast<double>(val[e]) / (1.0 + r2);
      for (int a = 0; a < DIMS; ++a) acc[a] += pq * diff[a];
    }
    for (int a = 0; a < DIMS; ++a)
      attr[static_cast<size_t>(i) * DIMS + a] = static_cast<float>(acc[a]);
  }
}
}  // namespace

void tsne_attractive(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y,
                     int n, int dims, float* attr) {
  LK_CHECK(dims == 2 || dims == 3, "tsne_attractive: dims must be 2 or 3, got " << dims);
  if (dims == 2)
    attractive_rows<2>(row_ptr, col, val, Y, n, attr);
  else
    attractive_rows<3>(row_ptr, col, val, Y, n, attr);
}

namespace {
template <int DIMS>
double repulsive_exact_pairs(const float* Y, int n, float* rep) {
  std::vector<double> acc(static_cast<size_t>(n) * DIMS, 0.0), y(acc.size());
  for (size_t e = 0; e < y.size(); ++e) y[e] = Y[e];
  double z = 0.0;
  for (int i = 0; i < n; ++i) {
    const double* yi = y.data() + static_cast<size_t>(i) * DIMS;
    double* ai = acc.data() + static_cast<size_t>(i) * DIMS;
    for (int j = i + 1; j < n; ++j) {  // each pair once: q_ij = q_ji, forces opposite
      const double* yj = y.data() + static_cast<size_t>(j) * DIMS;
      double diff[DIMS], r2 = 0.0;
      for (int a = 0; a < DIMS; ++a) {
        diff[a] = yi[a] - yj[a];
        r2 += diff[a] * diff[a];
      }
      const double q = 1.0 / (1.0 + r2);
      z += 2.0 * q;
      double* aj = acc.data() + static_cast<size_t>(j) * DIMS;
      for (int a = 0; a < DIMS; ++a) {
        ai[a] += q * q * diff[a];
        aj[a] -= q * q * diff[a];
      }
    }
  }
  for (size_t e = 0; e < acc.size(); ++e) rep[e] = static_cast<float>(acc[e]);
  return z;
}
}  // namespace

double tsne_repulsive_exact(const float* Y, int n, int dims, float* rep) {
  LK_CHECK(dims == 2 || dims == 3, "tsne_repulsive_exact: dims must be 2 or 3, got " << dims);
  return dims == 2 ? repulsive_exact_pairs<2>(Y, n, rep) : repulsive_exact_pairs<3>(Y, n, rep);
}

void tsne_bounds(const float* Y, int n, int dims, float* lo, float* hi) {
  for (int a = 0; a < dims; ++a) {
    lo[a] = std::numeric_limits<float>::infinity();
    hi[a] = -std::numeric_limits<float>::infinity();
  }
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < dims; ++a) {
      lo[a] = std::min(lo[a], Y[static_cast<size_t>(i) * dims + a]);
      hi[a] = std::max(hi[a], Y[static_cast<size_t>(i) * dims + a]);
    }
}

namespace {

// Radix-2 complex FFT of one length (power of two), in place on a contiguous line of interleaved
// (re, im) doubles; per-stage twiddle tables; complex products written out (std::complex's
// operator* checks for NaN/Inf and is several times slower).
class Radix2Fft {
 public:
  explicit Radix2Fft(int len) : len_(len), rev_(len), twiddle_(2 * static_cast<size_t>(len)) {
    int bits = 0;
    while ((1 << bits) < len) ++bits;
    for (int i = 0; i < len; ++i) {
      int r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      rev_[i] = r;
    }
    const double two_pi = 6.283185307179586476925286766559;
    // Stage with half-length h: its h twiddles exp(-2 pi i j / (2h)) start at entry h - 1.
    for (int h = 1; h < len; h *= 2)
      for (int j = 0; j < h; ++j) {
        twiddle_[2 * (h - 1 + j)] = std::cos(two_pi * j / (2 * h));
        twiddle_[2 * (h - 1 + j) + 1] = -std::sin(two_pi * j / (2 * h));
      }
  }
  void run(double* a, bool inverse) const {
    for (int i = 0; i < len_; ++i)
      if (i < rev_[i]) {
        std::swap(a[2 * i], a[2 * rev_[i]]);
        std::swap(a[2 * i + 1], a[2 * rev_[i] + 1]);
      }
    const double sign = inverse ? -1.0 : 1.0;
    for (int h = 1; h < len_; h *= 2) {
      const double* tw = twiddle_.data() + 2 * (h - 1);
      for (int s = 0; s < len_; s += 2 * h) {
        double* lo = a + 2 * s;
        double* hi = a + 2 * (s + h);
        for (int j = 0; j < h; ++j) {
          const double wr = tw[2 * j], wi = sign * tw[2 * j + 1];
          const double xr = hi[2 * j], xi = hi[2 * j + 1];
          const double tr = wr * xr - wi * xi, ti = wr * xi + wi * xr;
          hi[2 * j] = lo[2 * j] - tr;
          hi[2 * j + 1] = lo[2 * j + 1] - ti;
          lo[2 * j] += tr;
          lo[2 * j + 1] += ti;
        }
      }
    }
  }

 private:
  int len_;
  std::vector<int> rev_;
  std::vector<double> twiddle_;
};

// Transforms `grid` (len^dims complex, row-major, interleaved) along `axis`, only on the lines
// whose indices on the axes before `axis` are < lower_limit (the others are zero, or not needed).
void fft_axis(double* grid, int dims, int len, int axis, int lower_limit, const Radix2Fft& fft,
              bool inverse, std::vector<double>& line) {
  size_t stride[3] = {1, 1, 1};
  for (int a = dims - 2; a >= 0; --a) stride[a] = stride[a + 1] * len;
  int others[2] = {0, 0}, limits[2] = {1, 1}, n_other = 0;
  for (int a = 0; a < dims; ++a)
    if (a != axis) {
      others[n_other] = a;
      limits[n_other++] = a < axis ? lower_limit : len;
    }
  const int lim0 = limits[0], lim1 = n_other > 1 ? limits[1] : 1;
  const size_t s = stride[axis];
  for (int i0 = 0; i0 < lim0; ++i0)
    for (int i1 = 0; i1 < lim1; ++i1) {
      const size_t base = i0 * stride[others[0]] + (n_other > 1 ? i1 * stride[others[1]] : 0);
      double* first = grid + 2 * base;
      if (s == 1) {
        fft.run(first, inverse);
      } else {
        for (int t = 0; t < len; ++t) {
          line[2 * t] = first[2 * t * s];
          line[2 * t + 1] = first[2 * t * s + 1];
        }
        fft.run(line.data(), inverse);
        for (int t = 0; t < len; ++t) {
          first[2 * t * s] = line[2 * t];
          first[2 * t * s + 1] = line[2 * t + 1];
        }
      }
    }
}

// Lagrange basis of the p nodes of one box at local coordinate t (node k at k + 0.5).
void lagrange_weights(double t, int p, double* w) {
  for (int k = 0; k < p; ++k) {
    double num = 1.0, den = 1.0;
    for (int m = 0; m < p; ++m) {
      if (m == k) continue;
      num *= t - (m + 0.5);
      den *= static_cast<double>(k - m);
    }
    w[k] = num / den;
  }
}

// The box of coordinate y along axis a and the weights of its p nodes; returns the first node.
int locate(const TsneFftGrid& g, int a, float y, double* w) {
  const double u = (static_cast<double>(y) - g.lo[a]) / g.spacing();  // in node spacings
  int box = static_cast<int>(std::floor(u / g.p));
  box = std::min(std::max(box, 0), g.boxes - 1);
  lagrange_weights(u - static_cast<double>(box) * g.p, g.p, w);
  return box * g.p;
}

// The p^dims nodes of point y's box: their cell offsets in the padded grid and their weights.
int point_nodes(const TsneFftGrid& g, const float* y, size_t* offset, double* weight) {
  const int p = g.p, len = g.fft_size;
  double w[3][8];
  int first[3] = {0, 0, 0};
  for (int a = 0; a < g.dims; ++a) first[a] = locate(g, a, y[a], w[a]);
  int count = 0;
  if (g.dims == 2) {
    for (int k0 = 0; k0 < p; ++k0)
      for (int k1 = 0; k1 < p; ++k1, ++count) {
        offset[count] = static_cast<size_t>(first[0] + k0) * len + (first[1] + k1);
        weight[count] = w[0][k0] * w[1][k1];
      }
  } else {
    for (int k0 = 0; k0 < p; ++k0)
      for (int k1 = 0; k1 < p; ++k1)
        for (int k2 = 0; k2 < p; ++k2, ++count) {
          offset[count] =
              (static_cast<size_t>(first[0] + k0) * len + (first[1] + k1)) * len + (first[2] + k2);
          weight[count] = w[0][k0] * w[1][k1] * w[2][k2];
        }
  }
  return count;
}

// Box index of a point along each axis, flattened.
int box_id(const TsneFftGrid& g, const float* y) {
  int id = 0;
  for (int a = 0; a < g.dims; ++a) {
    const double u = (static_cast<double>(y[a]) - g.lo[a]) / g.spacing();
    int box = static_cast<int>(std::floor(u / g.p));
    box = std::min(std::max(box, 0), g.boxes - 1);
    id = id * g.boxes + box;
  }
  return id;
}

// The kernel-splitting remainder (see TsneFftGrid::near_radius): adds sum_j (q^2 - K_grid) (y_i -
// y_j) over j within near_radius (j = i included: no force, 1 - K_grid(0) to Z) to rep, returns
// its share of Z, sum (q^2 - K_grid)(1 + r^2). Points are bucketed by box (counting sort, in index
// order within a box) and copied box by box into one contiguous array.
template <int DIMS>
double near_field(const float* Y, int n, const TsneFftGrid& g, float* rep) {
  const double rc2 = g.near_radius * g.near_radius;
  size_t n_boxes = 1;
  for (int a = 0; a < DIMS; ++a) n_boxes *= g.boxes;
  std::vector<int> box(n), start(n_boxes + 1, 0);
  for (int i = 0; i < n; ++i) {
    box[i] = box_id(g, Y + static_cast<size_t>(i) * DIMS);
    ++start[box[i] + 1];
  }
  for (size_t b = 0; b < n_boxes; ++b) start[b + 1] += start[b];
  std::vector<int> fill(start.begin(), start.end() - 1);
  std::vector<double> sorted(static_cast<size_t>(n) * DIMS);
  for (int i = 0; i < n; ++i) {
    const int s = fill[box[i]]++;
    for (int a = 0; a < DIMS; ++a)
      sorted[static_cast<size_t>(s) * DIMS + a] = Y[static_cast<size_t>(i) * DIMS + a];
  }
  double z = 0.0;
  for (int i = 0; i < n; ++i) {
    double yi[DIMS];
    for (int a = 0; a < DIMS; ++a) yi[a] = Y[static_cast<size_t>(i) * DIMS + a];
    int coord[3] = {0, 0, 0};
    for (int a = DIMS - 1, rest = box[i]; a >= 0; --a, rest /= g.boxes) coord[a] = rest % g.boxes;
    double force[DIMS] = {};
    constexpr int kSpan2 = DIMS == 3 ? 1 : 0;
    for (int d0 = -1; d0 <= 1; ++d0)
      for (int d1 = -1; d1 <= 1; ++d1)
        for (int d2 = -kSpan2; d2 <= kSpan2; ++d2) {
          const int c0 = coord[0] + d0, c1 = coord[1] + d1, c2 = coord[2] + d2;
          if (c0 < 0 || c1 < 0 || c2 < 0 || c0 >= g.boxes || c1 >= g.boxes || c2 >= g.boxes)
            continue;
          const int b = DIMS == 2 ? c0 * g.boxes + c1 : (c0 * g.boxes + c1) * g.boxes + c2;
          for (int s = start[b]; s < start[b + 1]; ++s) {
            const double* yj = sorted.data() + static_cast<size_t>(s) * DIMS;
            double diff[DIMS], u = 0.0;
            for (int a = 0; a < DIMS; ++a) {
              diff[a] = yi[a] - yj[a];
              u += diff[a] * diff[a];
            }
            if (u >= rc2) continue;
            const double q = 1.0 / (1.0 + u);
            const double c = q * q - tsne_grid_kernel(u, rc2);
            for (int a = 0; a < DIMS; ++a) force[a] += c * diff[a];
            z += c * (1.0 + u);
          }
        }
    for (int a = 0; a < DIMS; ++a)
      rep[static_cast<size_t>(i) * DIMS + a] = static_cast<float>(
          static_cast<double>(rep[static_cast<size_t>(i) * DIMS + a]) + force[a]);
  }
  return z;
}

}  // namespace

double tsne_repulsive_fft(const float* Y, int n, int dims, const TsneFftGrid& g, float* rep) {
  LK_CHECK(dims == g.dims,
           "tsne_repulsive_fft: grid is for " << g.dims << "-D, Y is " << dims << "-D");
  LK_CHECK(n >= 1, "tsne_repulsive_fft: need n >= 1");
  LK_CHECK(g.p >= 2 && g.p <= 8, "tsne_repulsive_fft: malformed grid (use tsne_fft_grid())");
  const int len = g.fft_size, m_nodes = g.nodes();
  const int charges = dims + 2;          // 1, y'_1..y'_dims, |y'|^2 (y' = y - grid centre)
  const int packed = (charges + 1) / 2;  // two real charges per complex grid
  size_t cells = 1;
  for (int a = 0; a < dims; ++a) cells *= len;
  // packed complex grids, interleaved (re, im): charge c in grid c / 2, part c % 2.
  std::vector<double> grids(2 * cells * packed, 0.0);
  size_t offset[512];
  double weight[512];

  // Spread the charges onto the nodes of each point's box.
  for (int i = 0; i < n; ++i) {
    const float* yi = Y + static_cast<size_t>(i) * dims;
    double q[6] = {1.0, 0, 0, 0, 0, 0};
    double r2 = 0.0;
    for (int a = 0; a < dims; ++a) {
      q[1 + a] = static_cast<double>(yi[a]) - g.center[a];
      r2 += q[1 + a] * q[1 + a];
    }
    q[dims + 1] = r2;
    const int nodes = point_nodes(g, yi, offset, weight);
    for (int c = 0; c < packed; ++c) {
      double* grid = grids.data() + 2 * c * cells;
      const double qa = q[2 * c], qb = q[2 * c + 1];
      for (int m = 0; m < nodes; ++m) {
        grid[2 * offset[m]] += weight[m] * qa;
        grid[2 * offset[m] + 1] += weight[m] * qb;
      }
    }
  }

  // The kernel q^2 = 1/(1 + r^2)^2 at every node offset, embedded circulantly, and its spectrum
  // (real: the embedded kernel is even).
  const double s = g.spacing();
  // The kernel's spectrum depends only on the grid's shape, spacing and near radius, which stay
  // the same over many iterations (tsne_fft_grid's ladder): memoised per thread.
  struct SpectrumCache {
    int len = 0, dims = 0, m = 0;
    double spacing = 0, near_radius = 0;
    std::vector<double> spectrum;
  };
  thread_local SpectrumCache cache;
  const Radix2Fft fft(len);
  std::vector<double> line(2 * static_cast<size_t>(len));
  const bool cached = cache.len == len && cache.dims == dims && cache.m == m_nodes &&
                      cache.spacing == s && cache.near_radius == g.near_radius;
  std::vector<double>& kernel = cache.spectrum;
  if (!cached) {
    kernel.assign(2 * cells, 0.0);
    for (size_t cell = 0; cell < cells; ++cell) {
      double r2 = 0.0;
      bool inside = true;
      size_t rest = cell;
      for (int a = dims - 1; a >= 0; --a) {
        const int t = static_cast<int>(rest % len);
        rest /= len;
        const int delta = t < m_nodes ? t : (t > len - m_nodes ? t - len : len);
        if (delta == len) inside = false;
        r2 += static_cast<double>(delta) * delta * s * s;
      }
      kernel[2 * cell] = inside ? tsne_grid_kernel(r2, g.near_radius * g.near_radius) : 0.0;
    }
    for (int a = dims - 1; a >= 0; --a)
      fft_axis(kernel.data(), dims, len, a, len, fft, false, line);
    cache.len = len;
    cache.dims = dims;
    cache.m = m_nodes;
    cache.spacing = s;
    cache.near_radius = g.near_radius;
  }
  const double norm = 1.0 / static_cast<double>(cells);  // the inverse FFT is unnormalised
  for (int c = 0; c < packed; ++c) {
    double* grid = grids.data() + 2 * c * cells;
    for (int a = dims - 1; a >= 0; --a) fft_axis(grid, dims, len, a, m_nodes, fft, false, line);
    for (size_t cell = 0; cell < cells; ++cell) {
      const double f = kernel[2 * cell] * norm;
      grid[2 * cell] *= f;
      grid[2 * cell + 1] *= f;
    }
    for (int a = 0; a < dims; ++a) fft_axis(grid, dims, len, a, m_nodes, fft, true, line);
  }

  // Interpolate the potentials back to the points; R_i and each point's share of Z.
  double z = 0.0;
  for (int i = 0; i < n; ++i) {
    const float* yi = Y + static_cast<size_t>(i) * dims;
    double yc[3], r2 = 0.0;
    for (int a = 0; a < dims; ++a) {
      yc[a] = static_cast<double>(yi[a]) - g.center[a];
      r2 += yc[a] * yc[a];
    }
    const int nodes = point_nodes(g, yi, offset, weight);
    double phi[6] = {0, 0, 0, 0, 0, 0};
    for (int c = 0; c < packed; ++c) {
      const double* grid = grids.data() + 2 * c * cells;
      double pa = 0.0, pb = 0.0;
      for (int m = 0; m < nodes; ++m) {
        pa += weight[m] * grid[2 * offset[m]];
        pb += weight[m] * grid[2 * offset[m] + 1];
      }
      phi[2 * c] = pa;
      phi[2 * c + 1] = pb;
    }
    // sum_j q_ij^2 (y_i - y_j) = y_i phi_1 - phi_y;  sum_j q_ij = sum_j q_ij^2 (1 + |y_i - y_j|^2)
    double dot = 0.0;
    for (int a = 0; a < dims; ++a) {
      rep[static_cast<size_t>(i) * dims + a] = static_cast<float>(yc[a] * phi[0] - phi[1 + a]);
      dot += yc[a] * phi[1 + a];
    }
    z += (1.0 + r2) * phi[0] - 2.0 * dot + phi[dims + 1] - 1.0;  // - 1: the j = i term
  }
  if (g.near_radius > 0) z += dims == 2 ? near_field<2>(Y, n, g, rep) : near_field<3>(Y, n, g, rep);
  return z;
}

double tsne_kl(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y, int n,
               int dims, double z) {
  double kl = 0.0, p_sum = 0.0;
  for (int i = 0; i < n; ++i) {
    const float* yi = Y + static_cast<size_t>(i) * dims;
    for (int32_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
      const double p = static_cast<double>(val[e]);
      if (p <= 0) continue;
      const float* yj = Y + static_cast<size_t>(col[e]) * dims;
      double r2 = 0.0;
      for (int a = 0; a < dims; ++a) {
        const double diff = static_cast<double>(yi[a]) - static_cast<double>(yj[a]);
        r2 += diff * diff;
      }
      kl += p * (std::log(p) + std::log1p(r2));  // log(p / q_unnorm)
      p_sum += p;
    }
  }
  return kl + p_sum * std::log(z);
}

void tsne_update(float* Y, const float* attr, const float* rep, double z, size_t count,
                 float exaggeration, float momentum, float learning_rate, float min_gain,
                 float* gains, float* update) {
  const double inv_z = 1.0 / z;
  for (size_t e = 0; e < count; ++e) {
    const double grad =
        4.0 * (static_cast<double>(exaggeration) * attr[e] - static_cast<double>(rep[e]) * inv_z);
    const double u = static_cast<double>(update[e]);
    float gain = gains[e];
    gain = (u * grad < 0.0) ? gain + 0.2f : gain * 0.8f;
    gain = std::max(gain, min_gain);
    gains[e] = gain;
    const float new_update = static_cast<float>(static_cast<double>(momentum) * u -
                                                static_cast<double>(learning_rate) * gain * grad);
    update[e] = new_update;
    Y[e] += new_update;
  }
}

}  // namespace latentkit::ref
