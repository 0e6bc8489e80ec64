// The one enum <-> name mechanism (latentkit/core/enum_names.h) and the enum flags built on it
// (add_enum_option in latentkit/pipelines/app.h): every enum that has names round-trips through
// them, aliases parse but are never printed, unknown names give the one message form (FlagError on
// the command line, InputError for a name read from a file), and an enum flag is refused by the
// parser, before the app's body runs.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "latentkit/core/device.h"
#include "latentkit/core/enum_names.h"
#include "latentkit/families/gmm.h"
#include "latentkit/families/mmd.h"
#include "latentkit/families/op_types.h"
#include "latentkit/families/tsne.h"
#include "latentkit/families/vae.h"
#include "latentkit/io/data.h"
#include "latentkit/pipelines/app.h"
#include "latentkit/pipelines/rbm_mnist.h"

namespace latentkit {
namespace {

// Every value of E: enum_name gives its first table name, parse_enum maps that name back, the
// names are distinct, and nothing prints as "?". `values` lists the enum's values by hand (not from
// the table), so a value missing from the table fails here.
template <class E>
void expect_round_trip(const std::vector<E>& values, const std::string& flag) {
  SCOPED_TRACE(flag);
  EXPECT_EQ(std::string(EnumNames<E>::flag), flag);
  std::set<std::string> seen;
  for (E v : values) {
    const std::string name = enum_name(v);
    EXPECT_NE(name, "?");
    EXPECT_TRUE(seen.insert(name).second) << "two values named " << name;
    EXPECT_EQ(parse_enum<E>(name), v) << name;
    EXPECT_EQ(parse_enum_in<E>(name, "the file"), v) << name;
  }
  // Names are exact: no case folding, no prefixes, no empty name.
  for (const std::string bad : {std::string(""), std::string(" "), std::string("X")}) {
    EXPECT_THROW(parse_enum<E>(bad), FlagError) << "'" << bad << "'";
  }
}

TEST(EnumNames, EveryEnumRoundTrips) {
  expect_round_trip<Activation>({Activation::Identity, Activation::ReLU, Activation::LeakyReLU,
                                 Activation::Tanh, Activation::Sigmoid},
                                "--activation");
  expect_round_trip<Likelihood>({Likelihood::Gaussian, Likelihood::Bernoulli}, "--likelihood");
  expect_round_trip<ScaleKind>({ScaleKind::None, ScaleKind::Standard, ScaleKind::MinMax},
                               "--scale");
  expect_round_trip<GmmCovariance>({GmmCovariance::Full, GmmCovariance::Diag}, "--covariance");
  expect_round_trip<GmmInit>({GmmInit::KMeans, GmmInit::Random}, "--init");
  expect_round_trip<MmdKernel>({MmdKernel::Rbf, MmdKernel::Imq}, "--kernel");
  expect_round_trip<TsneMethod>({TsneMethod::Auto, TsneMethod::Exact, TsneMethod::Fft}, "--method");
  expect_round_trip<TsneInit>({TsneInit::Pca, TsneInit::Random}, "--init");
  expect_round_trip<Binarize>({Binarize::None, Binarize::Threshold, Binarize::Stochastic},
                              "--binarize");
  expect_round_trip<SampleInit>({SampleInit::Random, SampleInit::Noise, SampleInit::Data},
                                "--sample-init");
  expect_round_trip<DeviceChoice>({DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda},
                                  "--device");
}

// The names other code relies on (summary.json, model file headers, README) stay what they were.
TEST(EnumNames, NamesAreTheDocumentedOnes) {
  EXPECT_STREQ(enum_name(Activation::LeakyReLU), "leaky_relu");
  EXPECT_STREQ(enum_name(Likelihood::Gaussian), "gaussian");
  EXPECT_STREQ(enum_name(ScaleKind::MinMax), "minmax");
  EXPECT_STREQ(enum_name(GmmInit::KMeans), "kmeans");
  EXPECT_STREQ(enum_name(TsneMethod::Fft), "fft");
  EXPECT_STREQ(enum_name(Binarize::Stochastic), "stochastic");
  EXPECT_STREQ(enum_name(DeviceChoice::Cuda), "cuda");
}

TEST(EnumNames, AliasesParseButAreNeverPrintedOrListed) {
  EXPECT_EQ(parse_enum<DeviceChoice>("gpu"), DeviceChoice::Cuda);
  EXPECT_STREQ(enum_name(DeviceChoice::Cuda), "cuda");
  EXPECT_EQ(enum_choices<DeviceChoice>(), "auto | cpu | cuda");
  EXPECT_EQ(enum_choices<DeviceChoice>(", "), "auto, cpu, cuda");
}

TEST(EnumNames, UnknownNameMessages) {
  // Two, three and five names: "a or b", "a, b or c", "a, b, c, d or e".
  const auto message = [](auto parse) -> std::string {
    try {
      parse();
    } catch (const InputError& e) {
      return e.what();
    }
    return "(nothing thrown)";
  };
  EXPECT_EQ(message([] { parse_enum<GmmCovariance>("spherical"); }),
            "--covariance must be full or diag, got 'spherical'");
  EXPECT_EQ(message([] { parse_enum<ScaleKind>("Standard"); }),
            "--scale must be none, standard or minmax, got 'Standard'");
  EXPECT_EQ(message([] { parse_enum<Activation>("gelu"); }),
            "--activation must be identity, relu, leaky_relu, tanh or sigmoid, got 'gelu'");
  // The flag a caller names (the same enum under another flag) replaces the default one.
  EXPECT_EQ(message([] { parse_enum<GmmInit>("pca", "--gmm-init"); }),
            "--gmm-init must be kmeans or random, got 'pca'");
  // On the command line a FlagError (exit 2); from a file an InputError that is not one (exit 1).
  EXPECT_THROW(parse_enum<MmdKernel>("gauss"), FlagError);
  bool flag_error = true;
  try {
    parse_enum_in<Likelihood>("poisson", "the model's likelihood");
  } catch (const FlagError&) {
  } catch (const InputError& e) {
    flag_error = false;
    EXPECT_STREQ(e.what(), "the model's likelihood must be gaussian or bernoulli, got 'poisson'");
  }
  EXPECT_FALSE(flag_error);
}

TEST(EnumNames, NameOfAValueOutsideTheTableIsAQuestionMark) {
  EXPECT_STREQ(enum_name(static_cast<TsneInit>(7)), "?");
}

struct DemoRun {
  int code = -1;
  std::string err;
  bool body_ran = false;
  GmmCovariance covariance = GmmCovariance::Full;
  std::string help;
};

DemoRun run_enum_demo(std::vector<std::string> args) {
  CLI::App app{"demo"};
  DemoRun r;
  add_enum_option(app, "--covariance", r.covariance, "full | diag");
  args.insert(args.begin(), "demo");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream err;
  r.code = run_app(
      "demo", app, static_cast<int>(argv.size()), argv.data(), [&] { r.body_ran = true; }, err);
  r.err = err.str();
  r.help = app.help();
  return r;
}

TEST(EnumFlag, ParsesIntoTheEnumAndKeepsTheDefault) {
  DemoRun r = run_enum_demo({});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.covariance, GmmCovariance::Full);
  // --help shows the default by name.
  EXPECT_NE(r.help.find("full"), std::string::npos) << r.help;
  r = run_enum_demo({"--covariance", "diag"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.body_ran);
  EXPECT_EQ(r.covariance, GmmCovariance::Diag);
}

TEST(EnumFlag, UnknownValueIsRefusedByTheParserWithExit2) {
  const DemoRun r = run_enum_demo({"--covariance", "spherical"});
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(r.body_ran);
  EXPECT_EQ(r.err, "demo: --covariance must be full or diag, got 'spherical' (see --help)\n");
}

}  // namespace
}  // namespace latentkit
