// The gmm_fit pipeline (see latentkit/pipelines/gmm_fit.h).
#include "latentkit/pipelines/gmm_fit.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/io/io.h"
#include "latentkit/pipelines/app.h"

namespace latentkit {

void check_gmm_fit_flags(const GmmFitOptions& opt) {
  const GmmConfig& cfg = opt.cfg;
  LK_FLAG_CHECK(opt.n_init >= 1 && opt.n_init <= kGmmMaxRestarts,
                "--n-init must be in [1, " << kGmmMaxRestarts << "], got " << opt.n_init);
  LK_FLAG_CHECK(opt.k_min >= 1 && opt.k_max >= opt.k_min,
                "--k-min " << opt.k_min << " / --k-max " << opt.k_max
                           << ": the K range needs 1 <= k-min <= k-max");
  LK_FLAG_CHECK(cfg.max_iter >= 1, "--max-iter must be >= 1, got " << cfg.max_iter);
  LK_FLAG_CHECK(cfg.tol >= 0 && std::isfinite(cfg.tol),
                "--tol must be a finite number >= 0, got " << cfg.tol);
  LK_FLAG_CHECK(cfg.reg_covar >= 0 && std::isfinite(cfg.reg_covar),
                "--reg-covar must be a finite number >= 0, got " << cfg.reg_covar);
}

namespace {

// printf-style formatting into `out` (the table's columns are fixed-width printf fields).
template <class... A>
void print(std::ostream& out, const char* fmt, A... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  out << buf;
}

}  // namespace

void run_gmm_fit(GmmFitOptions opt, const std::function<std::unique_ptr<Backend>()>& select_backend,
                 std::ostream& out, std::ostream& log) {
  check_gmm_fit_flags(opt);
  GmmConfig& cfg = opt.cfg;
  const int k_min = opt.k_min, k_max = opt.k_max, n_init = opt.n_init;
  // result.json: what older versions wrote; a rerun into their --out removes it.
  OutputDir dir(opt.out_dir, {"labels.csv", "summary.json", "result.json"});  // locked, writable
  const auto t_start = std::chrono::steady_clock::now();
  const Dataset data = read_csv_matrix(opt.input);
  const double read_s = seconds_since(t_start);
  const std::unique_ptr<Backend> backend = select_backend();
  // Every (K, restart) is one model of the batch: its parameters (weights, means, covariances
  // in float64: K (1 + D + D^2) values) live together, beside one N x K responsibility matrix.
  const double models = (static_cast<double>(k_max) - k_min + 1) * n_init;
  check_memory(models * 8.0 * k_max * (1.0 + data.d + static_cast<double>(data.d) * data.d) +
                   8.0 * data.n * k_max,
               *backend, "fitting " + std::to_string(static_cast<long long>(models)) + " models",
               "lower --n-init or the range --k-min..--k-max");
  // Many restarts or large K ranges run for minutes: a progress line every 2 s.
  cfg.progress = throttled_progress(log, "gmm_fit", opt.progress_tty);
  const GmmSelection sel =
      fit_gmm_select(*backend, data.x, data.n, data.d, k_min, k_max, n_init, cfg);
  const GmmFitResult& best = sel.per_k[sel.best_index_bic];
  const GmmScores scores = gmm_score(*backend, best.model, data.x, data.n);

  print(out, "%4s %16s %16s %16s %6s %10s\n", "K", "log-likelihood", "BIC", "AIC", "iters",
        "converged");
  for (const GmmFitResult& r : sel.per_k)
    print(out, "%4d %16.6f %16.3f %16.3f %6d %10s\n", r.model.k, r.log_likelihood, r.bic, r.aic,
          r.n_iter, r.converged ? "yes" : "no");
  print(out, "chosen K (BIC): %s%d\nchosen K (AIC): %d\n", sel.bic_at_upper_edge ? "at least " : "",
        sel.best_k_bic, sel.best_k_aic);
  print(out,
        "(log-likelihood: mean per sample; %d rows x %d columns, %s covariance, fit in "
        "%.3f s on %s)\n",
        data.n, data.d, enum_name(cfg.covariance), sel.seconds, backend->description().c_str());

  RunSummary summary("gmm_fit", *backend, cfg.seed);
  summary.config() = {{"input", opt.input},
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
  write_csv(dir.path("labels.csv"), {"label", "log_density"},
            {std::vector<double>(scores.labels.begin(), scores.labels.end()), scores.log_density});
  summary.time("total", seconds_since(t_start));
  summary.write(dir.path("summary.json"));
  dir.commit();
  out << "wrote " << opt.out_dir << "/summary.json, " << opt.out_dir << "/labels.csv\n";
}

}  // namespace latentkit
