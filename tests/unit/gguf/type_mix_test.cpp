// plan_types against what the real llama-quantize chose (tests/fixtures/gguf/type_mix.json):
// small llama-shaped models made with `qlab synth-model` -- rows a multiple of 256 (16 layers,
// 4 heads over 1 KV head), rows of 160 with tied embeddings, and an intermediate size of 360 that
// no block type divides -- for every file type qlab writes and each option set (default, --pure,
// --leave-output-tensor, --output-tensor-type with --token-embedding-type, --tensor-type, and an
// imatrix), including the cases where llama-quantize gives up.
#include <gtest/gtest.h>

#include <string>

#include "engine/core/error.h"
#include "engine/gguf/type_mix.h"
#include "gguf_fixtures.h"

namespace {

using namespace qlab::gguf;
using namespace qlab::gguf::testing;

GgmlType ggml(const std::string& name) {
  const auto t = type_from_name(name);
  if (!t) throw std::runtime_error("unknown type " + name);
  return *t;
}

MixOptions options(const std::string& ftype, const nlohmann::json& args) {
  MixOptions o;
  o.file_type = file_type_from_name(ftype).value();
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i];
    if (a == "--pure") o.pure = true;
    else if (a == "--leave-output-tensor") o.leave_output_tensor = true;
    else if (a == "--output-tensor-type") o.output_tensor_type = ggml(args[++i]);
    else if (a == "--token-embedding-type") o.token_embedding_type = ggml(args[++i]);
    else if (a == "--imatrix") o.has_imatrix = (++i, true);
    else if (a == "--tensor-type") {
      const std::string v = args[++i];
      const auto eq = v.find('=');
      o.tensor_types.emplace_back(v.substr(0, eq), ggml(v.substr(eq + 1)));
    } else {
      throw std::runtime_error("unknown option " + a);
    }
  }
  return o;
}

TEST(TypeMix, MatchesLlamaQuantize) {
  const auto fx = fixture_json("type_mix.json");
  int cases = 0, errors = 0;
  for (const auto& c : fx["cases"]) {
    const std::string model = c["model"], ftype = c["ftype"], opts = c["options"];
    SCOPED_TRACE(model + " " + ftype + " " + opts);
    const auto& m = fx["models"][model];
    ModelFacts facts;
    facts.arch = m["facts"]["arch"];
    facts.n_layer = m["facts"]["n_layer"];
    facts.n_head = m["facts"]["n_head"];
    facts.n_head_kv = m["facts"]["n_head_kv"];
    facts.n_expert = m["facts"]["n_expert"];
    facts.is_70b = model_is_70b(facts.arch, facts.n_layer, facts.n_head, facts.n_head_kv);
    std::vector<TensorDesc> tensors;
    for (const auto& t : m["tensors"]) tensors.push_back({t["name"], t["shape"].get<std::vector<std::int64_t>>(), GgmlType::F32});
    const MixOptions o = options(ftype, c["args"]);
    ++cases;
    if (c.contains("error")) {
      ++errors;
      EXPECT_THROW((void)plan_types(tensors, facts, o), qlab::Error);
      continue;
    }
    const auto plans = plan_types(tensors, facts, o);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto want = static_cast<GgmlType>(c["types"][i].get<std::uint32_t>());
      EXPECT_EQ(type_name(plans[i].type), type_name(want)) << tensors[i].name;
      EXPECT_EQ(plans[i].convert, want != GgmlType::F32) << tensors[i].name;
    }
  }
  EXPECT_GE(cases, 3 * 14 * 5);
  EXPECT_GT(errors, 0);  // the 360-wide model defeats some file types
}

TEST(TypeMix, NamesAndBaseTypes) {
  EXPECT_EQ(file_type_from_name("q4_k_m"), FileType::Q4_K_M);
  EXPECT_EQ(file_type_from_name("Q4_K"), FileType::Q4_K_M);
  EXPECT_EQ(file_type_from_name("IQ2_XS"), std::nullopt);
  EXPECT_EQ(base_type(FileType::Q3_K_L), GgmlType::Q3_K);
  EXPECT_EQ(base_type(FileType::MXFP4_MOE), GgmlType::MXFP4);
  EXPECT_EQ(file_type_name(FileType::Q5_K_S), "Q5_K_S");
}

TEST(TypeMix, LoaderOrder) {
  std::vector<std::string> n = {"blk.10.attn_q.weight", "output.weight", "blk.2.ffn_up.weight", "blk.2.attn_k.weight",
                                "token_embd.weight", "blk.0.ffn_down.weight"};
  std::sort(n.begin(), n.end(), loader_order_less);
  EXPECT_EQ(n, (std::vector<std::string>{"output.weight", "token_embd.weight", "blk.0.ffn_down.weight",
                                         "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight"}));
}

TEST(TypeMix, PureRefusesARowItsTypeCannotTake) {
  MixOptions o;
  o.file_type = FileType::Q4_K_M;
  o.pure = true;
  const std::vector<TensorDesc> t = {{"blk.0.attn_q.weight", {160, 160}, GgmlType::F32}};
  try {
    (void)plan_types(t, ModelFacts{"llama", 1, 5, 5, 0, false}, o);
    FAIL();
  } catch (const qlab::Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight: rows of 160 elements"), std::string::npos) << e.what();
  }
}

}  // namespace
