// Packed weights: a matrix held in a block format widens a slab of rows at a time inside the
// products, so a quantized model runs at the format's size in memory and computes exactly what the
// float32 fake-quantized copy computes (same dequantized values, same products).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/core/threads.h"
#include "engine/formats/format_lookup.h"
#include "engine/model/forward.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/quantize_matrix.h"
#include "fixture_util.h"

namespace qlab::model {
namespace {

using qlab::testing::fixture;
using tensor::QuantizedStorage;

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(bits(a[i]), bits(b[i])) << what << " at " << i;
}

// Logits from products whose sums ran in another order. One product differs by at most
// (cols / 32 + 15) u sum |w x| (tests/unit/tensor/row_dot_test.cpp); through the layers, RMSNorm and
// softmax keep such relative differences near that size, so each logit stays within 2^-16 (1.5e-5)
// of the row's largest logit magnitude: about ten times the bound of a single product at these
// widths (about 1e-6 is seen), and far below the differences a format's rounding makes.
void expect_close_logits(const std::vector<float>& a, const std::vector<float>& b, std::size_t vocab,
                         const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0;
  for (std::size_t r = 0; r < a.size() / vocab; ++r) {
    double scale = 0;
    for (std::size_t j = 0; j < vocab; ++j) scale = std::max(scale, std::fabs(static_cast<double>(b[r * vocab + j])));
    for (std::size_t j = 0; j < vocab; ++j) {
      const double d = std::fabs(static_cast<double>(a[r * vocab + j]) - b[r * vocab + j]);
      worst = std::max(worst, d / scale);
      ASSERT_LE(d, std::ldexp(scale, -16)) << what << " at row " << r << ", logit " << j;
    }
  }
  ::testing::Test::RecordProperty(what, std::to_string(worst));
}

std::vector<tensor::Matrix*> linears(Model& m) {
  std::vector<tensor::Matrix*> out;
  for (auto& l : m.mutable_weights().layers)
    for (tensor::Matrix* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) out.push_back(t);
  return out;
}

// Round-to-nearest over every Linear weight (and the embeddings when asked), kept as `storage`.
Model quantized(const Model& base, const formats::BlockFormatSpec& spec, QuantizedStorage storage, bool embeddings) {
  Model m = base;
  for (tensor::Matrix* t : linears(m)) *t = tensor::quantize_matrix(*t, spec, storage);
  if (embeddings) {
    Weights& w = m.mutable_weights();
    const bool tied = w.lm_head.data == w.embed.data;
    w.embed = tensor::quantize_matrix(w.embed, spec, storage);
    w.lm_head = tied ? w.embed : tensor::quantize_matrix(w.lm_head, spec, storage);
  }
  return m;
}

// Products against a packed matrix equal those against its dequantized float32 copy, bit for bit: one
// row (decoding), a few (banded over the pool) and many (one BLAS call), with rows padded to whole
// blocks (2100 columns) and blocks that straddle rows (NF4 over the flattened tensor).
TEST(PackedWeights, ProductsEqualTheDequantizedFloat32Matrix) {
  set_thread_count(4);
  std::mt19937 rng(5);
  std::normal_distribution<float> d;
  const std::int64_t N = 1037, K = 2100;
  std::vector<float> w(static_cast<std::size_t>(N * K));
  for (auto& v : w) v = d(rng);
  const tensor::Matrix W = tensor::Matrix::owned_f32(w, N, K);
  for (const char* name : {"nvfp4", "int4-g128", "nf4", "int8-ch", "fp8-tensor"}) {
    SCOPED_TRACE(name);
    const auto& spec = formats::block_format(name);
    const tensor::Matrix packed = tensor::quantize_matrix(W, spec, QuantizedStorage::Packed);
    const tensor::Matrix dense = tensor::quantize_matrix(W, spec, QuantizedStorage::F32);
    ASSERT_EQ(packed.type, tensor::ElemType::Packed);
    EXPECT_EQ(packed.cols, K);
    EXPECT_EQ(packed.packed.cols, formats::padded_cols(spec, K));
    expect_same_bits(packed.to_f32(), dense.to_f32(), "widened values");
    EXPECT_EQ(packed.storage_bytes(), formats::storage_sizes(spec, N, formats::padded_cols(spec, K)).total());
    EXPECT_EQ(dense.storage_bytes(), static_cast<std::uint64_t>(N * K * 4));
    // ProductMath::Exact widens rows for every product; one row's product by default goes through
    // the row-dot kernels (tests/unit/tensor/row_dot_test.cpp compares those with this path).
    tensor::Matrix packed_exact = packed;
    packed_exact.math = tensor::ProductMath::Exact;
    for (std::int64_t M : {1, 7, 80}) {
      std::vector<float> x(static_cast<std::size_t>(M * K));
      for (auto& v : x) v = d(rng);
      std::vector<float> yp(static_cast<std::size_t>(M * N)), yd(yp.size());
      tensor::matmul(x.data(), M, packed_exact, yp.data());
      tensor::matmul(x.data(), M, dense, yd.data());
      expect_same_bits(yp, yd, "product of " + std::to_string(M) + " rows");
    }
  }
}

TEST(PackedWeights, MatrixRefusesPartsThatDoNotFit) {
  const auto& spec = formats::block_format("int4-g32");
  formats::QuantizedTensor q = formats::quantize(spec, std::vector<float>(4 * 64, 0.5f), 4, 64);
  EXPECT_NO_THROW(tensor::Matrix::borrowed_packed(q.view(), 40));  // rows of 40 pad to the 64 held
  EXPECT_THROW(tensor::Matrix::borrowed_packed(q.view(), 20), Error);  // rows of 20 would pad to 32
  EXPECT_THROW(tensor::Matrix::borrowed_packed(q.view(), 0), Error);
  q.scales.pop_back();
  EXPECT_THROW(tensor::Matrix::borrowed_packed(q.view(), 64), Error);
}

class PackedModel : public ::testing::TestWithParam<std::string> {};

// The RTN-quantized model kept packed gives the float32 fake-quantized model's logits exactly: a
// prompt, several sequences in one batch and token-by-token decoding. Its Linear weights hold the
// format's bytes, not four per weight.
TEST_P(PackedModel, LogitsEqualFakeQuantAndWeightsArePackedSize) {
  const Model base = Model::load(fixture("models/" + GetParam()));
  auto tokens = qlab::testing::read_ids(fixture("models/" + GetParam() + "/tokens.txt"));
  const auto V = static_cast<std::size_t>(base.vocab_size());
  for (const char* name : {"nvfp4", "mxfp4", "int4-g32", "int4-g128", "int3-g64-sym", "nf4-dq", "int8-ch", "fp8-channel"}) {
    SCOPED_TRACE(name);
    const auto& spec = formats::block_format(name);
    const bool embeddings = std::string(name) == "int4-g32";
    const Model fake = quantized(base, spec, QuantizedStorage::F32, embeddings);
    const Model packed = quantized(base, spec, QuantizedStorage::Packed, embeddings);

    expect_same_bits(forward_all(packed, tokens), forward_all(fake, tokens), "prompt logits");

    // three sequences in one pass
    const std::size_t T = std::min<std::size_t>(tokens.size() / 3, 20);
    std::vector<std::int32_t> batch(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(3 * T));
    auto run_batch = [&](const Model& m) {
      std::vector<KVCache> caches;
      for (int b = 0; b < 3; ++b) caches.emplace_back(m.config(), static_cast<std::int64_t>(T));
      std::vector<KVCache*> ptrs;
      for (auto& c : caches) ptrs.push_back(&c);
      std::vector<float> logits(3 * T * V);
      forward_batch(m, ptrs, batch, static_cast<std::int64_t>(T), logits.data());
      return logits;
    };
    expect_same_bits(run_batch(packed), run_batch(fake), "batched logits");

    // decoding one token at a time
    auto decode = [&](const Model& m) {
      KVCache cache(m.config(), 12);
      std::vector<float> out(12 * V);
      for (std::size_t t = 0; t < 12; ++t) forward(m, cache, std::span(tokens).subspan(t, 1), 1, out.data() + t * V);
      return out;
    };
    // ProductMath::Exact widens the packed rows for every product: the fake-quantized model's bits.
    // (Both models exact: a bf16 lm_head would otherwise take the kernels in one and not the other.)
    Model packed_exact = packed, fake_exact = fake;
    packed_exact.set_product_math(tensor::ProductMath::Exact);
    fake_exact.set_product_math(tensor::ProductMath::Exact);
    expect_same_bits(decode(packed_exact), decode(fake_exact), "decoded logits, exact products");
    // The default reads one token's products from the packed bytes (row-dot kernels): the same
    // weights, sums in another order. See expect_close_logits for the bound.
    expect_close_logits(decode(packed), decode(fake), V, "decoded logits, fast products");

    Model p = packed, f = fake;
    std::uint64_t packed_bytes = 0, want = 0, f32_bytes = 0;
    for (tensor::Matrix* t : linears(p)) {
      EXPECT_EQ(t->type, tensor::ElemType::Packed);
      packed_bytes += t->storage_bytes();
      want += formats::storage_sizes(spec, t->rows, formats::padded_cols(spec, t->cols)).total();
    }
    for (tensor::Matrix* t : linears(f)) f32_bytes += t->storage_bytes();
    EXPECT_EQ(packed_bytes, want);
    EXPECT_LT(packed_bytes, f32_bytes / 3);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, PackedModel, ::testing::Values("llama", "qwen2", "llama_bf16", "llama_tied"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace qlab::model
