// kmeans: KMeans for k = k_min..k_max on the rows of a CSV, with the inertia (elbow) and the
// silhouette of every k; the best k by silhouette, its centres and labels. Thin: parses flags,
// picks the device, runs latentkit::run_kmeans_tool (host/src/pipelines/pairwise_tools.cpp).
// Exit codes: 0 ok; 1 bad input data or files; 2 bad flags or --device cuda without a GPU;
// 3 a runtime failure (CUDA error, out of memory).
#include <CLI/CLI.hpp>
#include <iostream>

#include "latentkit/pipelines/app.h"
#include "latentkit/pipelines/pairwise_tools.h"

int main(int argc, char** argv) {
  using namespace latentkit;
  KMeansToolOptions opt;
  DeviceFlag device;
  CLI::App app{
      "kmeans: KMeans (k-means++ seeding, Lloyd, n_init restarts, like scikit-learn) for every k\n"
      "in --k-min..--k-max, with inertia and silhouette per k. Writes --out/summary.json\n"
      "(results.kmeans: per k, best_k_silhouette, its centres) and --out/labels.csv (labels of\n"
      "the best k, one per row)."};
  app.get_formatter()->column_width(34);
  app.add_option("--input", opt.input_csv, "data (CSV of N x D numbers, optional header)")
      ->required();
  app.add_option("--out", opt.out_dir, "output directory")->required();
  app.add_option("--k-min", opt.k_min, "smallest k (>= 2)")->capture_default_str();
  app.add_option("--k-max", opt.k_max, "largest k")->capture_default_str();
  app.add_option("--n-init", opt.kmeans.n_init, "restarts per k (the lowest inertia wins)")
      ->capture_default_str();
  app.add_option("--max-iter", opt.kmeans.max_iter, "Lloyd iterations at most")
      ->capture_default_str();
  app.add_option("--tol", opt.kmeans.tol,
                 "stop when the squared centre shift <= tol * mean feature variance")
      ->capture_default_str();
  app.add_option("--silhouette-sample", opt.silhouette_sample,
                 "silhouette on a Philox sample of this many points (0: exact, all pairs)")
      ->capture_default_str();
  add_seed_option(app, opt.kmeans.seed, "seed of the seeding and samples");
  device.add_to(app);
  return run_app("kmeans", app, argc, argv, [&] {
    auto backend = device.select(std::cerr);
    run_kmeans_tool(opt, *backend, std::cout);
  });
}
