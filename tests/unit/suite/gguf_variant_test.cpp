// GGUF variants: the tensors under their GGUF names and the types llama-quantize gives them, against
// llama.cpp's own choices for the models of tests/fixtures/gguf/type_mix.json (made by gen_gguf.py with
// `qlab synth-model ... --dtype f32 --seed 7` and llama-quantize); the weights the runtime then holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/gguf/type_mix.h"
#include "engine/io/synth_model.h"
#include "engine/suite/gguf_variant.h"
#include "suite_test_util.h"

namespace qlab::suite {
namespace {

using namespace qlab::testing;

// The fixture's model `name` written by the synth-model engine with gen_gguf.py's arguments.
model::Model fixture_model(const std::filesystem::path& dir, const nlohmann::json& facts, int hidden, int inter,
                           int vocab, bool tie) {
  io::SynthSpec spec;
  spec.config = io::synth_preset("tiny");
  io::ModelConfig& c = spec.config;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.num_hidden_layers = facts.at("n_layer").get<int>();
  c.num_attention_heads = facts.at("n_head").get<int>();
  c.num_key_value_heads = facts.at("n_head_kv").get<int>();
  c.hidden_size = hidden;
  c.head_dim = hidden / c.num_attention_heads;
  c.intermediate_size = inter;
  c.vocab_size = vocab;
  c.tie_word_embeddings = tie;
  spec.dtype = io::DType::F32;
  spec.seed = 7;
  io::write_synth_model(dir, spec, Progress::none());
  return model::Model::load(dir);
}

TEST(GgufVariant, NamesShapesAndTypesAreLlamaQuantizes) {
  const auto j = nlohmann::json::parse(read_file(fixtures() / "gguf" / "type_mix.json"));
  const auto dir = scratch("suite-gguf");
  struct Shape { const char* name; int hidden, inter, vocab; bool tie; };
  int cases = 0;
  for (const Shape& s : {Shape{"llama_256", 256, 512, 512, false}, Shape{"llama_160_tied", 160, 352, 512, true}}) {
    SCOPED_TRACE(s.name);
    const auto& fm = j.at("models").at(s.name);
    model::Model m = fixture_model(dir / s.name, fm.at("facts"), s.hidden, s.inter, s.vocab, s.tie);
    const std::vector<GgufTensorRef> refs = gguf_tensor_list(m);
    std::map<std::string, std::vector<std::int64_t>> mine, theirs;
    for (const auto& r : refs) mine[r.desc.name] = r.desc.shape;
    for (const auto& t : fm.at("tensors")) theirs[t.at("name")] = t.at("shape").get<std::vector<std::int64_t>>();
    ASSERT_EQ(mine, theirs);
    const gguf::ModelFacts facts = gguf_model_facts(m.config());
    EXPECT_EQ(facts.arch, fm.at("facts").at("arch").get<std::string>());
    std::vector<gguf::TensorDesc> descs;
    for (const auto& r : refs) descs.push_back(r.desc);
    for (const auto& c : j.at("cases")) {
      if (c.at("model") != s.name || c.at("options") != "default") continue;
      gguf::MixOptions o;
      o.file_type = *gguf::file_type_from_name(c.at("ftype").get<std::string>());
      const auto plans = gguf::plan_types(descs, facts, o);
      std::map<std::string, std::uint32_t> want;
      for (std::size_t i = 0; i < fm.at("tensors").size(); ++i)
        want[fm.at("tensors")[i].at("name")] = c.at("types")[i].get<std::uint32_t>();
      for (std::size_t i = 0; i < refs.size(); ++i)
        EXPECT_EQ(static_cast<std::uint32_t>(plans[i].type), want.at(refs[i].desc.name))
            << c.at("ftype") << " " << refs[i].desc.name;
      ++cases;
    }
  }
  EXPECT_EQ(cases, 28);
}

// The built-in model (hidden 64: rows too short for the K types, which fall back as llama.cpp's do)
// as Q8_0: every matrix, the tied embedding too, 34 bytes per 32 weights; norms stay f32. The runtime's
// weights are the Q8_0 blocks read back, and the lm_head follows the quantized table.
TEST(GgufVariant, Q8_0WeightsAreTheBlocksReadBackAndTheSizeIsTheirBytes) {
  model::Model m = builtin_model();
  const GgufVariantStats st = make_gguf_variant(m, "Q8_0");
  const io::ModelConfig& c = m.config();
  const double matrices = static_cast<double>(c.vocab_size) * c.hidden_size +
                          c.num_hidden_layers * (2.0 * c.hidden_size * c.num_attention_heads * c.head_dim +
                                                 2.0 * c.hidden_size * c.num_key_value_heads * c.head_dim +
                                                 3.0 * c.hidden_size * c.intermediate_size);
  const double norms = c.hidden_size * (2.0 * c.num_hidden_layers + 1);
  EXPECT_EQ(st.bytes, matrices / 32 * 34 + norms * 4);
  EXPECT_EQ(st.quantized, 1 + 7 * c.num_hidden_layers);
  ASSERT_EQ(st.types.size(), 1u);
  EXPECT_EQ(st.types[0], fmt::format("q8_0 x {}", 1 + 7 * c.num_hidden_layers));
  const model::Weights& w = m.weights();
  EXPECT_EQ(w.lm_head.data, w.embed.data);
  // Kept packed, as the GGUF runtime holds a file's tensors: 34 bytes per block of 32 in memory.
  ASSERT_NE(w.layers[1].w_down.packed.spec, nullptr);
  EXPECT_EQ(w.layers[1].w_down.storage_bytes(),
            static_cast<std::uint64_t>(w.layers[1].w_down.rows * w.layers[1].w_down.cols / 32 * 34));
  // Row 3 of layer 1's down projection: Q8_0 keeps d = amax / 127 (fp16) and round(x / d) per block.
  const tensor::Matrix& base = builtin_model().weights().layers[1].w_down;
  const std::vector<float> src = base.to_f32();
  const std::int64_t cols = base.cols;
  const std::vector<float> mine = w.layers[1].w_down.to_f32();
  for (std::int64_t b = 0; b < cols / 32; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(src[static_cast<std::size_t>(3 * cols + b * 32 + i)]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;  // ggml's quantize_row_q8_0_ref
    // stored as fp16: d rounded to 11 significant bits, ties to even (subnormal below 2^-14)
    int e = 0;
    std::frexp(d, &e);
    const float ulp = std::ldexp(1.0f, std::max(e - 11, -24));
    const float d16 = std::nearbyint(d / ulp) * ulp;
    for (int i = 0; i < 32; ++i) {
      const std::size_t k = static_cast<std::size_t>(3 * cols + b * 32 + i);
      EXPECT_EQ(mine[k], std::round(src[k] * id) * d16) << "block " << b << " element " << i;
    }
  }
}

TEST(GgufVariant, KTypesFallBackOnShortRowsAndTheMixKeepsMoreBitsWhereLlamaCppDoes) {
  model::Model m = builtin_model();
  const GgufVariantStats st = make_gguf_variant(m, "Q4_K_M");
  EXPECT_GT(st.fell_back, 0);  // hidden 64: q, k, v, gate, up (and the embedding) are rows of 64
  std::string types;
  for (const auto& t : st.types) types += t + ";";
  EXPECT_NE(types.find("q4_K"), std::string::npos) << types;  // down projections: rows of 256
  EXPECT_NE(types.find("q6_K"), std::string::npos) << types;  // Q4_K_M's attn_v / ffn_down bump
  EXPECT_NE(error_of([&] { make_gguf_variant(m, "Q9_K"); }).find("GGUF file type Q9_K: not one llama-quantize"),
            std::string::npos);
}

}  // namespace
}  // namespace qlab::suite
