// gmm_fit: fit Gaussian mixtures for K = k-min..k-max (n-init restarts each, all in one batch),
// print a table and the K chosen by BIC, write DIR/summary.json (schema 1, latentkit/io/summary.h:
// results.gmm) and DIR/labels.csv (best model).
// Thin: parses flags, picks the device, calls latentkit::fit_gmm_select / gmm_score
// (host/src/families/gmm/gmm.cpp) and writes the files atomically.
// Exit codes: 0 ok; 1 bad input data or files; 2 bad flags or --device cuda without a GPU;
// 3 a runtime failure (CUDA error, a covariance that is not positive definite).
// Tests: tests/test_gmm_fit.cpp.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "latentkit/core/check.h"
#include "latentkit/families/gmm.h"
#include "latentkit/io/data.h"
#include "latentkit/io/io.h"
#include "latentkit/pipelines/app.h"

int main(int argc, char** argv) {
  using namespace latentkit;
  std::string input, out_dir = "gmm_fit_out";
  int k_min = 5, k_max = 15, n_init = 1;
  GmmConfig cfg;
  DeviceFlag device;
  CLI::App app{
      "gmm_fit: fit Gaussian mixtures (scikit-learn's GaussianMixture semantics) to an N x D CSV\n"
      "for every K in [k-min, k-max] with n-init restarts each, all models in one batched run;\n"
      "prints K, mean log-likelihood, BIC, AIC, iterations and convergence, and the K of lowest\n"
      "BIC; writes DIR/summary.json (results.gmm: every K's parameters and scores, best_k_bic,\n"
      "best_k_aic) and DIR/labels.csv (the most responsible component of each row under the\n"
      "best-BIC model)."};
  app.get_formatter()->column_width(30);
  app.add_option("--input", input, "CSV of N x D numbers (optional header), D <= 32")->required();
  app.add_option("--k-min", k_min, "smallest number of components")->capture_default_str();
  app.add_option("--k-max", k_max, "largest number of components")->capture_default_str();
  add_enum_option(app, "--covariance", cfg.covariance, "full | diag");
  app.add_option("--n-init", n_init, "restarts per K (the best lower bound is kept)")
      ->capture_default_str();
  add_enum_option(app, "--init", cfg.init, "kmeans (k-means++ then Lloyd) | random");
  app.add_option("--max-iter", cfg.max_iter, "EM iterations at most")->capture_default_str();
  app.add_option("--tol", cfg.tol, "convergence: change of mean log-likelihood below this")
      ->capture_default_str();
  app.add_option("--reg-covar", cfg.reg_covar, "added to every covariance diagonal")
      ->capture_default_str();
  add_seed_option(app, cfg.seed, "seed of the initialisation");
  app.add_option("--out", out_dir, "output directory")->capture_default_str();
  device.add_to(app);
  return run_app("gmm_fit", app, argc, argv, [&] {
    LK_FLAG_CHECK(n_init >= 1 && n_init <= kGmmMaxRestarts,
                  "--n-init must be in [1, " << kGmmMaxRestarts << "], got " << n_init);
    LK_FLAG_CHECK(k_min >= 1 && k_max >= k_min, "--k-min "
                                                    << k_min << " / --k-max " << k_max
                                                    << ": the K range needs 1 <= k-min <= k-max");
    LK_FLAG_CHECK(cfg.max_iter >= 1, "--max-iter must be >= 1, got " << cfg.max_iter);
    LK_FLAG_CHECK(cfg.tol >= 0 && std::isfinite(cfg.tol),
                  "--tol must be a finite number >= 0, got " << cfg.tol);
    LK_FLAG_CHECK(cfg.reg_covar >= 0 && std::isfinite(cfg.reg_covar),
                  "--reg-covar must be a finite number >= 0, got " << cfg.reg_covar);
    // result.json: what older versions wrote; a rerun into their --out removes it.
    OutputDir out(out_dir, {"labels.csv", "summary.json", "result.json"});  // locked, writable
    const auto t_start = std::chrono::steady_clock::now();
    const Dataset data = read_csv_matrix(input);
    const double read_s = seconds_since(t_start);
    auto backend = device.select(std::cerr);
    // Every (K, restart) is one model of the batch: its parameters (weights, means, covariances
    // in float64: K (1 + D + D^2) values) live together, beside one N x K responsibility matrix.
    const double models = (static_cast<double>(k_max) - k_min + 1) * n_init;
    check_memory(models * 8.0 * k_max * (1.0 + data.d + static_cast<double>(data.d) * data.d) +
                     8.0 * data.n * k_max,
                 *backend, "fitting " + std::to_string(static_cast<long long>(models)) + " models",
                 "lower --n-init or the range --k-min..--k-max");
    // Many restarts or large K ranges run for minutes: a progress line every 2 s.
    cfg.progress = throttled_progress(std::cerr, "gmm_fit", ::isatty(STDERR_FILENO));
    const GmmSelection sel =
        fit_gmm_select(*backend, data.x, data.n, data.d, k_min, k_max, n_init, cfg);
    const GmmFitResult& best = sel.per_k[sel.best_index_bic];
    const GmmScores scores = gmm_score(*backend, best.model, data.x, data.n);

    std::printf("%4s %16s %16s %16s %6s %10s\n", "K", "log-likelihood", "BIC", "AIC", "iters",
                "converged");
    for (const GmmFitResult& r : sel.per_k)
      std::printf("%4d %16.6f %16.3f %16.3f %6d %10s\n", r.model.k, r.log_likelihood, r.bic, r.aic,
                  r.n_iter, r.converged ? "yes" : "no");
    std::printf("chosen K (BIC): %s%d\nchosen K (AIC): %d\n",
                sel.bic_at_upper_edge ? "at least " : "", sel.best_k_bic, sel.best_k_aic);
    std::printf(
        "(log-likelihood: mean per sample; %d rows x %d columns, %s covariance, fit in "
        "%.3f s on %s)\n",
        data.n, data.d, enum_name(cfg.covariance), sel.seconds, backend->description().c_str());

    RunSummary summary("gmm_fit", *backend, cfg.seed);
    summary.config() = {{"input", input},
                        {"n", data.n},
                        {"d", data.d},
                        {"k_min", k_min},
                        {"k_max", k_max},
                        {"covariance", enum_name(cfg.covariance)},
                        {"init", enum_name(cfg.init)},
                        {"n_init", n_init},
                        {"max_iter", cfg.max_iter},
                        {"tol", cfg.tol},
                        {"reg_covar", cfg.reg_covar},
                        {"seed", cfg.seed}};
    StageResult gmm;
    gmm.result["per_k"] = nlohmann::json::array();
    for (const GmmFitResult& r : sel.per_k) gmm.result["per_k"].push_back(gmm_fit_json(r));
    gmm.result["best_k_bic"] = sel.best_k_bic;
    gmm.result["best_k_aic"] = sel.best_k_aic;
    gmm.result["best_k_bic_at_upper_edge"] = sel.bic_at_upper_edge;
    gmm.seconds = sel.seconds;
    summary.time("read", read_s);
    summary.add("gmm", gmm);
    summary.output("labels.csv");
    write_csv(
        out.path("labels.csv"), {"label", "log_density"},
        {std::vector<double>(scores.labels.begin(), scores.labels.end()), scores.log_density});
    summary.time("total", seconds_since(t_start));
    summary.write(out.path("summary.json"));
    out.commit();
    std::printf("wrote %s/summary.json, %s/labels.csv\n", out_dir.c_str(), out_dir.c_str());
  });
}
