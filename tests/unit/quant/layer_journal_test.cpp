// The finished-layer journal of a calibrated quantization (layer_journal.h): a GPTQ (with and without
// act-order) or AWQ run on the built-in model, stopped in its third of four layers, keeps the two it
// finished; a run given that journal replays them and ends with the model, every Linear's codes, scales,
// zeros, g_idx and permutation, and the norms AWQ folds its scales into, bit for bit as one
// uninterrupted run. And the refusals: finished layers are not discarded without being asked, and are
// not resumed under other settings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "engine/core/error.h"
#include "engine/formats/format_lookup.h"
#include "engine/io/tokenizer.h"
#include "engine/quant/awq_model.h"
#include "engine/quant/gptq_model.h"
#include "engine/quant/layer_journal.h"

namespace qlab::quant {
namespace {

namespace fs = std::filesystem;

using Parts = std::map<std::string, QuantizedLinear>;

struct StopAtLayer3 : Progress {
  std::stop_source stop;
  void report(double, std::string_view label) override {
    if (label.find("layer 3/") != std::string_view::npos) stop.request_stop();
  }
};

struct Quantized {
  model::Model m;
  Parts parts;
};

// The method on a copy of base, with the journal when given; the Linears' parts as the sink got them.
Quantized quantize(const model::Model& base, const CalibrationSet& calib, const std::string& method, Progress& progress,
             std::stop_token stop, LayerJournal* journal) {
  Quantized r{base, {}};
  const LinearSink sink = [&](int layer, const char* name, QuantizedLinear&& q) {
    q.dequantized = {};
    r.parts[std::to_string(layer) + "." + name] = std::move(q);
  };
  const formats::BlockFormatSpec& f = formats::block_format("int4-g32");
  if (method == "awq") {
    quantize_model_awq(r.m, calib, awq_options_for(f), progress, stop, {}, sink, journal);
  } else {
    GptqModelOptions o;
    o.gptq = gptq_options_for(f);
    o.gptq.act_order = method == "gptq-act-order";
    quantize_model_gptq(r.m, calib, o, progress, stop, {}, sink, journal);
  }
  return r;
}

void expect_same(const Quantized& a, const Quantized& b) {
  ASSERT_EQ(a.parts.size(), b.parts.size());
  for (const auto& [name, q] : a.parts) {
    SCOPED_TRACE(name);
    const QuantizedLinear& p = b.parts.at(name);
    EXPECT_EQ(q.codes, p.codes);
    EXPECT_EQ(q.scales, p.scales);
    EXPECT_EQ(q.zeros, p.zeros);
    EXPECT_EQ(q.g_idx, p.g_idx);
    EXPECT_EQ(q.perm, p.perm);
  }
  const auto& la = a.m.weights().layers;
  const auto& lb = b.m.weights().layers;
  for (std::size_t i = 0; i < la.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(la[i].attn_norm, lb[i].attn_norm);
    EXPECT_EQ(la[i].mlp_norm, lb[i].mlp_norm);
    EXPECT_EQ(la[i].wq.to_f32(), lb[i].wq.to_f32());
    EXPECT_EQ(la[i].wv.to_f32(), lb[i].wv.to_f32());
    EXPECT_EQ(la[i].w_up.to_f32(), lb[i].w_up.to_f32());
    EXPECT_EQ(la[i].w_down.to_f32(), lb[i].w_down.to_f32());
  }
}

TEST(LayerJournal, ResumedRunEqualsOneRun) {
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  const model::Model base = model::Model::load(builtin);
  ASSERT_EQ(base.config().num_hidden_layers, 4);
  const CalibrationSet calib = load_calibration(builtin / "calib.txt", io::Tokenizer::load(builtin), 16, 64, 3);
  const fs::path dir = fs::temp_directory_path() / ("qlab-layers-" + std::to_string(::getpid()));
  for (const std::string method : {"gptq", "gptq-act-order", "awq"}) {
    SCOPED_TRACE(method);
    const nlohmann::json key = {{"method", method}};
    const Quantized ref = quantize(base, calib, method, Progress::none(), {}, nullptr);
    {
      LayerJournal j(dir, key, false, false);
      StopAtLayer3 p;
      EXPECT_THROW(quantize(base, calib, method, p, p.stop.get_token(), &j), Cancelled);
      EXPECT_EQ(j.layers_done(), 2);
      j.keep();
    }
    ASSERT_TRUE(fs::is_regular_file(dir / "layer-00001.safetensors"));
    try {
      LayerJournal j(dir, key, false, false);
      FAIL() << "finished layers discarded without --force";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("2 finished layers"), std::string::npos) << e.what();
    }
    try {
      LayerJournal j(dir, {{"method", "other"}}, true, false);
      FAIL() << "resumed under other settings";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("method"), std::string::npos) << e.what();
    }
    LayerJournal j(dir, key, true, false);
    EXPECT_EQ(j.resumed_layers(), 2);
    const Quantized resumed = quantize(base, calib, method, Progress::none(), {}, &j);
    EXPECT_EQ(j.layers_done(), 4);
    expect_same(ref, resumed);
    j.remove();
    EXPECT_FALSE(fs::exists(dir));
  }
}

// --force (discard) starts over: the old layers are gone and the run records its own.
TEST(LayerJournal, DiscardStartsOver) {
  const fs::path dir = fs::temp_directory_path() / ("qlab-layers-discard-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    LayerJournal j(dir, {{"k", 1}}, false, false);
    FinishedLayer f;
    j.record(0, f);
    j.keep();
  }
  LayerJournal j(dir, {{"k", 2}}, false, true);
  EXPECT_EQ(j.layers_done(), 0);
  EXPECT_FALSE(fs::exists(dir / "layer-00000.safetensors"));
  j.remove();
  EXPECT_FALSE(fs::exists(dir));
}

}  // namespace
}  // namespace qlab::quant
