// tsne: t-SNE of the rows of a CSV or of the images of an IDX file (MNIST / Fashion-MNIST,
// latentkit/io/idx.h) (latentkit::run_tsne, host/src/families/tsne/tsne.cpp) into 2-D or 3-D.
// Flags only: the pipeline (checks, reading, run, files) is latentkit::run_tsne_app
// (host/src/pipelines/tsne_app.cpp), which writes DIR/embedding.csv and DIR/summary.json
// (schema 1, latentkit/io/summary.h: results.tsne). Exit codes: 0 ok; 1 bad input
// data or files; 2 bad flags or --device cuda without a GPU; 3 a runtime failure (CUDA error, out
// of memory).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "latentkit/pipelines/app.h"
#include "latentkit/pipelines/tsne_app.h"

int main(int argc, char** argv) {
  using namespace latentkit;
  TsneAppOptions app_opt;
  TsneOptions& opt = app_opt.tsne;
  DeviceFlag device;
  CLI::App app{
      "tsne: t-SNE of the rows of a CSV (or the images of an IDX file) into 2-D or 3-D (exact\n"
      "O(N^2) or FFT-accelerated O(N) repulsion; affinities from all pairs for N <= 1000, else\n"
      "from the 3*perplexity nearest neighbours). Optimiser as scikit-learn: early exaggeration\n"
      "12 for 250 iterations, momentum 0.5 then 0.8, gains, learning rate max(N/12/4, 50). Writes\n"
      "DIR/embedding.csv (y1..yD and a label column when labels are given) and DIR/summary.json\n"
      "(results.tsne: KL every 50 iterations, parameters; timings_s: per-stage times)."};
  app.get_formatter()->column_width(34);
  auto* input_opt =
      app.add_option("--input", app_opt.input, "CSV of N x D numbers (optional header line)");
  auto* idx_opt = app.add_option("--idx", app_opt.idx_path,
                                 "IDX images (images-idx3-ubyte, plain or .gz): pixels / 255,\n"
                                 "each image flattened to rows*cols columns");
  input_opt->excludes(idx_opt);
  app.add_option("--labels", app_opt.labels_path,
                 "one integer label per row, copied to the output: an IDX label file\n"
                 "(labels-idx1-ubyte, plain or .gz: recognised by its first bytes) or a\n"
                 "one-column CSV");
  app.add_flag("--label-column", app_opt.label_column,
               "the input's last column is an integer label (not embedded; copied to the output)");
  app.add_option("--limit", app_opt.limit,
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
  app.add_option("--out", app_opt.out_dir, "output directory")->capture_default_str();
  return run_app("tsne", app, argc, argv, [&] {
    app_opt.progress_tty = ::isatty(STDERR_FILENO);
    run_tsne_app(
        app_opt, [&] { return device.select(std::cerr); }, std::cerr);
  });
}
