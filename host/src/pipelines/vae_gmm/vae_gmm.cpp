// The vae_gmm pipeline (see latentkit/pipelines/vae_gmm.h).
#include "latentkit/pipelines/vae_gmm.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/io/io.h"
#include "latentkit/ref/gmm_ref.h"

namespace latentkit {
namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json model_config_json(const VaeConfig& m) {
  return {{"input_dim", m.input_dim}, {"hidden", m.hidden}, {"latent", m.latent},
          {"hidden_activation", enum_name(m.hidden_act)},
          {"likelihood", enum_name(m.likelihood)}, {"beta", float_as_decimal(m.beta)}};
}

VaeConfig model_config_from_json(const nlohmann::json& j) {
  VaeConfig m;
  m.input_dim = j.at("input_dim").get<int>();
  m.hidden = j.at("hidden").get<std::vector<int>>();
  m.latent = j.at("latent").get<int>();
  // A name outside the table is a damaged file (exit 1), never silently another model.
  m.hidden_act = parse_enum_in<Activation>(j.at("hidden_activation").get<std::string>(),
                                           "the model's hidden_activation");
  m.likelihood =
      parse_enum_in<Likelihood>(j.at("likelihood").get<std::string>(), "the model's likelihood");
  m.beta = j.at("beta").get<float>();
  return m;
}

nlohmann::json scaler_json(const Scaler& s) {
  return {{"kind", enum_name(s.kind)}, {"shift", s.shift}, {"scale", s.scale}};
}

Scaler scaler_from_json(const nlohmann::json& j) {
  Scaler s;
  s.kind = parse_enum_in<ScaleKind>(j.at("kind").get<std::string>(), "the model's scaler kind");
  s.shift = j.at("shift").get<std::vector<double>>();
  s.scale = j.at("scale").get<std::vector<double>>();
  return s;
}

// Every file vae_gmm writes in --out: a later run removes those it does not write itself.
const std::vector<std::string> kOutputs = {"data.csv",           "generated.csv", "latent.csv",
                                           "loss.csv",           "model.lkm",     "tsne_latent.csv",
                                           "tsne_generated.csv", "summary.json",  "checkpoint.lkm"};

// What must match for a checkpoint to continue this run (epochs may grow): every setting that
// changes the trained weights, and the data itself (the generator's settings, and the FNV-1a of
// the rows, so a CSV whose contents changed under the same path is refused).
nlohmann::json run_identity(const VaeGmmOptions& opt, const Dataset& data) {
  return {{"model", model_config_json(opt.model)},
          {"batch", opt.train.batch},
          {"lr", opt.train.adam.lr},
          {"seed", opt.train.seed},
          {"n", data.n},
          {"d", data.d},
          {"input", opt.input_csv},
          {"mixture_k", opt.input_csv.empty() ? opt.mixture.k : 0},
          {"data_fnv1a", data_fingerprint(data.x)},
          {"scale", enum_name(opt.scale)}};
}

constexpr const char* kMemoryRemedy =
    "lower --n, --latent, --hidden, --n-generate or --mmd-permutations";

// Bytes of the run's largest buffers (the model's state is small beside them): the data (host,
// scaled, device and the CSV's double columns: 4 + 4 + 4 + 8 per value), the latent codes (mu and
// logvar on the device and host, and their CSV columns: 2 x (4 + 4 + 8) per code), the generated
// samples (z, decoded, host copy and CSV column) and the parameters with gradients and both Adam
// moments on device and host (6 copies).
double memory_estimate(const VaeGmmOptions& opt, double n, double d, double params) {
  const double latent = opt.model.latent, gen = opt.n_generate;
  const double perm = opt.mmd_stage.enabled ? opt.mmd_stage.permutations : 0.0;
  return n * d * 20 + n * latent * 32 + gen * (latent * 4 + d * 16) + params * 4 * 6 +
         perm * 16;  // the MMD stage keeps every permuted statistic twice (float64)
}

nlohmann::json history_json(const std::vector<EpochStats>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& e : h)
    a.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"recon", e.recon}, {"kl", e.kl},
                 {"seconds", e.seconds}});
  return a;
}

std::vector<EpochStats> history_from_json(const nlohmann::json& a) {
  std::vector<EpochStats> h;
  for (auto& e : a) {
    EpochStats s;
    s.epoch = e.at("epoch");
    s.loss = e.at("loss");
    s.recon = e.at("recon");
    s.kl = e.at("kl");
    s.seconds = e.at("seconds");
    h.push_back(s);
  }
  return h;
}

void save_checkpoint(const std::string& path, const nlohmann::json& identity, const TrainState& st) {
  ModelFile f;
  f.header = {{"kind", "vae_gmm-checkpoint"}, {"run", identity}, {"epoch", st.epoch},
              {"step", st.step}, {"history", history_json(st.history)}};
  f.sections = {{"params", st.params}, {"adam_m", st.adam_m}, {"adam_v", st.adam_v}};
  write_model_file(path, f);
}

TrainState load_checkpoint(const std::string& path, const nlohmann::json& identity) {
  const ModelFile f =
      read_checkpoint(path, "vae_gmm-checkpoint", "a vae_gmm checkpoint", identity, "--epochs");
  TrainState st;
  try {
    st.epoch = f.header.at("epoch");
    st.step = f.header.at("step");
    st.history = history_from_json(f.header.at("history"));
  } catch (const nlohmann::json::exception& e) {
    throw InputError("checkpoint '" + path + "' is damaged (" + e.what() +
                     "): delete it and run without --resume");
  }
  st.params = f.section("params");
  st.adam_m = f.section("adam_m");
  st.adam_v = f.section("adam_v");
  return st;
}

void print_progress(std::ostream& log, const EpochStats& s, int epochs, int64_t samples,
                    double elapsed, bool tty) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "epoch %4d/%d  loss %.4f  recon %.4f  kl %.4f  elapsed %.1f s  %.0f samples/s",
                s.epoch, epochs, s.loss, s.recon, s.kl, elapsed,
                elapsed > 0 ? static_cast<double>(samples) / elapsed : 0.0);
  write_progress_line(log, buf, s.epoch == epochs, tty);
}

// Column names "x1".."xD" etc.
std::vector<std::string> names(const std::string& prefix, int count) {
  std::vector<std::string> v;
  for (int j = 1; j <= count; ++j) v.push_back(prefix + std::to_string(j));
  return v;
}

// Column-major double copy of a row-major [n, d] float matrix, for write_csv.
std::vector<std::vector<double>> columns_of(const std::vector<float>& x, int n, int d) {
  std::vector<std::vector<double>> cols(d, std::vector<double>(n));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) cols[j][i] = x[static_cast<size_t>(i) * d + j];
  return cols;
}

}  // namespace

VaeGmmResult run_vae_gmm(const VaeGmmOptions& opt_in, Backend& backend, std::ostream& log,
                         std::ostream& report) {
  VaeGmmOptions opt = opt_in;
  RunSummary summary("vae_gmm", backend, opt.train.seed);
  const auto t_start = Clock::now();

  // ---- check what can be checked before any work or output ----
  LK_FLAG_CHECK(opt.n_generate >= 0, "--n-generate must be >= 0, got " << opt.n_generate);
  LK_FLAG_CHECK(opt.checkpoint_every >= 0,
                "--checkpoint-every must be >= 0, got " << opt.checkpoint_every);
  LK_FLAG_CHECK(opt.model.beta >= 0, "--beta must be >= 0, got " << opt.model.beta);
  LK_FLAG_CHECK(!(opt.resume && !opt.load_model.empty()), "--resume and --load exclude each other");
  validate(opt.train);
  validate_pairwise_stages(opt.kmeans_stage, opt.mmd_stage);
  validate_gmm_stage(opt.gmm);
  if (opt.load_model.empty()) (void)VaeLayout(opt.model);  // checks --hidden and --latent
  // (Bad --d / --n are left to make_gaussian_mixture, whose messages name them.)
  if (opt.input_csv.empty() && opt.load_model.empty() && opt.mixture.d > 0 && opt.mixture.n > 0) {
    VaeConfig m = opt.model;
    m.input_dim = opt.mixture.d;
    check_memory(memory_estimate(opt, opt.mixture.n, opt.mixture.d,
                                 static_cast<double>(VaeLayout(m).param_count)),
                 backend, "this run (data, latent codes, samples, model)", kMemoryRemedy);
  }
  // Stage gmm_bic fits GMMs to data of --d columns (CSV input: checked once it is read).
  LK_FLAG_CHECK(!opt.gmm.enabled || !opt.input_csv.empty() || opt.mixture.d <= ref::kGmmMaxDim,
                "--d " << opt.mixture.d << ": stage gmm_bic fits GMMs of 1 to " << ref::kGmmMaxDim
                       << " dimensions; pass --no-gmm to skip it");
  OutputDir out(opt.out_dir, kOutputs);  // locked and writable before any work

  // ---- data ----
  auto t0 = Clock::now();
  MixtureTruth truth;  // of the synthetic data: stage mode_coverage compares with it, the tsne
                       // stage labels generated samples by it
  Dataset data = opt.input_csv.empty() ? make_gaussian_mixture(opt.mixture, opt.train.seed, &truth)
                                       : read_csv_matrix(opt.input_csv);
  ModelFile loaded;
  Scaler scaler;
  if (!opt.load_model.empty()) {
    loaded = read_model_file(opt.load_model);
    LK_INPUT_CHECK(loaded.header.value("kind", "") == "vae_gmm-model",
                   "'" << opt.load_model << "' is not a vae_gmm model file");
    try {
      opt.model = model_config_from_json(loaded.header.at("model"));
      scaler = scaler_from_json(loaded.header.at("scaling"));
    } catch (const nlohmann::json::exception& e) {
      throw InputError("'" + opt.load_model + "' is not a valid vae_gmm model file (" + e.what() +
                       "): pass a model.lkm written by vae_gmm");
    } catch (const InputError& e) {  // a name outside its enum's table (parse_enum_in)
      throw InputError("'" + opt.load_model + "': " + e.what() +
                       ": pass a model.lkm written by vae_gmm");
    }
    (void)VaeLayout(opt.model);  // a header that passed the checksum may still be inconsistent
    LK_INPUT_CHECK(loaded.section("params").size() == VaeLayout(opt.model).param_count,
                   "'" << opt.load_model << "' holds " << loaded.section("params").size()
                       << " parameters, its header's model needs "
                       << VaeLayout(opt.model).param_count << ": the file is damaged");
    LK_INPUT_CHECK(opt.model.input_dim == data.d,
                   "model '" << opt.load_model << "' expects " << opt.model.input_dim
                             << " columns, the data has " << data.d);
  } else {
    opt.model.input_dim = data.d;
    scaler = Scaler::fit(data, opt.scale);
  }
  // A minibatch larger than the data is the whole data (as a PyTorch DataLoader takes it): clamped,
  // said on the log, and recorded (summary, checkpoint identity) as the batch used.
  if (opt.load_model.empty() && opt.train.batch > data.n) {
    log << "note: --batch " << opt.train.batch << " is more than the " << data.n
        << " rows of the data: training with batch " << data.n << "\n";
    opt.train.batch = data.n;
  }
  validate_tsne_stage(opt.tsne, data.n, opt.n_generate);
  // Checks of the data the later stages make, made now rather than after training.
  const std::string data_name = opt.input_csv.empty() ? "the data" : "'" + opt.input_csv + "'";
  LK_INPUT_CHECK(!opt.gmm.enabled || data.d <= ref::kGmmMaxDim,
                 data_name << " has " << data.d << " columns; stage gmm_bic fits GMMs of 1 to "
                           << ref::kGmmMaxDim << " dimensions: pass --no-gmm to skip it");
  if (opt.mmd_stage.enabled || opt.kmeans_stage.enabled || opt.tsne.iterations > 0)
    check_distance_scale(data.x, data.n, data.d, data_name,
                         "rescale the data, or skip the distance stages (--skip-mmd "
                         "--skip-kmeans --tsne-iterations 0)",
                         /*need_distinct=*/opt.tsne.iterations > 0);
  check_memory(memory_estimate(opt, data.n, data.d,
                               opt.load_model.empty()
                                   ? static_cast<double>(VaeLayout(opt.model).param_count)
                                   : static_cast<double>(loaded.section("params").size())),
               backend, "this run (data, latent codes, samples, model)", kMemoryRemedy);
  std::vector<float> scaled = data.x;
  scaler.transform(scaled, data.d);
  summary.time("data", seconds_since(t0));
  const std::string ckpt_path = out.live_path("checkpoint.lkm");
  if (opt.resume || opt.checkpoint_every > 0) out.keep("checkpoint.lkm");

  // ---- model ----
  const int batch = std::max(1, opt.train.batch);
  Vae vae(backend, opt.model, batch);
  const nlohmann::json identity = run_identity(opt, data);
  VaeGmmResult result;
  std::vector<EpochStats> history;
  t0 = Clock::now();
  const Array<float> x_dev = backend.upload(scaled);  // training and encoding both read it
  if (!opt.load_model.empty()) {
    vae.set_params(loaded.section("params"));
    log << "loaded " << opt.load_model << " (" << vae.layout().param_count
        << " parameters); training skipped\n";
  } else {
    Trainer trainer(vae, x_dev.data(), data.n, opt.train);
    if (opt.resume) {
      LK_INPUT_CHECK(std::filesystem::exists(ckpt_path),
                     "--resume: no checkpoint at '" << ckpt_path << "'; run with --checkpoint-every first");
      const TrainState st = load_checkpoint(ckpt_path, identity);
      LK_INPUT_CHECK(st.epoch <= opt.train.epochs,
                     "checkpoint is at epoch " << st.epoch << ", beyond --epochs " << opt.train.epochs);
      trainer.restore(st);
      log << "resumed from " << ckpt_path << " at epoch " << st.epoch << "\n";
    } else {
      vae.set_params(init_vae_params(vae.layout(), opt.train.seed));
    }
    log << "training: " << data.n << " samples x " << data.d << ", " << vae.layout().param_count
        << " parameters, " << opt.train.epochs << " epochs of " << trainer.batches_per_epoch()
        << " steps (batch " << opt.train.batch << ")\n";
    const auto t_train = Clock::now();
    int64_t samples = 0;
    while (trainer.epochs_done() < opt.train.epochs) {
      const EpochStats s = trainer.run_epoch();
      samples += data.n;
      LK_INPUT_CHECK(std::isfinite(s.loss),
                     "training diverged at epoch " << s.epoch << " (loss " << s.loss
                                                   << "): lower --lr or rescale the data");
      print_progress(log, s, opt.train.epochs, samples, seconds_since(t_train), opt.progress_tty);
      if (opt.checkpoint_every > 0 && s.epoch % opt.checkpoint_every == 0)
        save_checkpoint(ckpt_path, identity, trainer.state());
    }
    history = trainer.history();
    result.epochs_trained = trainer.epochs_done();
    if (!history.empty()) result.final_epoch = history.back();
  }
  {
    const double train_s = seconds_since(t0);
    StageResult train;
    if (!opt.load_model.empty()) {
      train = StageResult::skip("replaced by --load '" + opt.load_model + "'");
    } else if (history.empty()) {
      train = StageResult::skip("switched off by --epochs 0");
    } else {
      const EpochStats& f = history.back();
      train.result = {
          {"final", {{"epoch", f.epoch}, {"loss", f.loss}, {"recon", f.recon}, {"kl", f.kl}}},
          {"steps", static_cast<int64_t>(result.epochs_trained) *
                        ((data.n + opt.train.batch - 1) / opt.train.batch)}};
    }
    train.seconds = train_s;
    summary.add("train", train);
    if (!history.empty())
      summary.time("train_samples_per_s",
                   train_s > 0
                       ? data.n * (result.epochs_trained - (history.front().epoch - 1)) / train_s
                       : 0.0);
  }

  // ---- encode the data, generate from the prior ----
  t0 = Clock::now();
  const int L = opt.model.latent, D = data.d;
  std::vector<float> mu, logvar;
  {
    Array<float> mu_dev = backend.alloc(static_cast<size_t>(data.n) * L);
    Array<float> lv_dev = backend.alloc(static_cast<size_t>(data.n) * L);
    vae.encode(x_dev.data(), data.n, mu_dev.data(), lv_dev.data());
    mu = backend.download(mu_dev.data(), mu_dev.size());
    logvar = backend.download(lv_dev.data(), lv_dev.size());
  }
  summary.time("encode", seconds_since(t0));
  t0 = Clock::now();
  std::vector<float> generated;
  if (opt.n_generate > 0) {
    const size_t count = static_cast<size_t>(opt.n_generate);
    Array<float> z = backend.alloc(count * L);
    Array<float> out = backend.alloc(count * D);
    backend.fill_normal(z.data(), count * L, opt.train.seed, RngStream::Generate, 0);
    vae.decode(z.data(), opt.n_generate, out.data());
    generated = backend.download(out.data(), out.size());
    scaler.inverse(generated, D);  // back to data units
  }
  {
    StageResult gen =
        opt.n_generate > 0 ? StageResult() : StageResult::skip("switched off by --n-generate 0");
    if (opt.n_generate > 0) gen.result = {{"n", opt.n_generate}};
    gen.seconds = seconds_since(t0);
    summary.add("generate", gen);
  }
  for (const char* f : {"data.csv", "generated.csv", "latent.csv", "loss.csv", "model.lkm"})
    summary.output(f);

  // ---- analysis stages: each one returns its StageResult (summary.json's results.<name>, or
  // skipped with the reason; its wall time goes to timings_s.<name>) and prints a short report to
  // `report` (stdout in the app) ----
  const std::string no_samples = "no generated samples (--n-generate 0)";
  summary.add("kmeans", !opt.kmeans_stage.enabled
                            ? StageResult::skip("switched off by --skip-kmeans")
                        : opt.n_generate == 0
                            ? StageResult::skip(no_samples)
                            : vae_gmm_kmeans_stage(backend, generated, opt.n_generate, D,
                                                   opt.kmeans_stage, opt.train.seed, report));
  summary.add("mmd", !opt.mmd_stage.enabled ? StageResult::skip("switched off by --skip-mmd")
                     : opt.n_generate == 0
                         ? StageResult::skip(no_samples)
                         : vae_gmm_mmd_stage(backend, data.x, data.n, generated, opt.n_generate, D,
                                             opt.mmd_stage, opt.train.seed, report));
  summary.add("gmm_bic", run_gmm_bic_stage(backend, opt.gmm, generated, opt.n_generate, data.x,
                                           data.n, D, opt.train.seed, report,
                                           throttled_progress(log, "gmm_bic", opt.progress_tty)));
  summary.add("mode_coverage", run_mode_coverage_stage(
                                   opt.input_csv.empty() && opt.gmm.enabled ? &truth : nullptr,
                                   generated, opt.n_generate, D,
                                   opt.gmm.enabled ? "--input CSV: no true mixture to compare with"
                                                   : "switched off by " + opt.gmm.switched_off_by,
                                   report));
  summary.add("tsne",
              run_tsne_stage(backend, opt.tsne, opt.train.seed, mu, data.n, L, data.labels,
                             generated, opt.n_generate, D, opt.input_csv.empty() ? &truth : nullptr,
                             out.staging(), report));

  // ---- outputs: written under out.staging(), moved into --out together by out.commit() ----
  t0 = Clock::now();
  const std::string& dir = out.staging();
  {
    auto cols = columns_of(data.x, data.n, D);
    auto header = names("x", D);
    if (!data.labels.empty()) {
      cols.emplace_back(data.labels.begin(), data.labels.end());
      header.push_back("label");
    }
    write_csv(dir + "/data.csv", header, cols);
  }
  write_csv(dir + "/generated.csv", names("x", D), columns_of(generated, opt.n_generate, D));
  {
    auto cols = columns_of(mu, data.n, L);
    auto lv = columns_of(logvar, data.n, L);
    cols.insert(cols.end(), lv.begin(), lv.end());
    auto header = names("mu", L);
    for (auto& h : names("logvar", L)) header.push_back(h);
    if (!data.labels.empty()) {
      cols.emplace_back(data.labels.begin(), data.labels.end());
      header.push_back("label");
    }
    write_csv(dir + "/latent.csv", header, cols);
  }
  {
    std::vector<std::vector<double>> cols(5);
    for (auto& e : history) {
      cols[0].push_back(e.epoch);
      cols[1].push_back(e.loss);
      cols[2].push_back(e.recon);
      cols[3].push_back(e.kl);
      cols[4].push_back(e.seconds);
    }
    write_csv(dir + "/loss.csv", {"epoch", "loss", "recon", "kl", "seconds"}, cols);
  }
  if (opt.load_model.empty()) {
    ModelFile f;
    f.header = {{"kind", "vae_gmm-model"}, {"model", model_config_json(opt.model)},
                {"scaling", scaler_json(scaler)}, {"seed", opt.train.seed},
                {"epochs", result.epochs_trained}};
    f.sections = {{"params", vae.get_params()}};
    write_model_file(dir + "/model.lkm", f);
  } else {
    write_model_file(dir + "/model.lkm", loaded);  // the model these outputs came from
  }
  summary.time("write", seconds_since(t0));
  summary.time("total", seconds_since(t_start));

  summary.config() = {
      {"data", opt.input_csv.empty() ? nlohmann::json{{"source", "gaussian_mixture"},
                                                      {"k", opt.mixture.k},
                                                      {"d", opt.mixture.d},
                                                      {"n", opt.mixture.n}}
                                     : nlohmann::json{{"source", "csv"},
                                                      {"path", opt.input_csv},
                                                      {"n", data.n},
                                                      {"d", data.d}}},
      {"scale", enum_name(scaler.kind)},
      {"model", model_config_json(opt.model)},
      {"epochs", opt.train.epochs},
      {"batch", opt.train.batch},
      {"lr", float_as_decimal(opt.train.adam.lr)},
      {"n_generate", opt.n_generate},
      {"load", opt.load_model},
      {"resume", opt.resume},
      {"checkpoint_every", opt.checkpoint_every}};
  summary.write(dir + "/summary.json");
  out.commit();
  log << "wrote " << opt.out_dir << "/{data,generated,latent,loss}.csv, model.lkm"
      << (opt.load_model.empty() ? "" : " (a copy of --load)") << ", summary.json\n";
  return result;
}

}  // namespace latentkit
