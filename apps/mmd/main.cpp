// mmd: the maximum mean discrepancy between two samples (CSV files of N x D and M x D numbers),
// with a permutation-test p-value. Thin: parses flags, picks the device, runs
// latentkit::run_mmd_tool (host/src/pipelines/pairwise_tools.cpp).
// Exit codes: 0 ok; 1 bad input data or files; 2 bad flags or --device cuda without a GPU;
// 3 a runtime failure (CUDA error, out of memory).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/pipelines/pairwise_tools.h"

int main(int argc, char** argv) {
  using namespace latentkit;
  MmdToolOptions opt;
  DeviceFlag device;
  bool median = false;
  CLI::App app{
      "mmd: MMD^2 between the rows of --x and --y (CSV, optional header), printed and written to\n"
      "--out/summary.json (results.mmd) with a permutation-test p-value. RBF kernel: sum over "
      "bandwidths h of\n"
      "exp(-|x-y|^2 / (2h)); IMQ: sum over scales C of C / (C + |x-y|^2). Without --bandwidths\n"
      "the median heuristic gives h = median squared pairwise distance of the pooled sample (on\n"
      "2000 pooled points at most) and the list h, h/2, ..., (--n-bandwidths values)."};
  app.get_formatter()->column_width(34);
  app.add_option("--x", opt.x_csv, "first sample (CSV)")->required();
  app.add_option("--y", opt.y_csv, "second sample (CSV, same columns)")->required();
  app.add_option("--out", opt.out_dir, "output directory")->required();
  add_enum_option(app, "--kernel", opt.kernel, "rbf | imq");
  app.add_option("--bandwidths", opt.bandwidths,
                 "RBF bandwidths h (or IMQ scales C), comma separated; default: --median")
      ->delimiter(',');
  app.add_flag("--median", median, "median-heuristic bandwidths (the default)");
  app.add_option("--n-bandwidths", opt.n_bandwidths, "length of the median-heuristic halving list")
      ->capture_default_str();
  app.add_flag("--unbiased", opt.unbiased, "unbiased estimator (default: biased, >= 0)");
  app.add_option("--permutations", opt.permutations, "permutations for the p-value (0: none)")
      ->capture_default_str();
  app.add_option("--perm-max-points", opt.perm_max_points,
                 "pooled points the permutation test uses (a Philox subsample when fewer than\n"
                 "all; 0: all). Default -1: all on the GPU, 2000 on the CPU")
      ->capture_default_str();
  add_seed_option(app, opt.seed, "seed of the permutations and subsamples");
  device.add_to(app);
  return run_app("mmd", app, argc, argv, [&] {
    if (median && !opt.bandwidths.empty())
      throw FlagError("--median and --bandwidths exclude each other");
    auto backend = device.select(std::cerr);
    // The permutation test can run for minutes with many permutations: a line every 2 s.
    const ProgressFn progress = throttled_progress(std::cerr, "mmd", ::isatty(STDERR_FILENO));
    opt.progress = [&](int done, int total) { progress("permutations", done, total); };
    run_mmd_tool(opt, *backend, std::cout);
  });
}
