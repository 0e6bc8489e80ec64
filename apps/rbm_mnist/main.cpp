// rbm_mnist: train a Bernoulli RBM on Fashion-MNIST (or MNIST) with CD-k or PCD and write its
// filters, samples, inpaintings and summary.json (seed report 001, section 4.1).
// Thin: parses flags, picks the device, runs latentkit::run_rbm_mnist (host/src/pipelines/rbm_mnist.cpp).
// Exit codes: 0 ok; 1 bad input data or files; 2 bad flags or --device cuda without a GPU;
// 3 a runtime failure (CUDA error, out of memory).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "latentkit/pipelines/app.h"
#include "latentkit/pipelines/rbm_mnist.h"

int main(int argc, char** argv) {
  using namespace latentkit;
  RbmMnistOptions opt;
  DeviceFlag device;
  CLI::App app{
      "rbm_mnist: train a Bernoulli RBM (scikit-learn's BernoulliRBM semantics: PCD with one\n"
      "persistent chain per minibatch row by default) on Fashion-MNIST IDX files and write to\n"
      "--out: metrics.csv (per-epoch pseudo-likelihood and reconstruction error), filters.png,\n"
      "samples_step{1,10,100,1000}.png, inpaint_{top,bottom,left,right}.png (original / masked /\n"
      "filled), model.lkm and summary.json."};
  app.get_formatter()->column_width(34);
  // A repeated flag takes its last value (scripts can append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  device.add_to(app);
  app.add_option("--data", opt.data_dir,
                 "directory of MNIST-format files train-images-idx3-ubyte[.gz] and\n"
                 "t10k-images-idx3-ubyte[.gz] (or train-images.idx3-ubyte); default: the Debian\n"
                 "package dataset-fashion-mnist")
      ->capture_default_str();
  app.add_option("--out", opt.out_dir, "output directory")->capture_default_str();
  add_seed_option(app, opt.train.seed, "seed of everything random");
  app.add_option("--hidden", opt.hidden, "hidden units")->capture_default_str();
  app.add_option("--lr", opt.train.update.lr,
                 "learning rate (applied to the minibatch-mean gradient, as scikit-learn)")
      ->capture_default_str();
  app.add_option("--batch", opt.train.batch, "minibatch size (= persistent chains with --pcd)")
      ->capture_default_str();
  app.add_option("--epochs", opt.epochs, "training epochs")->capture_default_str();
  app.add_option("--k", opt.train.k, "Gibbs steps per minibatch")->capture_default_str();
  app.add_flag("--pcd,!--cd", opt.train.pcd,
               "persistent contrastive divergence (default, as scikit-learn); --cd: CD-k with\n"
               "chains starting at the minibatch");
  app.add_option("--momentum", opt.train.update.momentum, "SGD momentum in [0, 1)")
      ->capture_default_str();
  app.add_option("--weight-decay", opt.train.update.weight_decay,
                 "L2 weight decay on W (not on the biases)")
      ->capture_default_str();
  app.add_option("--limit", opt.limit, "use the first N training images (-1: all)")
      ->capture_default_str();
  app.add_option("--test-limit", opt.test_limit, "inpaint the first N test images (-1: all 10000)")
      ->capture_default_str();
  app.add_option("--eval-limit", opt.eval_limit,
                 "per-epoch metrics on the first N training images (-1: all)")
      ->capture_default_str();
  add_enum_option(app, "--binarize", opt.binarize,
                  "none (grey levels in [0, 1], as scikit-learn) | threshold (>= 0.5) |\n"
                  "stochastic (Bernoulli(pixel), drawn once)");
  app.add_option("--inpaint-rows", opt.inpaint_rows,
                 "rows (top/bottom) or columns (left/right) removed for inpainting")
      ->capture_default_str();
  app.add_option("--inpaint-steps", opt.inpaint_steps, "Gibbs steps of inpainting")
      ->capture_default_str();
  app.add_option("--n-samples", opt.n_samples, "chains in the sample grids")->capture_default_str();
  app.add_option("--sample-steps", opt.sample_steps,
                 "longest sample chain (grids at 1, 10, 100, 1000 steps up to this)")
      ->capture_default_str();
  add_enum_option(app, "--sample-init", opt.sample_init,
                  "start of the sample chains: random (binary, p = 1/2) | noise (uniform grey) |\n"
                  "data (the first test images)");
  app.add_option("--checkpoint-every", opt.checkpoint_every,
                 "write <out>/checkpoint.lkm every N epochs (0: never)")
      ->capture_default_str();
  app.add_flag("--resume", opt.resume,
               "continue from <out>/checkpoint.lkm (same flags; --epochs may grow)");

  return run_app("rbm_mnist", app, argc, argv, [&] {
    opt.progress_tty = ::isatty(STDERR_FILENO);
    auto backend = device.select(std::cerr);
    run_rbm_mnist(opt, *backend, std::cerr);
  });
}
