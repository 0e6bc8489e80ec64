// tsne: t-SNE of the rows of a CSV or of the images of an IDX file (MNIST / Fashion-MNIST,
// latentkit/io/idx.h) (latentkit::run_tsne, host/src/families/tsne/tsne.cpp) into 2-D or 3-D.
// Thin: parses flags, reads the data, picks the device, runs, writes DIR/embedding.csv and
// DIR/summary.json (schema 1, latentkit/io/summary.h: results.tsne). Exit codes: 0 ok; 1 bad input
// data or files; 2 bad flags or --device cuda without a GPU; 3 a runtime failure (CUDA error, out
// of memory).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/io/idx.h"
#include "latentkit/io/io.h"
#include "latentkit/families/tsne.h"

namespace {

// True when `path` starts like an IDX label file: the gzip magic 1f 8b (every gzip file is taken
// for IDX: a CSV of labels is never compressed here) or the IDX uint8 magic 00 00 08 01. A file
// that cannot be opened is left to the CSV reader, which reports it.
bool looks_like_idx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[4] = {0, 0, 0, 0};
  if (!in.read(reinterpret_cast<char*>(head), 4)) return false;
  if (head[0] == 0x1f && head[1] == 0x8b) return true;
  return head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] == 0x01;
}

// One integer label per row: an IDX label file (labels-idx1-ubyte[.gz], see looks_like_idx) or a
// one-column CSV (header allowed).
std::vector<int> read_labels(const std::string& path) {
  if (looks_like_idx(path)) {
    const std::vector<int32_t> l = latentkit::read_idx_labels(path);
    return std::vector<int>(l.begin(), l.end());
  }
  const latentkit::Dataset l = latentkit::read_csv_matrix(path);
  LK_INPUT_CHECK(l.d == 1, "--labels '" << path << "' must have one column, it has " << l.d);
  std::vector<int> out(l.n);
  for (int i = 0; i < l.n; ++i) {
    const float v = l.x[i];
    LK_INPUT_CHECK(v == std::floor(v),
                   "--labels '" << path << "' row " << i + 1 << " is not an integer: " << v);
    out[i] = static_cast<int>(v);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace latentkit;
  TsneOptions opt;
  std::string input, idx_path, labels_path, out_dir = "tsne_out";
  DeviceFlag device;
  bool label_column = false;
  int limit = 0;
  CLI::App app{
      "tsne: t-SNE of the rows of a CSV (or the images of an IDX file) into 2-D or 3-D (exact\n"
      "O(N^2) or FFT-accelerated O(N) repulsion; affinities from all pairs for N <= 1000, else\n"
      "from the 3*perplexity nearest neighbours). Optimiser as scikit-learn: early exaggeration\n"
      "12 for 250 iterations, momentum 0.5 then 0.8, gains, learning rate max(N/12/4, 50). Writes\n"
      "DIR/embedding.csv (y1..yD and a label column when labels are given) and DIR/summary.json\n"
      "(results.tsne: KL every 50 iterations, parameters; timings_s: per-stage times)."};
  app.get_formatter()->column_width(34);
  auto* input_opt = app.add_option("--input", input, "CSV of N x D numbers (optional header line)");
  auto* idx_opt = app.add_option("--idx", idx_path,
                                 "IDX images (images-idx3-ubyte, plain or .gz): pixels / 255,\n"
                                 "each image flattened to rows*cols columns");
  input_opt->excludes(idx_opt);
  app.add_option("--labels", labels_path,
                 "one integer label per row, copied to the output: an IDX label file\n"
                 "(labels-idx1-ubyte, plain or .gz: recognised by its first bytes) or a\n"
                 "one-column CSV");
  app.add_flag("--label-column", label_column,
               "the input's last column is an integer label (not embedded; copied to the output)");
  app.add_option("--limit", limit,
                 "use only the first N rows / images (0: all); --labels then needs at least N")
      ->capture_default_str();
  app.add_option("--perplexity", opt.perplexity, "perplexity of the input affinities")
      ->capture_default_str();
  app.add_option("--iterations", opt.iterations, "gradient descent iterations")
      ->capture_default_str();
  app.add_option("--dims", opt.dims, "output dimension: 2 or 3")->capture_default_str();
  add_enum_option(app, "--method", opt.method,
                  "auto | exact | fft (auto: exact for N <= 1000, fft above)");
  add_enum_option(app, "--init", opt.init, "pca | random");
  app.add_option("--learning-rate", opt.learning_rate, "0: auto = max(N / 12 / 4, 50)")
      ->capture_default_str();
  app.add_option("--fft-grid", opt.fft.max_fft_size,
                 "largest FFT grid per dimension, a power of two (0: 1024 / 128 in 2-D / 3-D on\n"
                 "the GPU, 256 / 64 on the CPU; a finer grid is more accurate on wide embeddings)")
      ->capture_default_str();
  add_seed_option(app, opt.seed, "seed of the random initialisation");
  device.add_to(app);
  app.add_option("--out", out_dir, "output directory")->capture_default_str();
  return run_app("tsne", app, argc, argv, [&] {
    LK_FLAG_CHECK(limit >= 0, "--limit must be >= 0, got " << limit);
    LK_FLAG_CHECK(!(label_column && !labels_path.empty()),
                  "--labels and --label-column exclude each other");
    LK_FLAG_CHECK(!input.empty() || !idx_path.empty(),
                  "no data: give --input data.csv or --idx images-idx3-ubyte.gz");
    LK_FLAG_CHECK(!(label_column && !idx_path.empty()),
                  "--label-column is for CSV input; give IDX labels with --labels");
    LK_FLAG_CHECK(
        opt.fft.max_fft_size == 0 ||
            (opt.fft.max_fft_size >= 2 && (opt.fft.max_fft_size & (opt.fft.max_fft_size - 1)) == 0),
        "--fft-grid must be 0 (auto) or a power of two, got " << opt.fft.max_fft_size);
    // result.json: what older versions wrote; a rerun into their --out removes it.
    OutputDir out(out_dir, {"embedding.csv", "summary.json", "result.json"});  // locked, writable
    const auto t_read = std::chrono::steady_clock::now();
    Dataset data;
    if (!idx_path.empty()) {
      IdxImages images = read_idx_images(idx_path, limit > 0 ? limit : -1);
      data.n = images.n;
      data.d = images.rows * images.cols;
      data.x = std::move(images.pixels);
    } else {
      data = read_csv_matrix(input, limit > 0 ? limit : -1);  // stops reading at --limit
    }
    std::vector<int> labels;
    if (label_column) {
      LK_INPUT_CHECK(data.d >= 2, "--label-column needs at least 2 columns in '" << input << "'");
      const int d = data.d - 1;
      std::vector<float> x(static_cast<size_t>(data.n) * d);
      labels.resize(data.n);
      for (int i = 0; i < data.n; ++i) {
        for (int c = 0; c < d; ++c)
          x[static_cast<size_t>(i) * d + c] = data.x[static_cast<size_t>(i) * data.d + c];
        const float v = data.x[static_cast<size_t>(i) * data.d + d];
        LK_INPUT_CHECK(v == std::floor(v), "'" << input << "' row " << i + 1
                                               << ": the label column holds " << v
                                               << ", not an integer");
        labels[i] = static_cast<int>(v);
      }
      data.x.swap(x);
      data.d = d;
    } else if (!labels_path.empty()) {
      labels = read_labels(labels_path);
      // Without --limit one label per row; with it, labels for at least the rows used.
      if (limit > 0) {
        const int used = std::min(limit, data.n);
        LK_INPUT_CHECK(
            static_cast<int>(labels.size()) >= used,
            "--labels has " << labels.size() << " labels, --limit uses " << used << " rows");
        labels.resize(used);
      } else {
        LK_INPUT_CHECK(static_cast<int>(labels.size()) == data.n,
                       "--labels has " << labels.size() << " rows, the input " << data.n);
      }
    }
    if (limit > 0 && limit < data.n) {
      data.n = limit;
      data.x.resize(static_cast<size_t>(limit) * data.d);
      if (!labels.empty()) labels.resize(limit);
    }
    check_distance_scale(data.x, data.n, data.d, "'" + (idx_path.empty() ? input : idx_path) + "'",
                         "rescale the data");
    const double read_s = seconds_since(t_read);
    auto backend = device.select(std::cerr);
    std::cerr << "tsne: " << data.n << " rows x " << data.d << " -> " << opt.dims << "-D\n";
    const bool tty = ::isatty(STDERR_FILENO);
    opt.progress = [&](const TsneProgress& p) {
      if (!p.kl_reported && !(tty && p.iteration % 10 == 0)) return;
      char line[160];
      std::snprintf(line, sizeof line, "iteration %d/%d  %.1f s%s", p.iteration, p.iterations,
                    p.seconds, p.kl_reported ? "  KL " : "");
      std::string s = line;
      if (p.kl_reported) s += std::to_string(p.kl);
      write_progress_line(std::cerr, s, p.iteration == p.iterations, tty);
    };
    const TsneResult r = run_tsne(*backend, data.x, data.n, data.d, opt);

    std::vector<std::string> header;
    std::vector<std::vector<double>> cols(opt.dims, std::vector<double>(data.n));
    for (int a = 0; a < opt.dims; ++a) header.push_back("y" + std::to_string(a + 1));
    for (int i = 0; i < data.n; ++i)
      for (int a = 0; a < opt.dims; ++a)
        cols[a][i] = r.embedding[static_cast<size_t>(i) * opt.dims + a];
    if (!labels.empty()) {
      header.push_back("label");
      cols.emplace_back(labels.begin(), labels.end());
    }
    write_csv(out.path("embedding.csv"), header, cols);
    RunSummary summary("tsne", *backend, opt.seed);
    summary.config() = {{"input",
                         {{"path", idx_path.empty() ? input : idx_path},
                          {"format", idx_path.empty() ? "csv" : "idx"},
                          {"rows", data.n},
                          {"columns", data.d},
                          {"labels", !labels.empty()}}}};
    StageResult tsne;
    tsne.result = tsne_result_json(r, opt);
    tsne.result.erase("timings_s");  // wall times: timings_s.tsne*
    tsne.seconds = r.seconds_total;
    tsne.parts = {{"affinities", r.seconds_affinities},
                  {"init", r.seconds_init},
                  {"optimize", r.seconds_optimize}};
    tsne.outputs = {"embedding.csv"};
    summary.time("read", read_s);
    summary.add("tsne", tsne);
    summary.time("total", seconds_since(t_read));
    summary.write(out.path("summary.json"));
    out.commit();
    std::cerr << "tsne: KL " << r.kl << " (" << r.method << "), " << r.seconds_total << " s; wrote "
              << out_dir << "/embedding.csv, summary.json\n";
  });
}
