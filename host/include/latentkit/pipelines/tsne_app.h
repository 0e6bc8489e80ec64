// The pipeline behind apps/tsne (host/src/pipelines/tsne_app.cpp): check the flags, lock --out,
// read a CSV (optionally with a label column) or the images of an IDX file and optional labels
// (IDX or one-column CSV), run latentkit::run_tsne, and write embedding.csv and summary.json
// (schema 1, latentkit/io/summary.h: results.tsne) atomically. The app only parses flags.
// Tests: tests/test_tsne_app.cpp.
#pragma once
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "latentkit/core/backend.h"
#include "latentkit/families/tsne.h"

namespace latentkit {

struct TsneAppOptions {
  std::string input;          // CSV of N x D numbers, or
  std::string idx_path;       // IDX images (pixels / 255)
  std::string labels_path;    // one label per row: IDX labels or a one-column CSV
  bool label_column = false;  // the CSV's last column is an integer label
  int limit = 0;              // only the first N rows / images (0: all)
  std::string out_dir = "tsne_out";
  TsneOptions tsne;
  bool progress_tty = false;  // progress lines overwrite themselves (stderr is a terminal)
};

// The checks that need only the flags (FlagError, exit 2), run before anything is read:
// the t-SNE settings (check_tsne_flags) and the input flags.
void check_tsne_app_flags(const TsneAppOptions& opt);

// Runs the app: `select_backend` is called after the data is read and checked. Progress and the
// report go to `log`.
void run_tsne_app(const TsneAppOptions& opt,
                  const std::function<std::unique_ptr<Backend>()>& select_backend,
                  std::ostream& log);

}  // namespace latentkit
