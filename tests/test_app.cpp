// Tests of latentkit/pipelines/app.h in process: run_app's exit codes and one-line messages for every kind
// of outcome, DeviceFlag, and the summary helpers. The apps' end-to-end tests (test_<app>.cpp)
// check the same contract through the real binaries.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/core/device.h"
#include "latentkit/io/io.h"
#include "test_util.h"

namespace latentkit {
namespace {

struct Outcome {
  int code = -1;
  std::string err;
  bool body_ran = false;
};

// Runs a tiny app ("demo" with --n INT and --device) on `args` with `body`.
Outcome run_demo(std::vector<std::string> args, const std::function<void()>& body) {
  CLI::App app{"demo"};
  int n = 0;
  app.add_option("--n", n, "a number");
  DeviceFlag device;
  device.add_to(app);
  args.insert(args.begin(), "demo");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  Outcome o;
  std::ostringstream err;
  o.code = run_app(
      "demo", app, static_cast<int>(argv.size()), argv.data(),
      [&] {
        o.body_ran = true;
        body();
      },
      err);
  o.err = err.str();
  return o;
}

TEST(RunApp, SuccessIsExit0WithNothingOnStderr) {
  const Outcome o = run_demo({"--n", "3"}, [] {});
  EXPECT_EQ(o.code, 0);
  EXPECT_TRUE(o.body_ran);
  EXPECT_EQ(o.err, "");
}

TEST(RunApp, InputErrorIsExit1OneLine) {
  const Outcome o = run_demo({}, [] { throw InputError("'x.csv' has no data rows"); });
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.err, "demo: 'x.csv' has no data rows\n");
}

// A command line wrong by itself (FlagError, from LK_FLAG_CHECK) reads and exits as the parser's
// refusals do: one line ending "(see --help)", exit 2 (issue 17 case 10).
TEST(RunApp, FlagErrorIsExit2LikeTheParsersRefusals) {
  Outcome o = run_demo({}, [] { LK_FLAG_CHECK(false, "--n must be positive, got " << 0); });
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(o.err, "demo: --n must be positive, got 0 (see --help)\n");
  // A FlagError is an InputError: code that catches bad input catches it too.
  EXPECT_THROW(LK_FLAG_CHECK(1 + 1 == 3, "x"), InputError);
  o = run_demo({}, [] { LK_INPUT_CHECK(false, "bad data"); });
  EXPECT_EQ(o.code, 1);
}

TEST(RunApp, BadFlagsAreExit2WithoutRunningTheBody) {
  Outcome o = run_demo({"--n", "x"}, [] {});
  EXPECT_EQ(o.code, 2);
  EXPECT_FALSE(o.body_ran);
  EXPECT_EQ(o.err.rfind("demo: ", 0), 0u) << o.err;
  EXPECT_NE(o.err.find("--n"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("(see --help)\n"), std::string::npos) << o.err;
  o = run_demo({"--no-such-flag"}, [] {});
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("no-such-flag"), std::string::npos) << o.err;
}

// --seed (add_seed_option) takes integers in [0, 2^64 - 1] only: -1 and 2^64 do not wrap.
TEST(RunApp, SeedOutsideUint64IsExit2) {
  for (const char* bad : {"-1", "18446744073709551616", "1e3", "", "0x10"}) {
    CLI::App app{"demo"};
    uint64_t seed = 0;
    add_seed_option(app, seed, "seed");
    const char* argv[] = {"demo", "--seed", bad};
    std::ostringstream err;
    EXPECT_EQ(run_app(
                  "demo", app, 3, argv, [] {}, err),
              2)
        << bad;
    EXPECT_NE(err.str().find("--seed"), std::string::npos) << err.str();
  }
  CLI::App app{"demo"};
  uint64_t seed = 0;
  add_seed_option(app, seed, "seed");
  const char* argv[] = {"demo", "--seed", "18446744073709551615"};
  std::ostringstream err;
  EXPECT_EQ(run_app(
                "demo", app, 3, argv, [] {}, err),
            0)
      << err.str();
  EXPECT_EQ(seed, 18446744073709551615ull);
}

TEST(RunApp, NoDeviceErrorIsExit2) {
  const Outcome o = run_demo({}, [] { throw NoDeviceError("no usable CUDA GPU"); });
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(o.err, "demo: no usable CUDA GPU\n");
}

TEST(RunApp, OtherErrorsAreExit3) {
  Outcome o = run_demo({}, [] { throw Error("CUDA error: out of memory"); });
  EXPECT_EQ(o.code, 3);
  EXPECT_EQ(o.err, "demo: error: CUDA error: out of memory\n");
  o = run_demo({}, [] { throw std::runtime_error("boom"); });
  EXPECT_EQ(o.code, 3);
  EXPECT_EQ(o.err, "demo: error: boom\n");
}

TEST(RunApp, DeviceFlagSelectsTheBackend) {
  // --device cpu: the CPU backend, announced on the log.
  std::string picked;
  CLI::App app{"demo"};
  DeviceFlag device;
  device.add_to(app);
  const char* argv[] = {"demo", "--device", "cpu"};
  std::ostringstream log, err;
  EXPECT_EQ(run_app(
                "demo", app, 3, argv, [&] { picked = device.select(log)->description(); }, err),
            0)
      << err.str();
  EXPECT_EQ(picked, "cpu (reference, float64 accumulation)");
  EXPECT_NE(log.str().find("device: cpu"), std::string::npos) << log.str();
  // An unknown device is refused by the parser (exit 2) before the body runs; cuda without a GPU
  // is a NoDeviceError (exit 2 as well). "gpu" is an alias of cuda.
  const Outcome quantum = run_demo({"--device", "quantum"}, [] {});
  EXPECT_EQ(quantum.code, 2);
  EXPECT_FALSE(quantum.body_ran);
  EXPECT_EQ(quantum.err, "demo: --device must be auto, cpu or cuda, got 'quantum' (see --help)\n");
  CLI::App alias_app{"demo"};
  DeviceFlag alias;
  alias.add_to(alias_app);
  const char* gpu_argv[] = {"demo", "--device", "gpu"};
  EXPECT_EQ(run_app(
                "demo", alias_app, 3, gpu_argv, [] {}, err),
            0)
      << err.str();
  EXPECT_EQ(alias.choice, DeviceChoice::Cuda);
  if (!test::gpu_available()) {
    DeviceFlag cuda;
    cuda.choice = DeviceChoice::Cuda;
    EXPECT_THROW(cuda.select(log), NoDeviceError);
  }
}

// LATENTKIT_REQUIRE_GPU (latentkit::gpu_required()) turns LK_REQUIRE_GPU's skip into a failure;
// unset, empty and "0" leave the skip.
TEST(AppHelpers, GpuRequiredFollowsTheEnvironment) {
  const char* saved = std::getenv("LATENTKIT_REQUIRE_GPU");
  const std::string old = saved ? saved : "";
  ::unsetenv("LATENTKIT_REQUIRE_GPU");
  EXPECT_FALSE(gpu_required());
  for (const char* off : {"", "0"}) {
    ::setenv("LATENTKIT_REQUIRE_GPU", off, 1);
    EXPECT_FALSE(gpu_required()) << "'" << off << "'";
  }
  for (const char* on : {"1", "yes"}) {
    ::setenv("LATENTKIT_REQUIRE_GPU", on, 1);
    EXPECT_TRUE(gpu_required()) << "'" << on << "'";
  }
  if (saved) ::setenv("LATENTKIT_REQUIRE_GPU", old.c_str(), 1);
  else ::unsetenv("LATENTKIT_REQUIRE_GPU");
}

TEST(AppHelpers, FloatAsDecimalAndVersions) {
  EXPECT_EQ(float_as_decimal(0.001f), 0.001);
  EXPECT_EQ(float_as_decimal(0.5f), 0.5);
  EXPECT_EQ(float_as_decimal(-1234.5f), -1234.5);
  const nlohmann::json v = versions_json();
  for (const char* key : {"latentkit", "cuda_runtime", "cuda_driver", "compiler"})
    EXPECT_TRUE(v.contains(key) && v.at(key).is_string()) << key;
  EXPECT_EQ(v.at("latentkit"), LATENTKIT_VERSION);
}

TEST(AppHelpers, ProgressLineOnATerminalAndInALog) {
  std::ostringstream tty, log;
  write_progress_line(tty, "epoch 1/2", false, true);
  write_progress_line(tty, "epoch 2/2", true, true);
  EXPECT_EQ(tty.str(), "\repoch 1/2\033[K\repoch 2/2\033[K\n");
  write_progress_line(log, "epoch 1/2", false, false);
  write_progress_line(log, "epoch 2/2", true, false);
  EXPECT_EQ(log.str(), "epoch 1/2\nepoch 2/2\n");
}

// The lines of `text` without their trailing "  <seconds> s" (wall time differs run to run).
std::vector<std::string> progress_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line.substr(0, line.rfind("  ")));
  return lines;
}

TEST(AppHelpers, ThrottledProgressWritesOpenPhasesAndClosesOnlyThose) {
  std::ostringstream log;
  const ProgressFn every = throttled_progress(log, "app", /*tty=*/false, /*every_seconds=*/0.0);
  every("init", 1, 3);
  every("init", 3, 3);  // closes the open "init" line
  every("init", 3, 3);  // nothing open any more: no second closing line
  every("EM", 5, 5);    // a phase never reported open: no closing line
  every("EM", 2, 5);
  EXPECT_EQ(progress_lines(log.str()),
            (std::vector<std::string>{"app: init 1/3", "app: init 3/3", "app: EM 2/5"}));

  // A run shorter than the interval prints nothing, its closing calls included.
  std::ostringstream quiet;
  const ProgressFn rare = throttled_progress(quiet, "app", false, /*every_seconds=*/1e9);
  for (int i = 1; i <= 4; ++i) rare("init", i, 4);
  EXPECT_EQ(quiet.str(), "");

  // On a terminal a new phase first ends the open line of the old one.
  std::ostringstream tty;
  const ProgressFn term = throttled_progress(tty, "app", /*tty=*/true, 0.0);
  term("init", 1, 2);
  term("EM", 1, 2);
  const std::string t = tty.str();
  ASSERT_EQ(t.rfind("\rapp: init 1/2", 0), 0u) << t;
  EXPECT_NE(t.find("\033[K\n\rapp: EM 1/2"), std::string::npos) << t;
}

TEST(AppHelpers, ReadCheckpointChecksKindAndSettings) {
  const std::string path =
      ::testing::TempDir() + "/app_checkpoint_" + std::to_string(test::fresh_seed()) + ".lkm";
  const nlohmann::json identity = {{"lr", 0.001}, {"seed", 7}};
  ModelFile f;
  f.header = {{"kind", "demo-checkpoint"}, {"run", identity}, {"epoch", 2}};
  f.sections = {{"params", {1.f, 2.f, 3.f}}};
  write_model_file(path, f);
  const ModelFile back =
      read_checkpoint(path, "demo-checkpoint", "a demo checkpoint", identity, "--epochs");
  EXPECT_EQ(back.header.at("epoch"), 2);
  EXPECT_EQ(back.section("params"), std::vector<float>({1.f, 2.f, 3.f}));
  const auto message = [&](const std::string& kind, const nlohmann::json& id) -> std::string {
    try {
      (void)read_checkpoint(path, kind, "a " + kind.substr(0, kind.find('-')) + " checkpoint", id,
                            "--epochs");
    } catch (const InputError& e) {
      return e.what();
    }
    return "no InputError";
  };
  EXPECT_EQ(message("vae_gmm-checkpoint", identity), "'" + path + "' is not a vae_gmm checkpoint");
  const std::string settings = message("demo-checkpoint", {{"lr", 0.01}, {"seed", 7}});
  EXPECT_NE(settings.find("written by a run with other settings"), std::string::npos) << settings;
  EXPECT_NE(settings.find("(only --epochs may change) or drop --resume"), std::string::npos)
      << settings;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace latentkit
