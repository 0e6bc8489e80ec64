// The VAE pipeline composed from backend ops (see latentkit/families/vae.h).
#include "latentkit/families/vae.h"

#include <algorithm>
#include <cmath>

#include "latentkit/core/check.h"

namespace latentkit {

VaeLayout::VaeLayout(const VaeConfig& cfg) {
  LK_INPUT_CHECK(cfg.input_dim > 0, "input dimension must be positive, got " << cfg.input_dim);
  LK_FLAG_CHECK(cfg.latent > 0, "--latent must be positive, got " << cfg.latent);
  LK_FLAG_CHECK(!cfg.hidden.empty(), "--hidden needs at least one layer width");
  for (int h : cfg.hidden) LK_FLAG_CHECK(h > 0, "--hidden widths must be positive, got " << h);
  auto add = [this](int in, int out, Activation act) {
    DenseLayer layer{in, out, act, param_count, param_count + static_cast<size_t>(in) * out};
    param_count = layer.b_offset + static_cast<size_t>(out);
    return layer;
  };
  int width = cfg.input_dim;
  for (int h : cfg.hidden) {
    encoder.push_back(add(width, h, cfg.hidden_act));
    width = h;
  }
  mu_head = add(width, cfg.latent, Activation::Identity);
  logvar_head = add(width, cfg.latent, Activation::Identity);
  width = cfg.latent;
  for (auto it = cfg.hidden.rbegin(); it != cfg.hidden.rend(); ++it) {
    decoder.push_back(add(width, *it, cfg.hidden_act));
    width = *it;
  }
  decoder.push_back(add(width, cfg.input_dim, Activation::Identity));
}

std::vector<const DenseLayer*> VaeLayout::layers() const {
  std::vector<const DenseLayer*> all;
  for (auto& l : encoder) all.push_back(&l);
  all.push_back(&mu_head);
  all.push_back(&logvar_head);
  for (auto& l : decoder) all.push_back(&l);
  return all;
}

std::vector<float> init_vae_params(const VaeLayout& layout, uint64_t seed) {
  std::vector<float> p(layout.param_count);
  const std::vector<const DenseLayer*> layers = layout.layers();
  for (size_t li = 0; li < layers.size(); ++li) {
    const DenseLayer& l = *layers[li];
    const double bound = 1.0 / std::sqrt(static_cast<double>(l.in));
    const size_t count = static_cast<size_t>(l.in) * l.out + l.out;  // W then b, contiguous
    for (size_t i = 0; i < count; ++i) {
      const double u = philox_uniform(seed, RngStream::Init, static_cast<uint32_t>(li), i);
      p[l.w_offset + i] = static_cast<float>((2.0 * u - 1.0) * bound);
    }
  }
  return p;
}

Vae::Vae(Backend& backend, const VaeConfig& cfg, int max_batch)
    : backend_(backend), cfg_(cfg), layout_(cfg), max_batch_(max_batch) {
  LK_INPUT_CHECK(max_batch > 0, "batch size must be positive, got " << max_batch);
  params_ = backend_.alloc(layout_.param_count);
  grads_ = backend_.alloc(layout_.param_count);
  const size_t B = static_cast<size_t>(max_batch);
  for (auto& l : layout_.encoder) {
    enc_act_.push_back(backend_.alloc(B * l.out));
    enc_grad_.push_back(backend_.alloc(B * l.out));
  }
  for (auto& l : layout_.decoder) {
    dec_act_.push_back(backend_.alloc(B * l.out));
    dec_grad_.push_back(backend_.alloc(B * l.out));
  }
  const size_t BL = B * cfg.latent;
  mu_ = backend_.alloc(BL);
  logvar_ = backend_.alloc(BL);
  eps_ = backend_.alloc(BL);
  z_ = backend_.alloc(BL);
  dmu_ = backend_.alloc(BL);
  dlogvar_ = backend_.alloc(BL);
  dz_ = backend_.alloc(BL);
  // Every layer's backward may write its n x out dZ here: the widest output of all of them, the
  // latent heads included (--latent may exceed every hidden width and D).
  size_t widest = 0;
  for (const DenseLayer* l : layout_.layers())
    widest = std::max(widest, static_cast<size_t>(l->out));
  dz_scratch_ = backend_.alloc(B * widest);
}

void Vae::set_params(const std::vector<float>& host) {
  LK_INPUT_CHECK(host.size() == layout_.param_count,
                 "model has " << layout_.param_count << " parameters, got " << host.size());
  backend_.to_backend(params_.data(), host.data(), host.size());
}

std::vector<float> Vae::get_params() { return backend_.download(params_.data(), params_.size()); }

// Encoder and heads for n rows; the heads write into mu and logvar (any backend arrays).
void Vae::encoder_forward(const float* x, int n, float* mu, float* logvar) {
  const float* in = x;
  float* P = params_.data();
  for (size_t i = 0; i < layout_.encoder.size(); ++i) {
    const DenseLayer& l = layout_.encoder[i];
    backend_.dense_forward(in, P + l.w_offset, P + l.b_offset, enc_act_[i].data(), n, l.in, l.out,
                           l.act, kDefaultLeakySlope);
    in = enc_act_[i].data();
  }
  for (auto [head, dst] : {std::pair{&layout_.mu_head, mu}, std::pair{&layout_.logvar_head, logvar}})
    backend_.dense_forward(in, P + head->w_offset, P + head->b_offset, dst, n, head->in,
                           head->out, head->act, kDefaultLeakySlope);
}

// Decoder for n rows; hidden outputs stay in dec_act_, the output layer writes into `out`.
void Vae::decoder_forward(const float* z, int n, float* out) {
  const float* in = z;
  float* P = params_.data();
  for (size_t i = 0; i < layout_.decoder.size(); ++i) {
    const DenseLayer& l = layout_.decoder[i];
    float* dst = i + 1 == layout_.decoder.size() ? out : dec_act_[i].data();
    backend_.dense_forward(in, P + l.w_offset, P + l.b_offset, dst, n, l.in, l.out, l.act,
                           kDefaultLeakySlope);
    in = dst;
  }
}

void Vae::forward_backward(const float* xb, int n, uint64_t seed, uint32_t step,
                           StepLossRows rows) {
  LK_CHECK(n > 0 && n <= max_batch_, "batch of " << n << " rows, model sized for " << max_batch_);
  const int L = cfg_.latent, D = cfg_.input_dim;
  float* P = params_.data();
  float* G = grads_.data();
  const float slope = kDefaultLeakySlope;

  // ---- forward ----
  encoder_forward(xb, n, mu_.data(), logvar_.data());
  backend_.reparam_forward(mu_.data(), logvar_.data(), n, L, seed, step, eps_.data(), z_.data());
  decoder_forward(z_.data(), n, dec_act_.back().data());

  // ---- loss: mean over the batch rows ----
  const float inv_n = 1.0f / static_cast<float>(n);
  const size_t out_i = layout_.decoder.size() - 1;
  if (cfg_.likelihood == Likelihood::Gaussian)
    backend_.sse_loss(dec_act_[out_i].data(), xb, n, D, inv_n, dec_grad_[out_i].data(), rows.recon);
  else
    backend_.bce_logits_loss(dec_act_[out_i].data(), xb, n, D, inv_n, dec_grad_[out_i].data(),
                             rows.recon);

  // ---- backward: decoder ----
  for (size_t i = layout_.decoder.size(); i-- > 0;) {
    const DenseLayer& l = layout_.decoder[i];
    const float* in = i == 0 ? z_.data() : dec_act_[i - 1].data();
    float* d_in = i == 0 ? dz_.data() : dec_grad_[i - 1].data();
    backend_.dense_backward(in, P + l.w_offset, dec_act_[i].data(), dec_grad_[i].data(), d_in,
                            G + l.w_offset, G + l.b_offset, n, l.in, l.out, l.act, slope, false,
                            dz_scratch_.data(), dz_scratch_.size());
  }
  // ---- latent: reparameterisation, then the KL term adds its gradient ----
  backend_.reparam_backward(dz_.data(), logvar_.data(), eps_.data(), n, L, dmu_.data(),
                            dlogvar_.data());
  backend_.kl_normal_loss(mu_.data(), logvar_.data(), n, L, cfg_.beta * inv_n, dmu_.data(),
                          dlogvar_.data(), rows.kl);
  // ---- heads, both feeding the last encoder layer's gradient ----
  const size_t last = layout_.encoder.size() - 1;
  const float* h = enc_act_[last].data();
  float* dh = enc_grad_[last].data();
  const DenseLayer& mh = layout_.mu_head;
  const DenseLayer& lh = layout_.logvar_head;
  backend_.dense_backward(h, P + mh.w_offset, mu_.data(), dmu_.data(), dh, G + mh.w_offset,
                          G + mh.b_offset, n, mh.in, mh.out, mh.act, slope, false,
                          dz_scratch_.data(), dz_scratch_.size());
  backend_.dense_backward(h, P + lh.w_offset, logvar_.data(), dlogvar_.data(), dh, G + lh.w_offset,
                          G + lh.b_offset, n, lh.in, lh.out, lh.act, slope, true,
                          dz_scratch_.data(), dz_scratch_.size());
  // ---- encoder ----
  for (size_t i = layout_.encoder.size(); i-- > 0;) {
    const DenseLayer& l = layout_.encoder[i];
    const float* in = i == 0 ? xb : enc_act_[i - 1].data();
    float* d_in = i == 0 ? nullptr : enc_grad_[i - 1].data();
    backend_.dense_backward(in, P + l.w_offset, enc_act_[i].data(), enc_grad_[i].data(), d_in,
                            G + l.w_offset, G + l.b_offset, n, l.in, l.out, l.act, slope, false,
                            dz_scratch_.data(), dz_scratch_.size());
  }
}

void Vae::encode(const float* x, int n, float* mu, float* logvar) {
  const size_t L = cfg_.latent, D = cfg_.input_dim;
  for (int r0 = 0; r0 < n; r0 += max_batch_)
    encoder_forward(x + r0 * D, std::min(max_batch_, n - r0), mu + r0 * L, logvar + r0 * L);
}

void Vae::decode(const float* z, int n, float* out) {
  const size_t L = cfg_.latent, D = cfg_.input_dim;
  for (int r0 = 0; r0 < n; r0 += max_batch_)
    decoder_forward(z + r0 * L, std::min(max_batch_, n - r0), out + r0 * D);
}

}  // namespace latentkit
