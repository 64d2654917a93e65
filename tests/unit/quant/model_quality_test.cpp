// Quality floor on the built-in model (llama.cpp perplexity protocol, its 128-token context, its held-out
// eval.txt; calibration on its calib.txt): GPTQ and AWQ at int4-g128 each below round-to-nearest, GPTQ's
// perplexity no higher for smaller groups (g32 <= g64 <= g128 <= per row), and the calibration's
// activation memory what the plan said.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/core/atomic_file.h"
#include "engine/eval/perplexity.h"
#include "engine/formats/format_lookup.h"
#include "engine/io/tokenizer.h"
#include "engine/quant/awq_model.h"
#include "engine/quant/gptq_model.h"
#include "engine/quant/rtn.h"

namespace qlab::quant {
namespace {

namespace fs = std::filesystem;

struct Builtin {
  fs::path dir = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  model::Model base = model::Model::load(dir);
  io::Tokenizer tok = io::Tokenizer::load(dir);
  std::vector<std::int32_t> eval_tokens = tok.encode(read_file(dir / "eval.txt"), true);
  int warnings = 0;
  CalibrationSet calib = load_calibration(dir / "calib.txt", tok, 128, 128, 0, [this](const std::string&) { ++warnings; });

  double ppl(const model::Model& m) const {
    eval::PplOptions o;
    o.n_ctx = 128;
    o.bos = tok.bos_id();
    return eval::perplexity(m, eval_tokens, o).nll.ppl();
  }
  double rtn(const std::string& f) const {
    model::Model m = base;
    fake_quantize_model(m, formats::block_format(f));
    return ppl(m);
  }
  double gptq(const std::string& f) const {
    model::Model m = base;
    GptqModelOptions o;
    o.gptq = gptq_options_for(formats::block_format(f));
    quantize_model_gptq(m, calib, o);
    return ppl(m);
  }
};

const Builtin& builtin() {
  static const Builtin b;
  return b;
}

TEST(ModelQuality, CalibrationOfTheBuiltinModel) {
  const Builtin& b = builtin();
  // calib.txt holds fewer than 128 windows of 128 tokens: all it has, with one warning.
  EXPECT_EQ(b.warnings, 1);
  EXPECT_EQ(b.calib.samples, b.calib.stream_tokens / 128);
  EXPECT_GT(b.calib.samples, 64);
  LayerRunner r(b.base, b.calib);
  EXPECT_EQ(r.hidden_bytes(), calibration_memory(b.base.config(), b.calib.samples, 128, 0).hidden_states);
  EXPECT_EQ(r.hidden_bytes(), static_cast<std::uint64_t>(b.calib.samples) * 128 * 64 * 4);
}

TEST(ModelQuality, GptqAndAwqBelowRoundToNearestAtInt4G128) {
  const Builtin& b = builtin();
  const double rtn = b.rtn("int4-g128"), gptq = b.gptq("int4-g128");
  model::Model m = b.base;
  quantize_model_awq(m, b.calib, awq_options_for(formats::block_format("int4-g128")));
  const double awq = b.ppl(m);
  const double base = b.ppl(b.base);
  EXPECT_LT(gptq, rtn) << "base " << base;
  EXPECT_LT(awq, rtn) << "base " << base;
  EXPECT_GT(gptq, base);
  EXPECT_GT(awq, base);
}

TEST(ModelQuality, GptqSmallerGroupsNoWorse) {
  const Builtin& b = builtin();
  const double g32 = b.gptq("int4-g32"), g64 = b.gptq("int4-g64"), g128 = b.gptq("int4-g128"), ch = b.gptq("int4-ch");
  EXPECT_LE(g32, g64);
  EXPECT_LE(g64, g128);
  EXPECT_LE(g128, ch);
}

TEST(ModelQuality, CancelStopsBetweenLayers) {
  const Builtin& b = builtin();
  model::Model m = b.base;
  std::stop_source stop;
  stop.request_stop();
  GptqModelOptions o;
  o.gptq = gptq_options_for(formats::block_format("int4-g128"));
  EXPECT_THROW(quantize_model_gptq(m, b.calib, o, Progress::none(), stop.get_token()), Cancelled);
}

}  // namespace
}  // namespace qlab::quant
