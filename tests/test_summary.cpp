// Tests of summary.json's schema (latentkit/io/summary.h): StageResult's two forms, RunSummary's
// key order, where wall times go, and the atomic write. Each app's end-to-end tests check its own
// summary.json against the same schema (test::expect_schema1 in tests/app_test_util.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app_test_util.h"
#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/io/summary.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> keys_of(const nlohmann::ordered_json& j) {
  std::vector<std::string> k;
  for (const auto& [key, value] : j.items()) k.push_back(key);
  return k;
}

TEST(StageResult, FiguresOrSkippedWithTheReason) {
  StageResult r;
  r.result = {{"k", 3}, {"bic", -12.5}};
  r.seconds = 2.5;
  EXPECT_FALSE(r.skipped);
  EXPECT_EQ(r.to_json(), nlohmann::json({{"k", 3}, {"bic", -12.5}}));  // no wall time inside

  const StageResult s = StageResult::skip("switched off by --skip-kmeans");
  ASSERT_TRUE(s.skipped);
  EXPECT_EQ(*s.skipped, "switched off by --skip-kmeans");
  EXPECT_EQ(s.seconds, 0.0);
  EXPECT_EQ(s.to_json(),
            nlohmann::json({{"skipped", true}, {"reason", "switched off by --skip-kmeans"}}));
  // A skipped stage keeps only the reason, whatever figures were set before.
  StageResult t = r;
  t.skipped = "no generated samples (--n-generate 0)";
  EXPECT_EQ(t.to_json(), skipped_json("no generated samples (--n-generate 0)"));
  EXPECT_EQ(t.to_json().size(), 2u);
}

TEST(RunSummary, SchemaKeysInOrder) {
  auto cpu = make_cpu_backend();
  RunSummary s("myapp", *cpu, 18446744073709551615ull);
  s.config() = {{"k_max", 5}, {"input", "x.csv"}};
  const nlohmann::ordered_json j = s.to_json();
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{"schema", "app", "config", "device", "versions",
                                                  "seed", "timings_s", "results", "outputs"}));
  EXPECT_EQ(j.at("schema"), 1);
  EXPECT_EQ(j.at("app"), "myapp");
  EXPECT_EQ(j.at("config").at("k_max"), 5);
  EXPECT_EQ(j.at("device"), cpu->description());
  EXPECT_EQ(nlohmann::json(j.at("versions")), versions_json());
  EXPECT_EQ(j.at("seed").get<uint64_t>(), 18446744073709551615ull);  // 2^64 - 1 survives
  EXPECT_EQ(keys_of(j.at("timings_s")), std::vector<std::string>{"total"});
  EXPECT_GE(j.at("timings_s").at("total").get<double>(), 0.0);
  EXPECT_TRUE(j.at("results").is_object() && j.at("results").empty());
  EXPECT_TRUE(j.at("outputs").is_array() && j.at("outputs").empty());
}

TEST(RunSummary, WallTimesOnlyInTimings) {
  auto cpu = make_cpu_backend();
  RunSummary s("vae_gmm", *cpu, 7);
  s.time("data", 0.25);
  StageResult train;
  train.result = {{"final", {{"loss", 1.5}}}};
  train.seconds = 3.0;
  s.add("train", train);
  StageResult tsne;
  tsne.result = {{"latent", {{"kl", 0.8}}}, {"generated", skipped_json("too few")}};
  tsne.seconds = 4.0;
  tsne.parts = {{"latent", 3.5}, {"latent.optimize", 3.0}};
  tsne.outputs = {"tsne_latent.csv"};
  s.output("data.csv");
  s.add("tsne", tsne);
  s.add("kmeans", StageResult::skip("switched off by --skip-kmeans"));
  s.output("data.csv");  // listed once
  s.time("total", 9.0);
  const nlohmann::ordered_json j = s.to_json();
  // "total" first, then the steps and stages in the order they were recorded.
  EXPECT_EQ(keys_of(j.at("timings_s")),
            (std::vector<std::string>{"total", "data", "train", "tsne", "tsne.latent",
                                      "tsne.latent.optimize", "kmeans"}));
  EXPECT_EQ(j.at("timings_s").at("total"), 9.0);
  EXPECT_EQ(j.at("timings_s").at("train"), 3.0);
  EXPECT_EQ(j.at("timings_s").at("tsne.latent"), 3.5);
  EXPECT_EQ(j.at("timings_s").at("kmeans"), 0.0);
  EXPECT_EQ(keys_of(j.at("results")), (std::vector<std::string>{"train", "tsne", "kmeans"}));
  EXPECT_EQ(j.at("results").at("train"), nlohmann::ordered_json(train.result));
  EXPECT_EQ(j.at("results").at("kmeans"),
            nlohmann::ordered_json(skipped_json("switched off by --skip-kmeans")));
  EXPECT_EQ(j.at("outputs"), nlohmann::ordered_json({"data.csv", "tsne_latent.csv"}));
  test::expect_no_wall_time(nlohmann::json(j.at("results")), "results");
}

TEST(RunSummary, WritesAtomicallyAndReadsBackInOrder) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("summary_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto cpu = make_cpu_backend();
  RunSummary s("kmeans", *cpu, 3);
  StageResult k;
  k.result = {{"best_k_silhouette", 3}};
  k.seconds = 0.5;
  s.add("kmeans", k);
  s.output("labels.csv");
  s.write((dir / "summary.json").string());
  // Only the file itself: the temporary it was written to is gone.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"summary.json"});
  const std::string text = test::slurp(dir / "summary.json");
  EXPECT_EQ(text.back(), '\n');
  const auto j = test::expect_schema1(dir / "summary.json", "kmeans");
  EXPECT_EQ(j.at("results").at("kmeans").at("best_k_silhouette"), 3);
  EXPECT_EQ(j.at("timings_s").at("kmeans"), 0.5);
  // A directory that does not exist: InputError naming the path, and nothing left behind.
  EXPECT_THROW(s.write((dir / "missing" / "summary.json").string()), InputError);
  EXPECT_FALSE(fs::exists(dir / "missing"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace latentkit
