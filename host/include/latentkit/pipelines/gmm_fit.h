// The pipeline behind apps/gmm_fit (host/src/pipelines/gmm_fit.cpp): check the flags, lock --out,
// read the CSV, fit Gaussian mixtures for K = k_min..k_max (n_init restarts each, all in one
// batch), print the table and the K chosen by BIC and AIC, and write summary.json (schema 1,
// latentkit/io/summary.h: results.gmm) and labels.csv (the best-BIC model's most responsible
// component and log density of each row) atomically. The app only parses flags.
// Tests: tests/test_gmm_fit.cpp.
#pragma once
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "latentkit/core/backend.h"
#include "latentkit/families/gmm.h"

namespace latentkit {

struct GmmFitOptions {
  std::string input;
  std::string out_dir = "gmm_fit_out";
  int k_min = 5, k_max = 15, n_init = 1;
  GmmConfig cfg;
  bool progress_tty = false;  // progress lines overwrite themselves (stderr is a terminal)
};

// The checks that need only the flags (FlagError, exit 2), run before anything is read.
void check_gmm_fit_flags(const GmmFitOptions& opt);

// Runs the app: `select_backend` is called after --out is locked and the data read (so a bad file
// is reported before a GPU is initialised). The table goes to `out`, progress and the device line
// to `log`.
void run_gmm_fit(GmmFitOptions opt, const std::function<std::unique_ptr<Backend>()>& select_backend,
                 std::ostream& out, std::ostream& log);

}  // namespace latentkit
