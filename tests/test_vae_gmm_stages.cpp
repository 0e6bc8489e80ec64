// Tests of vae_gmm's analysis stages in process (host/src/pipelines/vae_gmm/): the mode_coverage
// stage counted by hand. End-to-end runs of the pipeline are in tests/test_vae_gmm.cpp.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "latentkit/io/data.h"
#include "latentkit/pipelines/vae_gmm_modes.h"

namespace latentkit {
namespace {

TEST(GmmStages, ModeCoverageCountsByHand) {
  // Two true components in 2-D: N((0,0), diag(1, 4)) with weight 0.5 and N((10,0), I) with 0.5.
  MixtureTruth truth;
  truth.weights = {0.5, 0.5};
  truth.means = {0, 0, 10, 0};
  truth.variances = {1, 4, 1, 1};
  // 6 samples: 3 within component 0 (Mahalanobis 0; 2.5 for (0,5): 5/2; 2.9), 1 within component 1
  // (distance 1), 2 beyond 3 of both ((0,7): 3.5 from component 0; (5,50)).
  const std::vector<float> gen = {0, 0, 0, 5, 2.9f, 0, 11, 0, 0, 7, 5, 50};
  std::ostringstream log;
  const StageResult r = run_mode_coverage_stage(&truth, gen, 6, 2, "", log);
  EXPECT_FALSE(r.skipped);
  EXPECT_FALSE(r.result.contains("seconds"));  // the wall time is r.seconds
  const nlohmann::json& j = r.result;
  ASSERT_EQ(j["components"].size(), 2u);
  EXPECT_NEAR(j["components"][0]["share_within"].get<double>(), 3.0 / 6, 1e-12);
  EXPECT_NEAR(j["components"][1]["share_within"].get<double>(), 1.0 / 6, 1e-12);
  EXPECT_TRUE(j["components"][0]["covered"].get<bool>());   // 1/2 >= 50% of 0.5
  EXPECT_FALSE(j["components"][1]["covered"].get<bool>());  // 1/6 < 50% of 0.5
  EXPECT_EQ(j["components_covered"], 1);
  EXPECT_NEAR(j["off_manifold_fraction"].get<double>(), 2.0 / 6, 1e-12);
  // Without a true mixture: skipped with the reason given.
  const StageResult s = run_mode_coverage_stage(nullptr, gen, 6, 2, "no truth here", log);
  EXPECT_EQ(s.skipped, "no truth here");
  EXPECT_EQ(s.to_json(), nlohmann::json({{"skipped", true}, {"reason", "no truth here"}}));
  // No generated samples: skipped for that reason, whatever the truth.
  EXPECT_EQ(run_mode_coverage_stage(&truth, gen, 0, 2, "unused", log).skipped,
            "no generated samples (--n-generate 0)");
}

}  // namespace
}  // namespace latentkit
