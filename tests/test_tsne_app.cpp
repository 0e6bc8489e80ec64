// End-to-end tests of apps/tsne on the CPU: outputs (embedding.csv with labels, summary.json with
// the KL history, times and parameters), --labels / --label-column / --limit, reproducibility,
// 3-D, IDX input (--idx with IDX or CSV --labels; tiny files written here by latentkit/io/idx.h's
// writers), and bad input (one clear error line, nonzero exit, no output file).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "app_test_util.h"
#include "latentkit/io/data.h"
#include "latentkit/io/idx.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace latentkit {
namespace {

using test::slurp;

class TsneApp : public test::AppTest {
 protected:
  TsneApp() : AppTest("tsne") {}
  void SetUp() override {
    AppTest::SetUp();
    // 3 clusters of 40 points in 4-D, the cluster index as the last column.
    std::mt19937_64 rng(5);
    std::normal_distribution<double> nd(0, 1);
    std::ostringstream csv, labels;
    csv << "a,b,c,d,label\n";
    labels << "label\n";
    for (int i = 0; i < 120; ++i) {
      const int k = i % 3;
      for (int c = 0; c < 4; ++c) csv << (c == k ? 15.0 : 0.0) + nd(rng) << ",";
      csv << k << "\n";
      labels << k << "\n";
    }
    data_ = write_file("data.csv", csv.str());
    labels_ = write_file("labels.csv", labels.str());
  }

  // The exit code of `tsne args`; its stderr in *err when given.
  int run(const std::string& args, std::string* err = nullptr) const {
    const test::AppRun r = AppTest::run(args);
    if (err) *err = r.err;
    return r.exit_code;
  }

  // Quick settings: perplexity 10 and 500 iterations on 120 points (exact method; the clusters
  // settle some 150 iterations after the 250 of early exaggeration).
  std::string quick(const std::string& out) const {
    return "--device cpu --perplexity 10 --iterations 500 --input " + data_.string() + " --out " +
           (dir_ / out).string();
  }

  void expect_failure(const std::string& args, int code, const std::string& words) {
    std::string err;
    const fs::path out = dir_ / "fail";
    fs::remove_all(out);
    EXPECT_EQ(run(args + " --out " + out.string(), &err), code) << args << "\n" << err;
    EXPECT_NE(err.find(words), std::string::npos) << "stderr lacks '" << words << "': " << err;
    // The last line is the error; every line comes from the app or the device announcement.
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);)
      EXPECT_TRUE(line.rfind("tsne: ", 0) == 0 || line.rfind("device: ", 0) == 0) << line;
    EXPECT_FALSE(fs::exists(out / "embedding.csv"));
    EXPECT_FALSE(fs::exists(out / "summary.json"));
  }

  fs::path data_, labels_;
};

// How many points of a 2-D embedding (rows y1, y2, label) have their nearest embedded neighbour
// in their own class.
int nearest_neighbour_agreement(const Dataset& emb) {
  int agree = 0;
  for (int i = 0; i < emb.n; ++i) {
    int best = -1;
    double bd = 1e300;
    for (int j = 0; j < emb.n; ++j) {
      if (j == i) continue;
      const double d = std::hypot(emb.x[i * 3] - emb.x[j * 3], emb.x[i * 3 + 1] - emb.x[j * 3 + 1]);
      if (d < bd) {
        bd = d;
        best = j;
      }
    }
    agree += emb.x[best * 3 + 2] == emb.x[i * 3 + 2];
  }
  return agree;
}

TEST_F(TsneApp, WritesLabelledEmbeddingAndResult) {
  std::string err;
  ASSERT_EQ(run(quick("out") + " --label-column", &err), 0) << err;
  const Dataset emb = read_csv_matrix((dir_ / "out" / "embedding.csv").string());
  ASSERT_EQ(emb.n, 120);
  ASSERT_EQ(emb.d, 3);  // y1 y2 label
  for (int i = 0; i < emb.n; ++i) EXPECT_EQ(emb.x[i * 3 + 2], i % 3);
  // The clusters stay apart: each point's nearest embedded neighbour is in its cluster.
  EXPECT_GE(nearest_neighbour_agreement(emb), 118);
  const auto summary = test::expect_schema1(dir_ / "out" / "summary.json", "tsne");
  EXPECT_EQ(summary.at("results").size(), 1u);
  EXPECT_EQ(summary.at("outputs"), nlohmann::json({"embedding.csv"}));
  const auto& result = summary.at("results").at("tsne");
  EXPECT_EQ(result.at("method"), "exact");
  EXPECT_EQ(summary.at("config").at("input").at("columns"), 4);
  EXPECT_EQ(result.at("kl_history").size(), 10u);  // every 50 of 500 iterations
  EXPECT_TRUE(std::isfinite(result.at("kl").get<double>()));
  for (const char* t : {"read", "tsne", "tsne.affinities", "tsne.init", "tsne.optimize", "total"})
    EXPECT_TRUE(summary.at("timings_s").contains(t)) << t;
  EXPECT_EQ(result.at("parameters").at("perplexity"), 10.0);
  EXPECT_EQ(result.at("parameters").at("init"), "pca");
}

TEST_F(TsneApp, LabelsFileLimitThreeDimsAndReproducibility) {
  std::string err;
  // The label column embedded as data (no --label-column), labels from a file, 3-D, FFT, random.
  const std::string args =
      "--device cpu --perplexity 10 --iterations 100 --dims 3 --method fft "
      "--init random --seed 4 --fft-grid 32 --limit 90 --input " +
      data_.string() + " --labels " + labels_.string();
  ASSERT_EQ(run(args + " --out " + (dir_ / "a").string(), &err), 0) << err;
  ASSERT_EQ(run(args + " --out " + (dir_ / "b").string(), &err), 0) << err;
  const Dataset a = read_csv_matrix((dir_ / "a" / "embedding.csv").string());
  EXPECT_EQ(a.n, 90);
  EXPECT_EQ(a.d, 4);  // y1 y2 y3 label
  EXPECT_EQ(slurp(dir_ / "a" / "embedding.csv"), slurp(dir_ / "b" / "embedding.csv"));
  const auto summary = nlohmann::json::parse(slurp(dir_ / "a" / "summary.json"));
  const auto& result = summary.at("results").at("tsne");
  EXPECT_EQ(result.at("method"), "fft");
  EXPECT_EQ(summary.at("config").at("input").at("columns"), 5);
  EXPECT_NE(result.at("kl_note").get<std::string>().find("approximate"), std::string::npos);
}

TEST_F(TsneApp, RejectsBadInput) {
  const std::string in = " --device cpu --iterations 10 --input ";
  expect_failure(in + (dir_ / "missing.csv").string(), 1, "missing.csv");
  std::ofstream(dir_ / "nan.csv") << "1,2\n3,nan\n5,6\n";
  expect_failure(in + (dir_ / "nan.csv").string(), 1, "nan.csv");
  expect_failure(in + data_.string() + " --perplexity 200", 1, "--perplexity");
  expect_failure(in + data_.string() + " --dims 4", 2, "--dims");
  expect_failure(in + data_.string() + " --method bh", 2, "--method");
  expect_failure(in + data_.string() + " --init spectral", 2, "--init");
  std::ofstream(dir_ / "frac.csv") << "1,2,0.5\n3,4,1\n5,6,0\n";
  expect_failure(in + (dir_ / "frac.csv").string() + " --label-column --perplexity 1", 1,
                 "not an integer");
  std::ofstream(dir_ / "short_labels.csv") << "1\n2\n";
  expect_failure(in + data_.string() + " --labels " + (dir_ / "short_labels.csv").string(), 1,
                 "--labels");
  expect_failure(in + data_.string() + " --label-column --labels " + labels_.string(), 2,
                 "exclude");
  std::ofstream(dir_ / "same.csv") << "1,2\n1,2\n1,2\n1,2\n";
  expect_failure(in + (dir_ / "same.csv").string() + " --perplexity 2", 1, "identical");
  expect_failure(in + data_.string() + " --iterations many", 2, "--iterations");
}

// 90 tiny 4 x 4 images in 3 classes (class k lights rows k of the image), written as IDX images
// (gzip) and IDX labels (plain) and as a CSV of labels: --idx reads pixels / 255 as 16 columns,
// --labels takes either format, --limit cuts both.
TEST_F(TsneApp, ReadsIdxImagesWithIdxOrCsvLabels) {
  constexpr int kImages = 90, kRows = 4, kCols = 4;
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int> noise(0, 40);
  std::vector<uint8_t> pixels(static_cast<size_t>(kImages) * kRows * kCols), labels(kImages);
  std::ostringstream csv_labels;
  for (int i = 0; i < kImages; ++i) {
    const int k = i % 3;
    labels[i] = static_cast<uint8_t>(k);
    csv_labels << k << "\n";
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kCols; ++c)
        pixels[(static_cast<size_t>(i) * kRows + r) * kCols + c] =
            static_cast<uint8_t>((r == k ? 200 : 0) + noise(rng));
  }
  const fs::path images = dir_ / "images-idx3-ubyte.gz", idx_labels = dir_ / "labels-idx1-ubyte",
                 csv = dir_ / "labels.csv";
  write_idx_images(images.string(), kImages, kRows, kCols, pixels, /*gzip=*/true);
  write_idx_labels(idx_labels.string(), labels, /*gzip=*/false);
  std::ofstream(csv) << csv_labels.str();
  const std::string base = "--device cpu --perplexity 10 --iterations 500 --limit 60 --idx " +
                           images.string() + " --labels ";
  std::string err;
  ASSERT_EQ(run(base + idx_labels.string() + " --out " + (dir_ / "a").string(), &err), 0) << err;
  ASSERT_EQ(run(base + csv.string() + " --out " + (dir_ / "b").string(), &err), 0) << err;
  // Both label formats give the same output, bit for bit.
  EXPECT_EQ(slurp(dir_ / "a" / "embedding.csv"), slurp(dir_ / "b" / "embedding.csv"));
  const Dataset emb = read_csv_matrix((dir_ / "a" / "embedding.csv").string());
  ASSERT_EQ(emb.n, 60);
  ASSERT_EQ(emb.d, 3);  // y1 y2 label
  for (int i = 0; i < emb.n; ++i) EXPECT_EQ(emb.x[i * 3 + 2], i % 3);
  // The classes are far apart in pixel space (200 / 255 on different rows): nearest embedded
  // neighbours agree on the class.
  EXPECT_GE(nearest_neighbour_agreement(emb), 58);
  const auto input =
      nlohmann::json::parse(slurp(dir_ / "a" / "summary.json")).at("config").at("input");
  EXPECT_EQ(input.at("format"), "idx");
  EXPECT_EQ(input.at("columns"), kRows * kCols);
  EXPECT_EQ(input.at("rows"), 60);
  EXPECT_EQ(input.at("path"), images.string());

  // Bad input: --label-column has no meaning for IDX; --input and --idx exclude each other; no
  // data at all; a truncated IDX file; too few labels for --limit.
  const std::string q = " --device cpu --iterations 10 ";
  expect_failure(q + "--idx " + images.string() + " --label-column", 2, "--label-column");
  expect_failure(q + "--idx " + images.string() + " --input " + data_.string(), 2, "--idx");
  expect_failure(q, 2, "--idx");
  {
    std::vector<uint8_t> few(static_cast<size_t>(2) * kRows * kCols, 7);
    write_idx_images((dir_ / "two.idx").string(), 2, kRows, kCols, few, false);
    std::string bytes = slurp(dir_ / "two.idx");
    bytes.resize(bytes.size() - 5);
    std::ofstream(dir_ / "cut.idx", std::ios::binary) << bytes;
  }
  expect_failure(q + "--idx " + (dir_ / "cut.idx").string(), 1, "cut.idx");
  std::vector<uint8_t> ten(labels.begin(), labels.begin() + 10);
  write_idx_labels((dir_ / "ten-labels").string(), ten, true);
  expect_failure(
      q + "--limit 60 --idx " + images.string() + " --labels " + (dir_ / "ten-labels").string(), 1,
      "--labels");
}

// ---- issue 17 ---------------------------------------------------------------------------------

// Cases 7, 8, 9 and 12: huge values, a directory, a blank line in a label list, a binary file as
// labels and a non-power-of-two FFT grid each give one line naming the problem and the fix.
TEST_F(TsneApp, ClearMessagesForBadFiles) {
  const std::string in = " --device cpu --iterations 10 --input ";
  std::string huge;
  for (int i = 0; i < 30; ++i) huge += std::to_string(i % 7) + "e30,1," + std::to_string(i) + "\n";
  std::ofstream(dir_ / "huge.csv") << huge;
  expect_failure(in + (dir_ / "huge.csv").string(), 1, "rescale the data");
  fs::create_directories(dir_ / "adir");
  expect_failure(in + (dir_ / "adir").string(), 1, "is a directory");
  std::string blank = "label\n";
  for (int i = 0; i < 120; ++i) blank += i == 60 ? " \n" : std::to_string(i % 3) + "\n";
  std::ofstream(dir_ / "blank.csv") << blank;
  expect_failure(in + data_.string() + " --labels " + (dir_ / "blank.csv").string(), 1,
                 "blank line");
  std::ofstream(dir_ / "image.png", std::ios::binary)
      << std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  std::string err;
  EXPECT_EQ(run(in + data_.string() + " --labels " + (dir_ / "image.png").string() + " --out " +
                    (dir_ / "fail").string(),
                &err),
            1);
  EXPECT_NE(err.find("not a CSV text file"), std::string::npos) << err;
  for (const char c : err)
    EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "raw byte in the message: " << err;
  expect_failure(in + data_.string() + " --fft-grid 100", 2, "power of two");
}

// Case 11: --limit stops reading the CSV: a broken row after the limit is never reached.
TEST_F(TsneApp, LimitStopsReading) {
  std::string text = slurp(data_);
  text += "this row, is, broken\n";
  std::ofstream(dir_ / "tail.csv") << text;
  std::string err;
  EXPECT_EQ(run("--device cpu --perplexity 10 --iterations 20 --label-column --limit 100 --input " +
                    (dir_ / "tail.csv").string() + " --out " + (dir_ / "lim").string(),
                &err),
            0)
      << err;
  EXPECT_EQ(read_csv_matrix((dir_ / "lim/embedding.csv").string()).n, 100);
}

// Case 10: the exit codes every app documents: a command line wrong by itself is 2, whether the
// parser refuses it (--input with --idx is declared to the parser) or the app does (a value out of
// range, an unknown choice), and it reads as the parser's refusals do.
TEST_F(TsneApp, FlagErrorsExitWithTheDocumentedCodes) {
  expect_failure("--device cpu --input " + data_.string() + " --seed -1", 2, "--seed");
  expect_failure("--device cpu --input " + data_.string() + " --no-such-flag", 2, "no-such-flag");
  expect_failure("--input " + data_.string() + " --device tpu", 2,
                 "--device must be auto, cpu or cuda, got 'tpu' (see --help)");
  // The t-SNE settings are checked before the input is read: with a file that does not exist,
  // the flag is what the one line names (exit 2), not the file (exit 1).
  const std::string missing = (dir_ / "no_such.csv").string();
  expect_failure("--device cpu --input " + missing + " --dims 4", 2,
                 "--dims must be 2 or 3, got 4 (see --help)");
  expect_failure("--device cpu --input " + missing + " --perplexity 0", 2,
                 "--perplexity must be positive, got 0 (see --help)");
  expect_failure("--device cpu --input " + missing + " --iterations -1", 2,
                 "--iterations must be >= 0, got -1 (see --help)");
}

}  // namespace
}  // namespace latentkit
