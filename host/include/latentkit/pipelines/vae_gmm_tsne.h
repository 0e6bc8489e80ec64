// The tsne stage of apps/vae_gmm (host/src/pipelines/vae_gmm/stage_tsne.cpp): t-SNE of the latent
// means and of the generated samples (latentkit::run_tsne), written as tsne_latent.csv and
// tsne_generated.csv with the true component label; KL in summary.json's results.tsne, the times in
// timings_s.tsne*. Tests: tests/test_vae_gmm.cpp (the TsneStage tests at its end).
#pragma once
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/io/data.h"
#include "latentkit/io/summary.h"

namespace latentkit {

struct TsneStageOptions {
  double perplexity = 30.0;  // --tsne-perplexity
  int iterations = 1000;     // --tsne-iterations; 0 skips the stage
};

// Throws InputError for impossible options (checked before any training). Sets of no more points
// than the perplexity are not an error: run_tsne_stage skips that embedding and says so.
void validate_tsne_stage(const TsneStageOptions& opt, int n_data, int n_generated);

// latent_mu [n, latent] with labels (the true components, or empty when unknown: written as -1);
// generated [n_gen, d] in data units, labelled by the nearest true component mean when `truth`
// is given (the synthetic mixture), else -1. Writes <out_dir>/tsne_latent.csv and
// tsne_generated.csv (columns t1, t2, label) and returns results.tsne: {latent, generated (each
// an embedding's figures, or skipped with the reason), parameters}; parts timed: latent,
// generated and their phases (latent.affinities, ...); outputs: the CSVs written.
StageResult run_tsne_stage(Backend& backend, const TsneStageOptions& opt, uint64_t seed,
                           const std::vector<float>& latent_mu, int n, int latent,
                           const std::vector<int>& labels, const std::vector<float>& generated,
                           int n_gen, int d, const MixtureTruth* truth, const std::string& out_dir,
                           std::ostream& log);

}  // namespace latentkit
