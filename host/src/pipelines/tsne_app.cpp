// The tsne app's pipeline (see latentkit/pipelines/tsne_app.h).
#include "latentkit/pipelines/tsne_app.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/io/idx.h"
#include "latentkit/io/io.h"
#include "latentkit/pipelines/app.h"

namespace latentkit {
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
    const std::vector<int32_t> l = read_idx_labels(path);
    return std::vector<int>(l.begin(), l.end());
  }
  const Dataset l = read_csv_matrix(path);
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

void check_tsne_app_flags(const TsneAppOptions& opt) {
  check_tsne_flags(opt.tsne);
  LK_FLAG_CHECK(opt.limit >= 0, "--limit must be >= 0, got " << opt.limit);
  LK_FLAG_CHECK(!(opt.label_column && !opt.labels_path.empty()),
                "--labels and --label-column exclude each other");
  LK_FLAG_CHECK(!opt.input.empty() || !opt.idx_path.empty(),
                "no data: give --input data.csv or --idx images-idx3-ubyte.gz");
  LK_FLAG_CHECK(!(opt.label_column && !opt.idx_path.empty()),
                "--label-column is for CSV input; give IDX labels with --labels");
  LK_FLAG_CHECK(opt.tsne.fft.max_fft_size == 0 ||
                    (opt.tsne.fft.max_fft_size >= 2 &&
                     (opt.tsne.fft.max_fft_size & (opt.tsne.fft.max_fft_size - 1)) == 0),
                "--fft-grid must be 0 (auto) or a power of two, got " << opt.tsne.fft.max_fft_size);
}

void run_tsne_app(const TsneAppOptions& opt,
                  const std::function<std::unique_ptr<Backend>()>& select_backend,
                  std::ostream& log) {
  check_tsne_app_flags(opt);
  // result.json: what older versions wrote; a rerun into their --out removes it.
  OutputDir out(opt.out_dir, {"embedding.csv", "summary.json", "result.json"});  // locked, writable
  const auto t_read = std::chrono::steady_clock::now();
  Dataset data;
  if (!opt.idx_path.empty()) {
    IdxImages images = read_idx_images(opt.idx_path, opt.limit > 0 ? opt.limit : -1);
    data.n = images.n;
    data.d = images.rows * images.cols;
    data.x = std::move(images.pixels);
  } else {
    data = read_csv_matrix(opt.input, opt.limit > 0 ? opt.limit : -1);  // stops reading at --limit
  }
  std::vector<int> labels;
  if (opt.label_column) {
    LK_INPUT_CHECK(data.d >= 2, "--label-column needs at least 2 columns in '" << opt.input << "'");
    const int d = data.d - 1;
    std::vector<float> x(static_cast<size_t>(data.n) * d);
    labels.resize(data.n);
    for (int i = 0; i < data.n; ++i) {
      for (int c = 0; c < d; ++c)
        x[static_cast<size_t>(i) * d + c] = data.x[static_cast<size_t>(i) * data.d + c];
      const float v = data.x[static_cast<size_t>(i) * data.d + d];
      LK_INPUT_CHECK(v == std::floor(v), "'" << opt.input << "' row " << i + 1
                                             << ": the label column holds " << v
                                             << ", not an integer");
      labels[i] = static_cast<int>(v);
    }
    data.x.swap(x);
    data.d = d;
  } else if (!opt.labels_path.empty()) {
    labels = read_labels(opt.labels_path);
    // Without --limit one label per row; with it, labels for at least the rows used.
    if (opt.limit > 0) {
      const int used = std::min(opt.limit, data.n);
      LK_INPUT_CHECK(
          static_cast<int>(labels.size()) >= used,
          "--labels has " << labels.size() << " labels, --limit uses " << used << " rows");
      labels.resize(used);
    } else {
      LK_INPUT_CHECK(static_cast<int>(labels.size()) == data.n,
                     "--labels has " << labels.size() << " rows, the input " << data.n);
    }
  }
  if (opt.limit > 0 && opt.limit < data.n) {
    data.n = opt.limit;
    data.x.resize(static_cast<size_t>(opt.limit) * data.d);
    if (!labels.empty()) labels.resize(opt.limit);
  }
  check_distance_scale(data.x, data.n, data.d,
                       "'" + (opt.idx_path.empty() ? opt.input : opt.idx_path) + "'",
                       "rescale the data");
  const double read_s = seconds_since(t_read);
  TsneOptions topt = opt.tsne;
  const std::unique_ptr<Backend> backend = select_backend();
  log << "tsne: " << data.n << " rows x " << data.d << " -> " << opt.tsne.dims << "-D\n";
  const bool tty = opt.progress_tty;
  topt.progress = [&](const TsneProgress& p) {
    if (!p.kl_reported && !(tty && p.iteration % 10 == 0)) return;
    char line[160];
    std::snprintf(line, sizeof line, "iteration %d/%d  %.1f s%s", p.iteration, p.iterations,
                  p.seconds, p.kl_reported ? "  KL " : "");
    std::string s = line;
    if (p.kl_reported) s += std::to_string(p.kl);
    write_progress_line(log, s, p.iteration == p.iterations, tty);
  };
  const TsneResult r = run_tsne(*backend, data.x, data.n, data.d, topt);

  std::vector<std::string> header;
  std::vector<std::vector<double>> cols(opt.tsne.dims, std::vector<double>(data.n));
  for (int a = 0; a < opt.tsne.dims; ++a) header.push_back("y" + std::to_string(a + 1));
  for (int i = 0; i < data.n; ++i)
    for (int a = 0; a < opt.tsne.dims; ++a)
      cols[a][i] = r.embedding[static_cast<size_t>(i) * opt.tsne.dims + a];
  if (!labels.empty()) {
    header.push_back("label");
    cols.emplace_back(labels.begin(), labels.end());
  }
  write_csv(out.path("embedding.csv"), header, cols);
  RunSummary summary("tsne", *backend, opt.tsne.seed);
  summary.config() = {{"input",
                       {{"path", opt.idx_path.empty() ? opt.input : opt.idx_path},
                        {"format", opt.idx_path.empty() ? "csv" : "idx"},
                        {"rows", data.n},
                        {"columns", data.d},
                        {"labels", !labels.empty()}}}};
  StageResult tsne;
  tsne.result = tsne_result_json(r, topt);
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
  log << "tsne: KL " << r.kl << " (" << r.method << "), " << r.seconds_total << " s; wrote "
      << opt.out_dir << "/embedding.csv, summary.json\n";
}

}  // namespace latentkit
