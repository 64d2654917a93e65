// The RTN model quantizer keeping weights packed: the same logits and perplexity as its float32
// fake-quantized model, at the format's size.
#include <gtest/gtest.h>

#include "../model/fixture_util.h"
#include "engine/eval/perplexity.h"
#include "engine/formats/format_lookup.h"
#include "engine/model/forward.h"
#include "engine/quant/rtn.h"

namespace qlab::eval {
namespace {

using qlab::testing::fixture;
using quant::fake_quantize_model;
using quant::FakeQuantStats;

TEST(FakeQuantPacked, SameLogitsAndPerplexityAtThePackedSize) {
  const auto base = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  for (const char* name : {"nvfp4", "int4-g128", "nf4"}) {
    SCOPED_TRACE(name);
    const auto& spec = formats::block_format(name);
    model::Model f32 = base, packed = base;
    const FakeQuantStats a = fake_quantize_model(f32, spec, {.embeddings = true});
    const FakeQuantStats b = fake_quantize_model(packed, spec, {.embeddings = true}, Progress::none(), false, true);
    EXPECT_EQ(a.matrices, b.matrices);
    EXPECT_EQ(a.weights, b.weights);
    EXPECT_EQ(model::forward_all(packed, tokens), model::forward_all(f32, tokens));
    PplOptions opt;
    opt.n_ctx = 64;
    EXPECT_EQ(perplexity(packed, tokens, opt).nll.sum, perplexity(f32, tokens, opt).nll.sum);
    std::uint64_t bytes = 0, f32_bytes = 0;
    for (std::size_t l = 0; l < packed.weights().layers.size(); ++l) {
      const auto& p = packed.weights().layers[l];
      const auto& f = f32.weights().layers[l];
      for (const tensor::Matrix* m : {&p.wq, &p.wk, &p.wv, &p.wo, &p.w_gate, &p.w_up, &p.w_down}) {
        EXPECT_EQ(m->type, tensor::ElemType::Packed);
        bytes += m->storage_bytes();
      }
      for (const tensor::Matrix* m : {&f.wq, &f.wk, &f.wv, &f.wo, &f.w_gate, &f.w_up, &f.w_down}) f32_bytes += m->storage_bytes();
    }
    EXPECT_LT(bytes, f32_bytes / 3);
  }
}

TEST(FakeQuantPacked, TiedEmbeddingsStayTied) {
  model::Model m = model::Model::load(fixture("models/llama_tied"));
  fake_quantize_model(m, formats::block_format("int4-g32"), {.embeddings = true}, Progress::none(), false, true);
  EXPECT_EQ(m.weights().embed.data, m.weights().lm_head.data);
  EXPECT_EQ(m.weights().embed.type, tensor::ElemType::Packed);
}

}  // namespace
}  // namespace qlab::eval
