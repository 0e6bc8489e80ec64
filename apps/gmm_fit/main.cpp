// gmm_fit: fit Gaussian mixtures for K = k-min..k-max (n-init restarts each, all in one batch),
// print a table and the K chosen by BIC, write DIR/summary.json (schema 1, latentkit/io/summary.h:
// results.gmm) and DIR/labels.csv (best model).
// Flags only: the pipeline (checks, fit, table, files) is latentkit::run_gmm_fit
// (host/src/pipelines/gmm_fit.cpp).
// Exit codes: 0 ok; 1 bad input data or files; 2 bad flags or --device cuda without a GPU;
// 3 a runtime failure (CUDA error, a covariance that is not positive definite).
// Tests: tests/test_gmm_fit.cpp.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "latentkit/pipelines/app.h"
#include "latentkit/pipelines/gmm_fit.h"

int main(int argc, char** argv) {
  using namespace latentkit;
  GmmFitOptions opt;
  GmmConfig& cfg = opt.cfg;
  DeviceFlag device;
  CLI::App app{
      "gmm_fit: fit Gaussian mixtures (scikit-learn's GaussianMixture semantics) to an N x D CSV\n"
      "for every K in [k-min, k-max] with n-init restarts each, all models in one batched run;\n"
      "prints K, mean log-likelihood, BIC, AIC, iterations and convergence, and the K of lowest\n"
      "BIC; writes DIR/summary.json (results.gmm: every K's parameters and scores, best_k_bic,\n"
      "best_k_aic) and DIR/labels.csv (the most responsible component of each row under the\n"
      "best-BIC model)."};
  app.get_formatter()->column_width(30);
  app.add_option("--input", opt.input, "CSV of N x D numbers (optional header), D <= 32")
      ->required();
  app.add_option("--k-min", opt.k_min, "smallest number of components")->capture_default_str();
  app.add_option("--k-max", opt.k_max, "largest number of components")->capture_default_str();
  add_enum_option(app, "--covariance", cfg.covariance, "full | diag");
  app.add_option("--n-init", opt.n_init, "restarts per K (the best lower bound is kept)")
      ->capture_default_str();
  add_enum_option(app, "--init", cfg.init, "kmeans (k-means++ then Lloyd) | random");
  app.add_option("--max-iter", cfg.max_iter, "EM iterations at most")->capture_default_str();
  app.add_option("--tol", cfg.tol, "convergence: change of mean log-likelihood below this")
      ->capture_default_str();
  app.add_option("--reg-covar", cfg.reg_covar, "added to every covariance diagonal")
      ->capture_default_str();
  add_seed_option(app, cfg.seed, "seed of the initialisation");
  app.add_option("--out", opt.out_dir, "output directory")->capture_default_str();
  device.add_to(app);
  return run_app("gmm_fit", app, argc, argv, [&] {
    opt.progress_tty = ::isatty(STDERR_FILENO);
    run_gmm_fit(
        opt, [&] { return device.select(std::cerr); }, std::cout, std::cerr);
  });
}
