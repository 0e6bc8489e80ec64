// The fixture of the end-to-end app tests: runs an app binary from LATENTKIT_BIN_DIR in a fresh
// temporary directory and captures its exit code, stdout and stderr.
//  - AppTest: a per-test directory dir_ (<TempDir>/<app>_<pid>_<test>, removed after a passing
//    test, kept after a failing one for a look), run(args) / run(app, args), write_file(),
//    expect_clean_failure();
//  - slurp(path): a whole file as a string ("" when it cannot be read);
//  - csv_without_column(path, name): a CSV's text without one column (e.g. wall time);
//  - snapshot(dir): every file under dir (relative name -> contents), to show a failed run left a
//    directory exactly as it was;
//  - run_in_shell(prefix, app, args): run() after shell commands (a `ulimit -f` that makes writes
//    fail as on a full disk);
//  - expect_schema1(path, app): summary.json has schema 1's shape (latentkit/io/summary.h).
// Use:
//   class GmmFitApp : public test::AppTest {
//    protected:
//     GmmFitApp() : AppTest("gmm_fit") {}
//   };
//   TEST_F(GmmFitApp, ...) { const test::AppRun r = run("--device cpu ..."); ... }
// Used by tests/test_<app>.cpp for every app in apps/.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace latentkit::test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CSV file's text without the column named `column` (by its header), for comparing the data
// files of two runs whose only difference may be wall time ("seconds"). A file without that
// column comes back unchanged.
inline std::string csv_without_column(const std::filesystem::path& p, const std::string& column) {
  std::istringstream in(slurp(p));
  std::string line, out;
  long drop = -1;  // the column's index, -1 when the header has no such column
  for (bool header = true; std::getline(in, line); header = false) {
    std::vector<std::string> cells;
    std::istringstream cs(line);
    for (std::string c; std::getline(cs, c, ',');) cells.push_back(c);
    if (header)
      for (size_t j = 0; j < cells.size(); ++j)
        if (cells[j] == column) drop = static_cast<long>(j);
    for (size_t j = 0; j < cells.size(); ++j)
      if (static_cast<long>(j) != drop) out += cells[j] + ",";
    out += "\n";
  }
  return out;
}

// Every file under `dir` (relative name -> contents).
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      files[std::filesystem::relative(e.path(), dir).string()] = slurp(e.path());
  return files;
}

// True when `key` names a wall time (or a rate from one): seconds, fit_seconds, samples_per_s.
inline bool is_wall_time_key(const std::string& key) {
  const auto ends = [&](const std::string& tail) {
    return key.size() >= tail.size() &&
           key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
  };
  return key == "seconds" || key == "timings_s" || ends("_seconds") || ends("_per_s");
}

// Fails the test where a wall time appears inside `j` (results hold figures only).
inline void expect_no_wall_time(const nlohmann::json& j, const std::string& path) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      EXPECT_FALSE(is_wall_time_key(k)) << "a wall time in the results: " << path << "." << k;
      expect_no_wall_time(v, path + "." + k);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      expect_no_wall_time(j[i], path + "[" + std::to_string(i) + "]");
  }
}

// Checks that the summary.json at `file` has schema 1's shape (latentkit/io/summary.h): the
// top-level keys in order, "app" == app, timings_s all numbers with "total" first, results whose
// skipped entries are exactly {"skipped": true, "reason": "..."} and that hold no wall time,
// outputs a list of file names. Returns the file parsed.
inline nlohmann::json expect_schema1(const std::filesystem::path& file, const std::string& app) {
  const auto o = nlohmann::ordered_json::parse(slurp(file));
  std::vector<std::string> keys;
  for (const auto& [k, v] : o.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"schema", "app", "config", "device", "versions", "seed",
                                            "timings_s", "results", "outputs"}))
      << file;
  const nlohmann::json j = nlohmann::json::parse(slurp(file));
  EXPECT_EQ(j.value("schema", 0), 1);
  EXPECT_EQ(j.value("app", ""), app);
  EXPECT_TRUE(j.at("config").is_object());
  EXPECT_TRUE(j.at("device").is_string());
  EXPECT_TRUE(j.at("versions").contains("latentkit"));
  EXPECT_TRUE(j.at("seed").is_number_unsigned());
  const auto& t = o.at("timings_s");
  EXPECT_TRUE(t.is_object() && !t.empty() && t.begin().key() == "total") << t.dump();
  for (const auto& [k, v] : t.items()) EXPECT_TRUE(v.is_number()) << "timings_s." << k;
  EXPECT_TRUE(j.at("results").is_object());
  for (const auto& [name, r] : j.at("results").items()) {
    EXPECT_TRUE(r.is_object()) << name;
    if (r.contains("skipped")) {
      EXPECT_EQ(r.size(), 2u) << name << ": " << r.dump();
      EXPECT_EQ(r.at("skipped"), true) << name;
      EXPECT_FALSE(r.value("reason", "").empty()) << name;
    }
    expect_no_wall_time(r, "results." + name);
  }
  EXPECT_TRUE(j.at("outputs").is_array());
  for (const auto& f : j.at("outputs")) EXPECT_TRUE(f.is_string());
  return j;
}

struct AppRun {
  int exit_code = -1;  // 128 + the signal when the app was killed
  std::string out;     // stdout
  std::string err;     // stderr
};

class AppTest : public ::testing::Test {
 protected:
  explicit AppTest(std::string app) : app_(std::move(app)) {}

  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (app_ + "_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // Runs LATENTKIT_BIN_DIR/<app> with `args` (split by the shell), stdin from /dev/null.
  AppRun run(const std::string& app, const std::string& args) const {
    return run_in_shell("", app, args);
  }
  // The same after the shell commands `prefix` (e.g. "ulimit -f 8; trap '' XFSZ;").
  AppRun run_in_shell(const std::string& prefix, const std::string& app,
                      const std::string& args) const {
    const std::filesystem::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    const std::filesystem::path script = dir_ / "run.sh";
    std::ofstream(script) << prefix << "\nexec " << LATENTKIT_BIN_DIR << "/" << app << " " << args
                          << "\n";
    const std::string cmd =
        "bash " + script.string() + " > " + out.string() + " 2> " + err.string() + " < /dev/null";
    const int status = std::system(cmd.c_str());
    AppRun r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  AppRun run(const std::string& args) const { return run(app_, args); }

  // Writes `text` to dir_/name and returns the path.
  std::filesystem::path write_file(const std::string& name, const std::string& text) const {
    const std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }

  // Bad input: `app` run with `args` plus "--out <dir>" exits with `expected_code` and writes
  // exactly one line to stderr (besides the "device: " announcement), starting "<app>: " and
  // containing `words`; the existing output directory is left as it was (a sentinel file
  // survives unchanged, nothing else appears).
  void expect_clean_failure(const std::string& app, const std::string& args, int expected_code,
                            const std::string& words) const {
    const std::filesystem::path out = dir_ / "out_fail";
    std::filesystem::create_directories(out);
    std::ofstream(out / "sentinel.txt") << "keep me";
    const AppRun r = run(app, args + " --out " + out.string());
    EXPECT_EQ(r.exit_code, expected_code) << args << "\nstderr: " << r.err;
    size_t error_lines = 0;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("device: ", 0) == 0) continue;
      ++error_lines;
      EXPECT_EQ(line.rfind(app + ": ", 0), 0u) << "unexpected stderr line: " << line;
    }
    EXPECT_EQ(error_lines, 1u) << "expected one error line on stderr, got:\n" << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << "stderr lacks '" << words << "': " << r.err;
    size_t entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(out)) {
      ++entries;
      EXPECT_EQ(e.path().filename(), "sentinel.txt") << "unexpected output " << e.path();
    }
    EXPECT_EQ(entries, 1u);
    EXPECT_EQ(slurp(out / "sentinel.txt"), "keep me");
  }
  void expect_clean_failure(const std::string& args, int expected_code,
                            const std::string& words) const {
    expect_clean_failure(app_, args, expected_code, words);
  }

  const std::string app_;  // the app run() and expect_clean_failure() default to
  std::filesystem::path dir_;
};

}  // namespace latentkit::test
