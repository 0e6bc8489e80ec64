// The vae_gmm pipeline (apps/vae_gmm is only its command line): data (synthetic mixture or CSV),
// scaling, VAE training with progress, checkpoints and resume, encoding, generation from the
// prior, and the output files with summary.json. Later stages (GMM/BIC, KMeans, MMD, t-SNE) add
// themselves to summary.json's "stages" object. Tests: tests/test_vae_gmm.cpp.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

#include "latentkit/core/backend.h"
#include "latentkit/io/data.h"
#include "latentkit/families/train.h"
#include "latentkit/families/vae.h"
#include "latentkit/pipelines/vae_gmm_mmd_kmeans.h"
#include "latentkit/pipelines/vae_gmm_modes.h"
#include "latentkit/pipelines/vae_gmm_tsne.h"

namespace latentkit {

struct VaeGmmOptions {
  GaussianMixtureSpec mixture;  // used when input_csv is empty
  std::string input_csv;
  ScaleKind scale = ScaleKind::None;
  VaeConfig model;
  TrainConfig train;
  int n_generate = 10000;
  std::string out_dir = "vae_gmm_out";
  std::string load_model;        // skip training, use these weights
  int checkpoint_every = 0;      // epochs; 0 = never
  bool resume = false;           // continue from <out>/checkpoint.lkm
  bool progress_tty = false;     // rewrite one progress line instead of printing one per epoch
  VaeGmmKMeansStage kmeans_stage;  // KMeans k-sweep on the generated samples (stages.kmeans)
  VaeGmmMmdStage mmd_stage;        // MMD^2(data, generated) with a p-value (stages.mmd)
  GmmStageOptions gmm;           // stages gmm_bic and mode_coverage (latentkit/pipelines/vae_gmm_modes.h)
  TsneStageOptions tsne;         // the tsne stage (iterations 0: skipped)
};

struct VaeGmmResult {
  int epochs_trained = 0;
  EpochStats final_epoch;
};

// Runs everything and writes the outputs; throws InputError / Error on bad input or failures,
// before any output file is replaced where the input can be checked up front.
// Progress, device and file lines go to `log` (stderr in the app); the analysis stages' results
// (gmm_bic, mode_coverage, kmeans, mmd, tsne) to `report` (stdout in the app).
VaeGmmResult run_vae_gmm(const VaeGmmOptions& opt, Backend& backend, std::ostream& log,
                         std::ostream& report);

}  // namespace latentkit
