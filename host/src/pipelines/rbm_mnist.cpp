// The rbm_mnist pipeline (see latentkit/pipelines/rbm_mnist.h).
//
// Noise bookkeeping (every draw is Philox keyed by --seed, see latentkit/ref/rbm_ref.h):
//   training half-steps     offsets 0, 1, 2, ... (the Rbm's counter, saved in checkpoints)
//   per-epoch metrics       pseudo-likelihood: RbmScore offset 1000*epoch + chunk;
//                           reconstruction: offsets kEvalOffset + 64*epoch + 2*chunk
//   sample grids            offsets from kSampleOffset (2 per Gibbs step)
//   inpainting              offsets from kInpaintOffset + side * 2^24 (2 per Gibbs step)
// Offsets >= 2^31 are never reached by training (that would take 2^31 half-steps).
#include "latentkit/pipelines/rbm_mnist.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/io/idx.h"
#include "latentkit/io/io.h"
#include "latentkit/io/png.h"

namespace latentkit {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kEvalOffset = 0x80000000u;
constexpr uint32_t kSampleOffset = 0xC0000000u;
constexpr uint32_t kInpaintOffset = 0xD0000000u;
constexpr uint32_t kInpaintSideStride = 1u << 24;  // 8M Gibbs steps per side at most
// The pixel shown for removed pixels in the "masked" column of the inpainting grids: mid-gray,
// so the hole is visible against both the black background and white garments.
constexpr float kMaskedShade = 0.5f;
// Test images shown per inpainting grid (one per grid row: original, masked, filled).
constexpr int kInpaintShown = 8;
// Filters shown in filters.png (a 10 x 10 grid at most) and tiles per grid row.
constexpr int kFiltersShown = 100;
constexpr int kFilterGridCols = 10;
// One pixel of black between tiles.
constexpr int kGridPad = 1;
// Threshold of --binarize threshold (pixels in [0, 1]).
constexpr float kBinarizeThreshold = 0.5f;

// The first existing file among the naming schemes of MNIST-format data sets:
// "<set>-images-idx3-ubyte[.gz]" (LeCun's site, Fashion-MNIST, the Debian package) and
// "<set>-images.idx3-ubyte" (common re-distributions).
std::string find_idx_file(const std::string& dir, const std::string& set, const std::string& kind,
                          int dims) {
  const std::string a = set + "-" + kind + "-idx" + std::to_string(dims) + "-ubyte";
  const std::string b = set + "-" + kind + ".idx" + std::to_string(dims) + "-ubyte";
  for (const std::string& name : {a + ".gz", a, b + ".gz", b}) {
    const std::string path = dir + "/" + name;
    if (std::filesystem::is_regular_file(path)) return path;
  }
  throw InputError("no " + set + " " + kind + " in '" + dir + "' (looked for " + a + "[.gz] and " +
                   b + "[.gz]): install the Debian package dataset-fashion-mnist " +
                   "(scripts/setup.sh) or pass --data DIR with MNIST-format files");
}

void binarize_in_place(std::vector<float>& x, Binarize how, uint64_t seed, uint32_t offset) {
  if (how == Binarize::None) return;
  for (size_t i = 0; i < x.size(); ++i) {
    if (how == Binarize::Threshold)
      x[i] = x[i] >= kBinarizeThreshold ? 1.f : 0.f;
    else
      x[i] = philox_uniform(seed, RngStream::RbmData, offset, i) < x[i] ? 1.f : 0.f;
  }
}

struct EpochMetrics {
  int epoch = 0;
  double pseudo_likelihood = 0.0;
  double reconstruction_error = 0.0;
  double seconds = 0.0;
};

nlohmann::json history_json(const std::vector<EpochMetrics>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& e : h)
    a.push_back({{"epoch", e.epoch},
                 {"pseudo_likelihood", e.pseudo_likelihood},
                 {"reconstruction_error", e.reconstruction_error},
                 {"seconds", e.seconds}});
  return a;
}

std::vector<EpochMetrics> history_from_json(const nlohmann::json& a) {
  std::vector<EpochMetrics> h;
  for (auto& e : a)
    h.push_back({e.at("epoch").get<int>(), e.at("pseudo_likelihood").get<double>(),
                 e.at("reconstruction_error").get<double>(), e.at("seconds").get<double>()});
  return h;
}

void save_checkpoint(const std::string& path, const nlohmann::json& identity, int epoch,
                     const std::vector<EpochMetrics>& history, const RbmState& st) {
  ModelFile f;
  f.header = {{"kind", "rbm_mnist-checkpoint"},
              {"run", identity},
              {"epoch", epoch},
              {"half_steps", st.half_steps},
              {"history", history_json(history)}};
  f.sections = {{"W", st.W},         {"b", st.b},         {"c", st.c},          {"vel_W", st.vel_W},
                {"vel_b", st.vel_b}, {"vel_c", st.vel_c}, {"chains", st.chains}};
  write_model_file(path, f);
}

void print_progress(std::ostream& log, const EpochMetrics& m, int epochs, double elapsed,
                    bool tty) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "epoch %4d/%d  pseudo-likelihood %.3f  reconstruction error %.5f  epoch %.2f s  "
                "elapsed %.1f s",
                m.epoch, epochs, m.pseudo_likelihood, m.reconstruction_error, m.seconds, elapsed);
  write_progress_line(log, buf, m.epoch == epochs, tty);
}

// Which pixels of a rows x cols image stay known when `count` rows/columns go from `side`.
bool pixel_removed(const std::string& side, int y, int x, int rows, int cols, int count) {
  if (side == "top") return y < count;
  if (side == "bottom") return y >= rows - count;
  if (side == "left") return x < count;
  return x >= cols - count;  // right
}

// Every file rbm_mnist writes in --out: a later run removes those it does not write itself.
const std::vector<std::string> kOutputs = {
    "filters.png",          "samples_step1.png", "samples_step10.png", "samples_step100.png",
    "samples_step1000.png", "inpaint_top.png",   "inpaint_bottom.png", "inpaint_left.png",
    "inpaint_right.png",    "metrics.csv",       "model.lkm",          "summary.json",
    "checkpoint.lkm"};
}  // namespace

RbmMnistResult run_rbm_mnist(const RbmMnistOptions& opt, Backend& backend, std::ostream& log) {
  RunSummary summary("rbm_mnist", backend, opt.train.seed);
  const auto t_start = Clock::now();

  // ---- check what can be checked before any work or output ----
  LK_FLAG_CHECK(opt.hidden > 0, "--hidden must be positive, got " << opt.hidden);
  validate(opt.train);
  LK_FLAG_CHECK(opt.epochs >= 0, "--epochs must be >= 0, got " << opt.epochs);
  LK_FLAG_CHECK(opt.limit == -1 || opt.limit >= 1,
                "--limit must be >= 1 (or -1: all), got " << opt.limit);
  LK_FLAG_CHECK(opt.test_limit == -1 || opt.test_limit >= 1,
                "--test-limit must be >= 1 (or -1: all), got " << opt.test_limit);
  LK_FLAG_CHECK(opt.eval_limit == -1 || opt.eval_limit >= 1,
                "--eval-limit must be >= 1 (or -1: all), got " << opt.eval_limit);
  // Each side's chains own 2^24 Philox offsets, two per step (see the top of this file).
  LK_FLAG_CHECK(opt.inpaint_steps >= 1 && opt.inpaint_steps <= 1000000,
                "--inpaint-steps must be in [1, 1000000], got " << opt.inpaint_steps);
  LK_FLAG_CHECK(opt.inpaint_rows >= 1, "--inpaint-rows must be >= 1, got " << opt.inpaint_rows);
  LK_FLAG_CHECK(opt.n_samples >= 1, "--n-samples must be >= 1, got " << opt.n_samples);
  LK_FLAG_CHECK(opt.sample_steps >= 1, "--sample-steps must be >= 1, got " << opt.sample_steps);
  LK_FLAG_CHECK(opt.checkpoint_every >= 0,
                "--checkpoint-every must be >= 0, got " << opt.checkpoint_every);
  LK_INPUT_CHECK(std::filesystem::is_directory(opt.data_dir),
                 "data directory '" << opt.data_dir << "' does not exist: install the Debian "
                                    << "package dataset-fashion-mnist (scripts/setup.sh) or pass "
                                    << "--data DIR with MNIST-format IDX files");
  OutputDir out(opt.out_dir, kOutputs);  // locked and writable before any work
  const std::string ckpt_path = out.live_path("checkpoint.lkm");
  LK_INPUT_CHECK(
      !opt.resume || std::filesystem::exists(ckpt_path),
      "--resume: no checkpoint at '" << ckpt_path << "'; run with --checkpoint-every first");
  if (opt.resume || opt.checkpoint_every > 0) out.keep("checkpoint.lkm");

  // ---- data ----
  auto t0 = Clock::now();
  IdxImages train = read_idx_images(find_idx_file(opt.data_dir, "train", "images", 3), opt.limit);
  IdxImages test =
      read_idx_images(find_idx_file(opt.data_dir, "t10k", "images", 3), opt.test_limit);
  LK_INPUT_CHECK(train.n >= 1 && test.n >= 1, "'" << opt.data_dir << "' holds no images");
  LK_INPUT_CHECK(train.rows == test.rows && train.cols == test.cols,
                 "training images are " << train.rows << "x" << train.cols << " but test images "
                                        << test.rows << "x" << test.cols);
  const int rows = train.rows, cols = train.cols, nv = rows * cols;
  LK_INPUT_CHECK(opt.inpaint_rows >= 1 && opt.inpaint_rows < std::min(rows, cols),
                 "--inpaint-rows must be in [1, " << std::min(rows, cols) - 1 << "] for " << rows
                                                  << "x" << cols << " images, got "
                                                  << opt.inpaint_rows);
  // A minibatch larger than the data is the whole data (as scikit-learn's BernoulliRBM and a
  // PyTorch DataLoader take it): clamped, said on the log, and recorded as the batch used, so
  // that no chain or buffer is allocated for rows that do not exist.
  RbmTrainConfig tc = opt.train;
  if (tc.batch > train.n) {
    log << "note: --batch " << tc.batch << " is more than the " << train.n
        << " training images: training with batch " << train.n << "\n";
    tc.batch = train.n;
  }
  const uint64_t data_fnv1a = data_fingerprint(train.pixels);
  binarize_in_place(train.pixels, opt.binarize, opt.train.seed, 0);
  binarize_in_place(test.pixels, opt.binarize, opt.train.seed, 1);
  const int n = train.n;
  const int n_eval =
      static_cast<int>(opt.eval_limit < 0 ? n : std::min<long long>(n, opt.eval_limit));
  log << "data: " << n << " training and " << test.n << " test images of " << rows << "x" << cols
      << " from " << opt.data_dir << " (binarize " << enum_name(opt.binarize) << ")\n";
  summary.time("data", seconds_since(t0));
  const std::string dir = out.staging();  // outputs move into --out together at out.commit()

  // ---- model and training ----
  Rbm rbm(backend, nv, opt.hidden, tc);
  const nlohmann::json identity = {{"hidden", opt.hidden},
                                   {"nv", nv},
                                   {"batch", tc.batch},
                                   {"k", tc.k},
                                   {"pcd", tc.pcd},
                                   {"lr", float_as_decimal(tc.update.lr)},
                                   {"momentum", float_as_decimal(tc.update.momentum)},
                                   {"weight_decay", float_as_decimal(tc.update.weight_decay)},
                                   {"seed", tc.seed},
                                   {"n_train", n},
                                   {"data_fnv1a", data_fnv1a},  // the images, not just their path
                                   {"binarize", enum_name(opt.binarize)}};
  std::vector<EpochMetrics> history;
  int epoch = 0;
  if (opt.resume) {
    const ModelFile f =
        read_checkpoint(ckpt_path, "rbm_mnist-checkpoint", "an rbm_mnist checkpoint", identity,
                        "--epochs and the output flags");
    RbmState st;
    st.nv = nv;
    st.nh = opt.hidden;
    st.W = f.section("W");
    st.b = f.section("b");
    st.c = f.section("c");
    st.vel_W = f.section("vel_W");
    st.vel_b = f.section("vel_b");
    st.vel_c = f.section("vel_c");
    st.chains = f.section("chains");
    try {
      st.half_steps = f.header.at("half_steps").get<uint32_t>();
      epoch = f.header.at("epoch").get<int>();
      history = history_from_json(f.header.at("history"));
    } catch (const nlohmann::json::exception& e) {
      throw InputError("checkpoint '" + ckpt_path + "' is damaged (" + e.what() +
                       "): delete it and run without --resume");
    }
    rbm.load_state(st);
    LK_INPUT_CHECK(epoch <= opt.epochs,
                   "checkpoint is at epoch " << epoch << ", beyond --epochs " << opt.epochs);
    log << "resumed from " << ckpt_path << " at epoch " << epoch << "\n";
  }
  t0 = Clock::now();
  const Array<float> x_dev = backend.upload(train.pixels);
  Array<int32_t> perm = backend.alloc_int(n);
  Array<float> batch_buf = backend.alloc(static_cast<size_t>(tc.batch) * nv);
  const int batches = (n + tc.batch - 1) / tc.batch;
  log << "training: " << (tc.pcd ? "PCD-" : "CD-") << tc.k << ", " << nv << " visible x "
      << opt.hidden << " hidden, " << opt.epochs << " epochs of " << batches
      << " minibatches (batch " << tc.batch << ", lr " << float_as_decimal(tc.update.lr)
      << ", momentum " << float_as_decimal(tc.update.momentum) << ", weight decay "
      << float_as_decimal(tc.update.weight_decay) << ") on " << backend.description() << "\n";
  const auto t_train = Clock::now();
  while (epoch < opt.epochs) {
    const auto t_epoch = Clock::now();
    backend.shuffle_permutation(perm.data(), n, tc.seed, static_cast<uint32_t>(epoch));
    for (int start = 0; start < n; start += tc.batch) {
      const int m = std::min(tc.batch, n - start);
      backend.gather_rows(x_dev.data(), perm.data() + start, m, nv, batch_buf.data());
      rbm.train_minibatch(batch_buf.data(), m);
    }
    ++epoch;
    EpochMetrics em;
    em.epoch = epoch;
    const std::vector<double> pl =
        rbm.pseudo_likelihood(x_dev.data(), n_eval, 1000u * static_cast<uint32_t>(epoch));
    double pl_sum = 0.0;
    for (double v : pl) pl_sum += v;
    em.pseudo_likelihood = pl_sum / n_eval;
    em.reconstruction_error =
        rbm.reconstruction_error(x_dev.data(), n_eval, kEvalOffset + 64u * epoch);
    em.seconds = seconds_since(t_epoch);
    LK_INPUT_CHECK(std::isfinite(em.pseudo_likelihood) && std::isfinite(em.reconstruction_error),
                   "training diverged at epoch " << epoch << " (pseudo-likelihood "
                                                 << em.pseudo_likelihood << "): lower --lr");
    history.push_back(em);
    print_progress(log, em, opt.epochs, seconds_since(t_train), opt.progress_tty);
    if (opt.checkpoint_every > 0 && epoch % opt.checkpoint_every == 0)
      save_checkpoint(ckpt_path, identity, epoch, history, rbm.state());
  }
  {
    // Per epoch: the figures (their wall times stay in metrics.csv and the checkpoint).
    StageResult train;
    nlohmann::json epochs = nlohmann::json::array(), pl = epochs, re = epochs;
    for (const auto& e : history) {
      epochs.push_back({{"epoch", e.epoch},
                        {"pseudo_likelihood", e.pseudo_likelihood},
                        {"reconstruction_error", e.reconstruction_error}});
      pl.push_back(e.pseudo_likelihood);
      re.push_back(e.reconstruction_error);
    }
    train.result = {{"epochs", epochs}, {"pseudo_likelihood", pl}, {"reconstruction_error", re}};
    train.seconds = seconds_since(t0);
    summary.add("train", train);
  }

  // ---- filters ----
  t0 = Clock::now();
  const RbmState st = rbm.state();
  {
    // Filter j is column j of W [nv, nh], shown as a rows x cols image.
    const int shown = std::min(opt.hidden, kFiltersShown);
    std::vector<float> tiles(static_cast<size_t>(shown) * nv);
    for (int j = 0; j < shown; ++j)
      for (int i = 0; i < nv; ++i)
        tiles[static_cast<size_t>(j) * nv + i] = st.W[static_cast<size_t>(i) * opt.hidden + j];
    write_png(dir + "/filters.png",
              image_grid(tiles.data(), shown, rows, cols, kFilterGridCols, kGridPad, true));
  }

  // ---- samples after 1, 10, 100, 1000 Gibbs steps from --sample-init states ----
  nlohmann::json sample_files = nlohmann::json::array();
  {
    const int chains = opt.n_samples;
    std::vector<float> init(static_cast<size_t>(chains) * nv);
    for (size_t i = 0; i < init.size(); ++i) {
      const double u = philox_uniform(tc.seed, RngStream::RbmChainInit, 0, i);
      switch (opt.sample_init) {
        case SampleInit::Random:
          init[i] = u < 0.5 ? 1.f : 0.f;
          break;  // Bernoulli(1/2)
        case SampleInit::Noise:
          init[i] = static_cast<float>(u);
          break;                // uniform grey
        case SampleInit::Data:  // test image (i / nv) mod n_test
          init[i] = test.pixels[((i / nv) % test.n) * nv + i % nv];
          break;
      }
    }
    Array<float> v = backend.upload(init);
    Array<float> p = backend.alloc(init.size());
    const int grid_cols = std::max(1, static_cast<int>(std::lround(std::sqrt(chains))));
    int done = 0;
    for (int target : {1, 10, 100, 1000}) {
      if (target > opt.sample_steps) break;
      rbm.gibbs(v.data(), chains, target - done, kSampleOffset + 2u * done, nullptr, nullptr,
                p.data());
      done = target;
      const std::vector<float> probs = backend.download(p.data(), p.size());
      const std::string name = "samples_step" + std::to_string(target) + ".png";
      write_png(dir + "/" + name,
                image_grid(probs.data(), chains, rows, cols, grid_cols, kGridPad, false));
      sample_files.push_back(name);
    }
  }
  summary.time("sample", seconds_since(t0));

  // ---- inpainting on the test set, with the mean training image as the baseline ----
  t0 = Clock::now();
  std::vector<double> mean_image(nv, 0.0);
  for (int r = 0; r < n; ++r)
    for (int i = 0; i < nv; ++i) mean_image[i] += train.pixels[static_cast<size_t>(r) * nv + i];
  for (double& m : mean_image) m /= n;
  nlohmann::json inpainting = nlohmann::json::object();
  const int nt = test.n;
  const size_t test_size = static_cast<size_t>(nt) * nv;
  const Array<float> test_dev = backend.upload(test.pixels);
  const std::array<std::string, 4> sides = {"top", "bottom", "left", "right"};
  for (size_t s = 0; s < sides.size(); ++s) {
    const std::string& side = sides[s];
    std::vector<float> mask(test_size), start(test_size);
    for (int r = 0; r < nt; ++r) {
      for (int y = 0; y < rows; ++y) {
        for (int x = 0; x < cols; ++x) {
          const size_t i = static_cast<size_t>(r) * nv + y * cols + x;
          const bool removed = pixel_removed(side, y, x, rows, cols, opt.inpaint_rows);
          mask[i] = removed ? 0.f : 1.f;
          start[i] = removed ? 0.f : test.pixels[i];  // removed pixels start black
        }
      }
    }
    Array<float> mask_dev = backend.upload(mask);
    Array<float> v = backend.upload(start);
    Array<float> p = backend.alloc(test_size);
    rbm.gibbs(v.data(), nt, opt.inpaint_steps,
              kInpaintOffset + static_cast<uint32_t>(s) * kInpaintSideStride, mask_dev.data(),
              test_dev.data(), p.data());
    const std::vector<float> filled = backend.download(p.data(), test_size);
    double err = 0.0, base = 0.0;
    long long missing = 0;
    for (size_t i = 0; i < test_size; ++i) {
      if (mask[i] != 0.f) continue;
      const double truth = test.pixels[i];
      err += (filled[i] - truth) * (filled[i] - truth);
      base += (mean_image[i % nv] - truth) * (mean_image[i % nv] - truth);
      ++missing;
    }
    inpainting[side] = {{"error", err / missing},
                        {"baseline_error", base / missing},
                        {"removed", opt.inpaint_rows},
                        {"images", nt},
                        {"gibbs_steps", opt.inpaint_steps}};
    log << "inpainting " << side << " " << opt.inpaint_rows << ": mean squared error "
        << err / missing << " on the missing pixels (mean-image baseline " << base / missing
        << ")\n";
    const int shown = std::min(nt, kInpaintShown);
    std::vector<float> tiles;
    for (int r = 0; r < shown; ++r) {
      const size_t o = static_cast<size_t>(r) * nv;
      tiles.insert(tiles.end(), test.pixels.begin() + o, test.pixels.begin() + o + nv);
      for (int i = 0; i < nv; ++i)
        tiles.push_back(mask[o + i] != 0.f ? test.pixels[o + i] : kMaskedShade);
      tiles.insert(tiles.end(), filled.begin() + o, filled.begin() + o + nv);
    }
    write_png(dir + "/inpaint_" + side + ".png",
              image_grid(tiles.data(), 3 * shown, rows, cols, 3, kGridPad, false));
  }
  {
    StageResult stage;
    stage.result = inpainting;
    stage.seconds = seconds_since(t0);
    summary.add("inpainting", stage);
  }

  // ---- outputs ----
  t0 = Clock::now();
  {
    std::vector<std::vector<double>> c(4);
    for (auto& e : history) {
      c[0].push_back(e.epoch);
      c[1].push_back(e.pseudo_likelihood);
      c[2].push_back(e.reconstruction_error);
      c[3].push_back(e.seconds);
    }
    write_csv(dir + "/metrics.csv",
              {"epoch", "pseudo_likelihood", "reconstruction_error", "seconds"}, c);
  }
  {
    ModelFile f;
    f.header = {{"kind", "rbm_mnist-model"},
                {"run", identity},
                {"epochs", epoch},
                {"rows", rows},
                {"cols", cols}};
    f.sections = {{"W", st.W}, {"b", st.b}, {"c", st.c}};
    write_model_file(dir + "/model.lkm", f);
  }
  summary.time("write", seconds_since(t0));
  summary.time("total", seconds_since(t_start));

  summary.config() = {{"data", opt.data_dir},
                      {"n_train", n},
                      {"n_test", nt},
                      {"n_eval", n_eval},
                      {"image", {rows, cols}},
                      {"binarize", enum_name(opt.binarize)},
                      {"hidden", opt.hidden},
                      {"epochs", opt.epochs},
                      {"batch", tc.batch},
                      {"k", tc.k},
                      {"method", tc.pcd ? "pcd" : "cd"},
                      {"lr", float_as_decimal(tc.update.lr)},
                      {"momentum", float_as_decimal(tc.update.momentum)},
                      {"weight_decay", float_as_decimal(tc.update.weight_decay)},
                      {"inpaint_rows", opt.inpaint_rows},
                      {"inpaint_steps", opt.inpaint_steps},
                      {"n_samples", opt.n_samples},
                      {"sample_steps", opt.sample_steps},
                      {"sample_init", enum_name(opt.sample_init)},
                      {"resume", opt.resume},
                      {"checkpoint_every", opt.checkpoint_every}};
  for (const char* f : {"metrics.csv", "filters.png", "model.lkm"}) summary.output(f);
  for (auto& f : sample_files) summary.output(f.get<std::string>());
  for (auto& side : sides) summary.output("inpaint_" + side + ".png");
  summary.write(dir + "/summary.json");
  out.commit();
  log << "wrote " << opt.out_dir << "/{metrics.csv, filters.png, samples_step*.png, inpaint_*.png, "
      << "model.lkm, summary.json}\n";

  RbmMnistResult result;
  result.epochs_trained = epoch;
  if (!history.empty()) {
    result.final_pseudo_likelihood = history.back().pseudo_likelihood;
    result.final_reconstruction_error = history.back().reconstruction_error;
  }
  return result;
}

}  // namespace latentkit
