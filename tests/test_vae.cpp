// Tests of the VAE pipeline on the CPU backend (latentkit/families/vae.h, latentkit/families/train.h):
//  (a) the parameter layout of the seed configuration (34823 parameters, contiguous offsets);
//  (b) init_vae_params: deterministic, within torch.nn.Linear's bounds, seed-dependent;
//  (c) the whole-model gradient of Vae::forward_backward against central finite differences of
//      the mean minibatch loss, for both likelihoods;
//  (d) Trainer: the loss falls over a few epochs; runs are bitwise reproducible per seed;
//  (e) Trainer::state() / restore(): resuming reproduces an uninterrupted run bit for bit.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/families/train.h"
#include "latentkit/families/vae.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test::all_close;
using test::Tolerance;

VaeConfig seed_config() {
  VaeConfig cfg;  // 3-128-128-(2,2), decoder 2-128-128-3
  cfg.input_dim = 3;
  cfg.hidden = {128, 128};
  cfg.latent = 2;
  return cfg;
}

std::vector<const DenseLayer*> layers_in_order(const VaeLayout& l) {
  std::vector<const DenseLayer*> v;
  for (auto& e : l.encoder) v.push_back(&e);
  v.push_back(&l.mu_head);
  v.push_back(&l.logvar_head);
  for (auto& d : l.decoder) v.push_back(&d);
  return v;
}

// ---- (a) layout -------------------------------------------------------------------------------

TEST(VaeLayout, SeedConfigCountAndContiguousOffsets) {
  const VaeConfig cfg = seed_config();
  const VaeLayout layout(cfg);
  // encoder 3*128+128 + 128*128+128, heads 2 * (128*2+2), decoder 2*128+128 + 128*128+128 +
  // 128*3+3 = 512 + 16512 + 516 + 384 + 16512 + 387.
  EXPECT_EQ(layout.param_count, 34823u);
  ASSERT_EQ(layout.encoder.size(), 2u);
  ASSERT_EQ(layout.decoder.size(), 3u);
  const int shapes[][2] = {{3, 128}, {128, 128}, {128, 2}, {128, 2},
                           {2, 128}, {128, 128}, {128, 3}};
  const auto layers = layers_in_order(layout);
  ASSERT_EQ(layers.size(), std::size(shapes));
  size_t next = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const DenseLayer& l = *layers[i];
    EXPECT_EQ(l.in, shapes[i][0]);
    EXPECT_EQ(l.out, shapes[i][1]);
    EXPECT_EQ(l.w_offset, next) << "weights follow the previous layer's bias";
    EXPECT_EQ(l.b_offset, l.w_offset + static_cast<size_t>(l.in) * l.out) << "bias follows W";
    next = l.b_offset + l.out;
    const bool hidden = i < 2 || (i >= 4 && i < 6);
    EXPECT_EQ(l.act, hidden ? cfg.hidden_act : Activation::Identity);
  }
  EXPECT_EQ(next, layout.param_count) << "no gap or overlap at the end";

  VaeConfig bad = cfg;
  bad.hidden = {};
  EXPECT_THROW(VaeLayout{bad}, InputError);
  bad = cfg;
  bad.hidden = {128, 0};
  EXPECT_THROW(VaeLayout{bad}, InputError);
  bad = cfg;
  bad.latent = 0;
  EXPECT_THROW(VaeLayout{bad}, InputError);
  bad = cfg;
  bad.input_dim = -1;
  EXPECT_THROW(VaeLayout{bad}, InputError);
}

// ---- (b) initialisation -----------------------------------------------------------------------

TEST(VaeInit, DeterministicBoundedSeedDependent) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  const VaeLayout layout(seed_config());
  const std::vector<float> a = init_vae_params(layout, seed);
  ASSERT_EQ(a.size(), layout.param_count);
  EXPECT_EQ(init_vae_params(layout, seed), a) << "not deterministic";
  const std::vector<float> b = init_vae_params(layout, seed + 1);
  size_t equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  // Independent U(-r, r) floats coincide with probability ~2^-24 each: expect ~0 of 34823.
  EXPECT_LE(equal, 5u) << "another seed must give other weights";

  for (const DenseLayer* l : layers_in_order(layout)) {
    SCOPED_TRACE("layer " + std::to_string(l->in) + "->" + std::to_string(l->out));
    const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(l->in)));
    const size_t count = static_cast<size_t>(l->in) * l->out + l->out;
    double mean = 0, max_abs = 0;
    for (size_t i = 0; i < count; ++i) {
      const float p = a[l->w_offset + i];
      ASSERT_TRUE(std::isfinite(p));
      // (2u - 1) * bound with u in (0, 1], rounded to float: within [-bound, bound] (rounding is
      // monotone, so it never crosses float(bound)).
      ASSERT_LE(std::fabs(p), bound) << "element " << i;
      mean += p;
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(p)));
    }
    mean /= count;
    // U(-r, r) has sd r / sqrt(3); the mean of `count` draws is within 5 standard errors of 0, and
    // with >= 258 draws the largest |p| exceeds 0.9 r except with probability 0.9^258 < 1e-11.
    EXPECT_LE(std::fabs(mean), 5 * bound / std::sqrt(3.0 * count));
    EXPECT_GT(max_abs, 0.9 * bound);
  }
  // The two heads have the same shape but different stream offsets: different values.
  EXPECT_NE(
      std::vector<float>(a.begin() + layout.mu_head.w_offset, a.begin() + layout.mu_head.b_offset),
      std::vector<float>(a.begin() + layout.logvar_head.w_offset,
                         a.begin() + layout.logvar_head.b_offset));
}

// ---- (c) gradient check -----------------------------------------------------------------------

// Mean minibatch loss as the model defines it: (sum_r recon_r + beta * sum_r kl_r) / n, from the
// per-row losses forward_backward writes (summed in double).
double mean_loss(Vae& vae, const float* xb, int n, uint64_t seed, uint32_t step) {
  std::vector<float> recon(n, test::kPoison), kl(n, test::kPoison);
  vae.forward_backward(xb, n, seed, step, {recon.data(), kl.data()});
  double total = 0;
  for (int r = 0; r < n; ++r)
    total += static_cast<double>(recon[r]) + static_cast<double>(vae.config().beta) * kl[r];
  return total / n;
}

void gradient_check(Likelihood likelihood) {
  LK_SEEDED_RNG(rng);
  auto backend = make_cpu_backend();
  VaeConfig cfg;
  cfg.input_dim = 3;
  cfg.hidden = {5, 4};
  cfg.latent = 2;
  cfg.hidden_act = Activation::Tanh;  // smooth, so central differences converge
  cfg.likelihood = likelihood;
  cfg.beta = 0.7f;
  const int n = 4;
  Vae vae(*backend, cfg, n);
  const std::vector<float> p0 = init_vae_params(vae.layout(), rng());
  const size_t P = p0.size();
  // Inputs: Gaussian targets anywhere, Bernoulli targets in [0, 1].
  const auto x =
      likelihood == Likelihood::Gaussian
          ? test::random_uniform<float>(static_cast<size_t>(n) * cfg.input_dim, rng, -2, 2)
          : test::random_uniform<float>(static_cast<size_t>(n) * cfg.input_dim, rng, 0, 1);
  Array<float> xb = backend->upload(x);
  const uint64_t seed = rng();
  const uint32_t step = static_cast<uint32_t>(rng() % 1000);

  vae.set_params(p0);
  backend->fill(vae.grads(), test::kPoison, P);  // every gradient must be written
  mean_loss(vae, xb.data(), n, seed, step);
  const std::vector<float> grad = backend->download(vae.grads(), P);

  // Central differences of the float32 model. Step h_i = 1e-2 * max(|p_i|, 0.1): the float32
  // forward pass carries a rounding noise of ~c * eps_f * |L| (eps_f = 6e-8, c ~ 10 operations
  // deep), which the difference quotient divides by 2h: ~6e-7 |L| / 2e-3 ~ 3e-4 |L| at worst,
  // while the truncation error h^2 |L'''| / 6 stays ~1e-5 for this smooth (tanh) network. The
  // denominator is the step actually taken after rounding p_i +- h_i to float.
  std::vector<double> fd(P);
  for (size_t i = 0; i < P; ++i) {
    const double h = 1e-2 * std::max(std::fabs(static_cast<double>(p0[i])), 0.1);
    std::vector<float> pp = p0, pm = p0;
    pp[i] = static_cast<float>(p0[i] + h);
    pm[i] = static_cast<float>(p0[i] - h);
    vae.set_params(pp);
    const double lp = mean_loss(vae, xb.data(), n, seed, step);
    vae.set_params(pm);
    const double lm = mean_loss(vae, xb.data(), n, seed, step);
    fd[i] = (lp - lm) / (static_cast<double>(pp[i]) - static_cast<double>(pm[i]));
  }
  double gmax = 0;
  for (double g : fd) gmax = std::max(gmax, std::fabs(g));
  // Tolerance: rel_norm 1e-2 for the whole gradient; elementwise atol 1e-2 * max|g| (FD noise
  // on small components) and rtol 1e-2. The noise estimate above gives ~1e-4 .. 1e-3; over 800
  // fresh draws the worst rel_norm seen was 7e-4 and the worst element 4.5e-4 of max|g| + |g_i|,
  // so this is a >10x margin. A wrong term (a missing act', a lost or unscaled KL gradient, a
  // batch sum instead of the mean) is off by >= 30% on a whole layer.
  EXPECT_TRUE(all_close(grad, fd, Tolerance{1e-2 * gmax, 1e-2, 1e-2}));

  // The noise is a pure function of (seed, step): a repeated call gives bitwise the same
  // gradient; another step draws other noise and so another gradient.
  vae.set_params(p0);
  mean_loss(vae, xb.data(), n, seed, step);
  EXPECT_EQ(backend->download(vae.grads(), P), grad);
  mean_loss(vae, xb.data(), n, seed, step + 1);
  EXPECT_NE(backend->download(vae.grads(), P), grad);
}

TEST(VaeGradient, GaussianMatchesFiniteDifferences) { gradient_check(Likelihood::Gaussian); }
TEST(VaeGradient, BernoulliMatchesFiniteDifferences) { gradient_check(Likelihood::Bernoulli); }

// ---- (d), (e) training ------------------------------------------------------------------------

struct TrainFixture {
  std::unique_ptr<Backend> backend = make_cpu_backend();
  Dataset data;
  Array<float> xd;
  VaeConfig cfg = seed_config();
  TrainConfig tcfg;
  explicit TrainFixture(uint64_t data_seed, int n = 512) {
    GaussianMixtureSpec spec;
    spec.k = 3;
    spec.d = 3;
    spec.n = n;
    data = make_gaussian_mixture(spec, data_seed);
    const Scaler s = Scaler::fit(data, ScaleKind::Standard);
    s.transform(data.x, data.d);
    xd = backend->upload(data.x);
    tcfg.batch = 32;
    tcfg.adam.lr = 3e-3f;
  }
  // A model with initial weights from `init_seed`, trained `epochs` epochs with seed `seed`.
  std::unique_ptr<Vae> model(uint64_t init_seed) {
    auto vae = std::make_unique<Vae>(*backend, cfg, tcfg.batch);
    vae->set_params(init_vae_params(vae->layout(), init_seed));
    return vae;
  }
};

TEST(VaeTrainer, LossFallsAndRunsAreReproducible) {
  LK_SEEDED_RNG(rng);
  TrainFixture f(rng());
  const uint64_t seed = rng();
  f.tcfg.seed = seed;
  auto train = [&](uint64_t train_seed, int epochs, std::vector<EpochStats>* hist) {
    auto vae = f.model(train_seed);
    TrainConfig t = f.tcfg;
    t.seed = train_seed;
    Trainer tr(*vae, f.xd.data(), f.data.n, t);
    for (int e = 0; e < epochs; ++e) tr.run_epoch();
    if (hist) *hist = tr.history();
    return vae->get_params();
  };
  std::vector<EpochStats> hist;
  const std::vector<float> a = train(seed, 5, &hist);
  ASSERT_EQ(hist.size(), 5u);
  for (const auto& s : hist) {
    ASSERT_TRUE(std::isfinite(s.loss)) << "epoch " << s.epoch;
    EXPECT_NEAR(s.loss, s.recon + f.cfg.beta * s.kl, 1e-9 * std::fabs(s.loss));
  }
  // 5 epochs of 16 Adam steps at lr 3e-3 on standardised data: the first epoch's mean loss is
  // ~2.5 (recon of unit-variance data from a near-constant decoder), the fifth's ~1.3 .. 2.1 over
  // fresh seeds, so "last < first" has a wide margin while a model that does not learn fails.
  EXPECT_LT(hist.back().loss, hist.front().loss)
      << "first " << hist.front().loss << " last " << hist.back().loss;
  for (float p : a) ASSERT_TRUE(std::isfinite(p));

  EXPECT_EQ(train(seed, 5, nullptr), a) << "same seed: bitwise identical parameters";
  EXPECT_NE(train(seed + 1, 5, nullptr), a) << "another seed: other parameters";
}

TEST(VaeTrainer, StateRestoreResumesBitwise) {
  LK_SEEDED_RNG(rng);
  TrainFixture f(rng(), 333);  // 333 rows: the last minibatch of each epoch is partial (13 rows)
  f.tcfg.seed = rng();
  const uint64_t init_seed = rng();

  auto vae = f.model(init_seed);
  Trainer tr(*vae, f.xd.data(), f.data.n, f.tcfg);
  tr.run_epoch();
  tr.run_epoch();
  const TrainState st = tr.state();
  EXPECT_EQ(st.epoch, 2);
  EXPECT_EQ(st.step, 2 * tr.batches_per_epoch());
  EXPECT_EQ(st.history.size(), 2u);
  tr.run_epoch();
  tr.run_epoch();
  const TrainState end = tr.state();

  // A fresh model with other initial weights, restored from the checkpoint.
  auto vae2 = f.model(init_seed + 1);
  Trainer tr2(*vae2, f.xd.data(), f.data.n, f.tcfg);
  tr2.restore(st);
  EXPECT_EQ(tr2.epochs_done(), 2);
  EXPECT_EQ(tr2.steps_done(), st.step);
  EXPECT_EQ(vae2->get_params(), st.params);
  tr2.run_epoch();
  tr2.run_epoch();
  const TrainState end2 = tr2.state();
  EXPECT_EQ(end2.params, end.params) << "resumed run must equal the uninterrupted one bitwise";
  EXPECT_EQ(end2.adam_m, end.adam_m);
  EXPECT_EQ(end2.adam_v, end.adam_v);
  EXPECT_EQ(end2.step, end.step);
  ASSERT_EQ(end2.history.size(), 4u);
  for (int e = 0; e < 4; ++e) {
    EXPECT_EQ(end2.history[e].epoch, end.history[e].epoch);
    EXPECT_EQ(end2.history[e].loss, end.history[e].loss) << "epoch " << e + 1;
  }

  // Checkpoints of the wrong size or with an inconsistent step count are refused.
  TrainState wrong = st;
  wrong.params.pop_back();
  EXPECT_THROW(tr2.restore(wrong), InputError);
  wrong = st;
  wrong.adam_v.push_back(0.0f);
  EXPECT_THROW(tr2.restore(wrong), InputError);
  wrong = st;
  wrong.step += 1;
  EXPECT_THROW(tr2.restore(wrong), InputError);
  EXPECT_EQ(tr2.state().params, end2.params) << "a refused restore changes nothing";
}

}  // namespace
}  // namespace latentkit
