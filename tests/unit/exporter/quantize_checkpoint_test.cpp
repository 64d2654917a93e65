// The streaming quantizer end to end on a synthetic model: every layout written, then decoded here from
// the raw safetensors bytes by rules written out in this file (E2M1 / E4M3 / E8M0 by their bit fields,
// low nibble first), and compared with the source; fused groups share their scale; bad input leaves
// nothing behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/core/error.h"
#include "engine/exporter/quantize_checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/io/model_config.h"
#include "engine/io/synth_model.h"
#include "engine/io/tokenizer.h"
#include "engine/model/forward.h"
#include "engine/model/model.h"
#include "engine/quant/calibration.h"
#include "tests/folder_files.h"

namespace qlab::exporter {
namespace {

namespace fs = std::filesystem;

// ---- decoders written from the format definitions (number-formats.md), independent of engine/formats
float e2m1(unsigned code) {
  static const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  return (code & 8 ? -1.0f : 1.0f) * mag[code & 7];
}
float e4m3(unsigned b) {  // float8_e4m3fn: bias 7, no infinities
  const int e = (b >> 3) & 15, m = b & 7;
  const float v = e == 0 ? std::ldexp(m / 8.0f, -6) : std::ldexp(1.0f + m / 8.0f, e - 7);
  return b & 0x80 ? -v : v;
}
float f32_at(const io::TensorRef& t, std::size_t i = 0) {
  float v;
  std::memcpy(&v, t.bytes.data() + 4 * i, 4);
  return v;
}
std::uint8_t u8_at(const io::TensorRef& t, std::size_t i) { return static_cast<std::uint8_t>(t.bytes[i]); }

// Weight element (r, c) of a quantized Linear as a loader computes it.
float decode(const io::TensorStore& s, const std::string& module, const std::string& method, io::QuantLayout layout,
             std::int64_t cols, std::int64_t r, std::int64_t c) {
  const bool ct = layout == io::QuantLayout::CompressedTensors;
  if (method == "nvfp4-w4a16") {
    const auto& w = s.at(module + (ct ? ".weight_packed" : ".weight"));
    const std::uint8_t byte = u8_at(w, static_cast<std::size_t>(r * cols / 2 + c / 2));
    const float code = e2m1(c % 2 == 0 ? byte & 15 : byte >> 4);
    const float scale = e4m3(u8_at(s.at(module + ".weight_scale"), static_cast<std::size_t>(r * cols / 16 + c / 16)));
    // ModelOpt: code * weight_scale * weight_scale_2; compressed-tensors: code * weight_scale / global
    return ct ? code * scale / f32_at(s.at(module + ".weight_global_scale"))
              : code * scale * f32_at(s.at(module + ".weight_scale_2"));
  }
  if (method == "mxfp4") {
    const std::uint8_t byte = u8_at(s.at(module + ".weight_packed"), static_cast<std::size_t>(r * cols / 2 + c / 2));
    const int x = u8_at(s.at(module + ".weight_scale"), static_cast<std::size_t>(r * cols / 32 + c / 32)) - 127;
    return std::ldexp(e2m1(c % 2 == 0 ? byte & 15 : byte >> 4), x);
  }
  const float v = e4m3(u8_at(s.at(module + ".weight"), static_cast<std::size_t>(r * cols + c)));
  const auto& sc = s.at(module + ".weight_scale");
  return v * (method == "fp8" ? f32_at(sc) : f32_at(sc, static_cast<std::size_t>(r)));
}

class QuantizeCheckpoint : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("qlab-quantize-" + std::to_string(::getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::path model = dir / "model";
  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
    io::SynthSpec spec;
    spec.config = io::synth_preset("tiny");
    spec.dtype = io::DType::BF16;
    spec.max_shard_bytes = 150'000;  // two shards or more
    io::write_synth_model(model, spec, Progress::none());
    std::ofstream(model / "tokenizer_config.json") << "{}\n";
  }
  void TearDown() override { fs::remove_all(dir); }

  QuantizeResult run(const std::string& method, io::QuantLayout layout, const fs::path& out,
                     std::vector<std::string> exclude = {}) {
    QuantizeOptions o;
    o.method = method;
    o.layout = layout;
    o.exclude = std::move(exclude);
    o.slab_bytes = 4096;  // many slabs per tensor
    o.max_shard_bytes = 100'000;
    return quantize_checkpoint(model, out, o, Progress::none());
  }
  // Nothing but the model folder in the scratch dir (no output, no staging folder).
  void expect_nothing_written() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{"model"});
  }
};

TEST_F(QuantizeCheckpoint, EveryLayoutDecodesToTheSourceWithinItsBound) {
  const io::TensorStore src = io::TensorStore::open(model);
  struct Case {
    const char* method;
    io::QuantLayout layout;
    double rel;  // bound on |w^ - w| relative to the row's amax: half the widest gap of the grid + clipping
  };
  for (const Case& k : {Case{"nvfp4-w4a16", io::QuantLayout::ModelOpt, 0.35},
                        Case{"nvfp4-w4a16", io::QuantLayout::CompressedTensors, 0.35},
                        Case{"mxfp4", io::QuantLayout::CompressedTensors, 0.5},
                        Case{"fp8", io::QuantLayout::CompressedTensors, 0.07},
                        Case{"fp8-channel", io::QuantLayout::ModelOpt, 0.07},
                        Case{"fp8-channel", io::QuantLayout::CompressedTensors, 0.07}}) {
    SCOPED_TRACE(std::string(k.method) + " " + io::layout_name(k.layout));
    const fs::path out = dir / "out";
    const QuantizeResult r = run(k.method, k.layout, out);
    EXPECT_EQ(r.quantized, 14u);  // 2 layers x 7 Linear weights
    EXPECT_GT(r.files.shards, 1u);
    EXPECT_TRUE(fs::exists(out / "tokenizer_config.json"));
    EXPECT_EQ(fs::exists(out / "hf_quant_config.json"), k.layout == io::QuantLayout::ModelOpt);
    const io::TensorStore q = io::TensorStore::open(out);
    for (const char* m : {"model.layers.0.self_attn.k_proj", "model.layers.1.mlp.down_proj"}) {
      const io::TensorRef& w = src.at(std::string(m) + ".weight");
      const std::vector<float> x = io::to_f32(w);
      const std::int64_t rows = w.shape[0], cols = w.shape[1];
      for (std::int64_t rr = 0; rr < rows; ++rr) {
        double amax = 0;
        for (std::int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(double(x[rr * cols + c])));
        for (std::int64_t c = 0; c < cols; ++c) {
          const float v = decode(q, m, k.method, k.layout, cols, rr, c);
          ASSERT_LE(std::fabs(v - x[rr * cols + c]), k.rel * amax) << m << " " << rr << "," << c;
        }
      }
    }
    // kept as stored
    EXPECT_EQ(q.at("model.embed_tokens.weight").dtype, io::DType::BF16);
    EXPECT_EQ(std::memcmp(q.at("lm_head.weight").bytes.data(), src.at("lm_head.weight").bytes.data(),
                          src.at("lm_head.weight").bytes.size()), 0);
    fs::remove_all(out);
  }
}

// q/k/v and gate/up share one per-tensor scale: the max over the group (vLLM keeps only the max).
TEST_F(QuantizeCheckpoint, FusedGroupsShareTheirTensorScale) {
  const fs::path out = dir / "out";
  run("nvfp4-w4a16", io::QuantLayout::ModelOpt, out);
  const io::TensorStore src = io::TensorStore::open(model), q = io::TensorStore::open(out);
  auto amax = [&](const std::string& m) {
    float a = 0;
    for (float v : io::to_f32(src.at(m + ".weight"))) a = std::max(a, std::fabs(v));
    return a;
  };
  const std::string p = "model.layers.0.";
  const float group = std::max({amax(p + "self_attn.q_proj"), amax(p + "self_attn.k_proj"), amax(p + "self_attn.v_proj")});
  for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"})
    EXPECT_EQ(f32_at(q.at(p + m + ".weight_scale_2")), group / 2688.0f) << m;
  EXPECT_EQ(f32_at(q.at(p + "mlp.gate_proj.weight_scale_2")), f32_at(q.at(p + "mlp.up_proj.weight_scale_2")));
  EXPECT_EQ(f32_at(q.at(p + "self_attn.o_proj.weight_scale_2")), amax(p + "self_attn.o_proj") / 2688.0f);
}

TEST_F(QuantizeCheckpoint, ExcludeKeepsModulesAndListsThem) {
  const fs::path out = dir / "out";
  const QuantizeResult r = run("fp8-channel", io::QuantLayout::ModelOpt, out, {"model.layers.1.mlp.*", "nothing*"});
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("nothing*"), std::string::npos);
  EXPECT_EQ(r.quantized, 11u);
  const io::TensorStore q = io::TensorStore::open(out);
  EXPECT_EQ(q.at("model.layers.1.mlp.up_proj.weight").dtype, io::DType::BF16);
  EXPECT_EQ(q.find("model.layers.1.mlp.up_proj.weight_scale"), nullptr);
  const auto s = io::read_checkpoint_scheme(out);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ignore, (std::vector<std::string>{"lm_head", "model.layers.1.mlp.down_proj",
                                                 "model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj"}));
}

// W4A4 NVFP4: input_scale = amax / 2688 of each Linear's input over the calibration tokens. Layer 0's
// q/k/v input is RMSNorm(embedding) * the attention norm's weight, worked out here from the stored
// tensors; compressed-tensors stores the reciprocal.
TEST_F(QuantizeCheckpoint, ActivationScalesFromCalibration) {
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  QuantizeOptions o;
  o.method = "nvfp4";
  o.calibration = {builtin / "calib.txt", 8, 64, 5};
  const QuantizeResult r = quantize_checkpoint(builtin, dir / "w4", o, Progress::none());
  o.layout = io::QuantLayout::CompressedTensors;
  quantize_checkpoint(builtin, dir / "w4ct", o, Progress::none());

  const io::ModelConfig c = io::load_model_config(builtin / "config.json");
  const quant::CalibrationSet set = quant::load_calibration(builtin / "calib.txt", io::Tokenizer::load(builtin), 8, 64, 5);
  const io::TensorStore src = io::TensorStore::open(builtin);
  const std::vector<float> embed = io::to_f32(src.at("model.embed_tokens.weight"));
  const std::vector<float> g = io::to_f32(src.at("model.layers.0.input_layernorm.weight"));
  const std::int64_t H = c.hidden_size;
  double amax = 0;
  for (std::int32_t tok : set.tokens) {
    const float* e = embed.data() + static_cast<std::int64_t>(tok) * H;
    double ss = 0;
    for (std::int64_t i = 0; i < H; ++i) ss += double(e[i]) * e[i];
    const double inv = 1.0 / std::sqrt(ss / H + c.rms_norm_eps);
    for (std::int64_t i = 0; i < H; ++i) amax = std::max(amax, std::fabs(e[i] * inv * g[i]));
  }
  const io::TensorStore q = io::TensorStore::open(dir / "w4"), ct = io::TensorStore::open(dir / "w4ct");
  for (const char* m : {"q_proj", "k_proj", "v_proj"}) {
    const std::string p = std::string("model.layers.0.self_attn.") + m;
    EXPECT_NEAR(f32_at(q.at(p + ".input_scale")), amax / 2688, 1e-5 * amax / 2688) << m;
    EXPECT_NEAR(f32_at(ct.at(p + ".input_global_scale")), 2688 / amax, 1e-5 * 2688 / amax) << m;
  }
  EXPECT_EQ(r.activations.samples, 8);
  EXPECT_GT(f32_at(q.at("model.layers.1.mlp.down_proj.input_scale")), 0.0f);
}

// A checkpoint whose config announces another layout than its tensors hold: an error naming the tensor.
TEST_F(QuantizeCheckpoint, ConfigDisagreeingWithTensorsIsNamed) {
  run("nvfp4-w4a16", io::QuantLayout::ModelOpt, dir / "out");
  const io::TensorStore q = io::TensorStore::open(dir / "out");
  io::QuantScheme other = io::quant_scheme("fp8-channel", io::QuantLayout::ModelOpt);
  try {
    io::read_packed_linear(q, other, "model.layers.0.mlp.up_proj", 192, 64);
    FAIL() << "an NVFP4 tensor read as FP8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("F8_E4M3"), std::string::npos) << e.what();
  }
}

// A source shard rewritten during the run: an error naming it, and no output.
TEST_F(QuantizeCheckpoint, SourceChangingWhileReadIsRefused) {
  struct Toucher : Progress {
    fs::path shard;
    bool done = false;
    void report(double, std::string_view) override {
      if (done) return;
      done = true;
      fs::last_write_time(shard, fs::last_write_time(shard) + std::chrono::seconds(5));
    }
  } toucher;
  for (const auto& e : fs::directory_iterator(model))
    if (e.path().filename().string().find("-00001-of-") != std::string::npos) toucher.shard = e.path();
  ASSERT_FALSE(toucher.shard.empty());
  QuantizeOptions o;
  o.method = "fp8-channel";
  try {
    quantize_checkpoint(model, dir / "out", o, toucher);
    FAIL() << "a changed source went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed while"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("00001"), std::string::npos) << e.what();
  }
  expect_nothing_written();
}

TEST_F(QuantizeCheckpoint, BadInputLeavesNothingBehind) {
  // half a fused group excluded
  EXPECT_THROW(run("nvfp4-w4a16", io::QuantLayout::ModelOpt, dir / "out", {"*.k_proj"}), Error);
  expect_nothing_written();
  // --out inside the source
  EXPECT_THROW(run("nvfp4-w4a16", io::QuantLayout::ModelOpt, model / "q"), Error);
  EXPECT_FALSE(fs::exists(model / "q"));
  // a pair no loader reads
  EXPECT_THROW(run("mxfp4", io::QuantLayout::ModelOpt, dir / "out"), Error);
  expect_nothing_written();
  // cancelled mid-run
  {
    QuantizeOptions o;
    o.method = "fp8";
    o.layout = io::QuantLayout::CompressedTensors;
    std::stop_source stop;
    stop.request_stop();
    o.stop = stop.get_token();
    EXPECT_THROW(quantize_checkpoint(model, dir / "out", o, Progress::none()), Cancelled);
    expect_nothing_written();
  }
  // an already quantized model
  run("fp8", io::QuantLayout::CompressedTensors, dir / "q8");
  try {
    QuantizeOptions o;
    o.method = "mxfp4";
    o.layout = io::QuantLayout::CompressedTensors;
    quantize_checkpoint(dir / "q8", dir / "out", o, Progress::none());
    FAIL() << "quantized a quantized model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already quantized"), std::string::npos) << e.what();
  }
  fs::remove_all(dir / "q8");
  // a shard missing
  for (const auto& e : fs::directory_iterator(model))
    if (e.path().filename().string().find("-00002-of-") != std::string::npos) fs::remove(e.path());
  try {
    run("nvfp4-w4a16", io::QuantLayout::ModelOpt, dir / "out");
    FAIL() << "a missing shard went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("00002"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  expect_nothing_written();
}

}  // namespace
}  // namespace qlab::exporter

namespace qlab::exporter {
namespace {

// Asks the run to stop once `at` of the source has streamed (not during the calibration before it).
struct StopPart : Progress {
  std::stop_source stop;
  double at = 0.5;
  void report(double f, std::string_view label) override {
    if (f >= at && label.find("GB/s") != std::string_view::npos) stop.request_stop();
  }
};

// Stopped halfway, a run keeps its complete shards; --resume continues and writes the folder one
// uninterrupted run writes, byte for byte, without calibrating again (W4A4 NVFP4 on the built-in model,
// whose activation scales come from calibration) or re-reading the finished Linears.
TEST_F(QuantizeCheckpoint, ResumeWritesTheFolderOneRunWrites) {
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  struct Case {
    fs::path source;
    std::string method;
    io::QuantLayout layout;
  };
  for (const Case& c : {Case{builtin, "nvfp4", io::QuantLayout::ModelOpt},
                        Case{model, "fp8-channel", io::QuantLayout::ModelOpt},
                        Case{model, "nvfp4-w4a16", io::QuantLayout::CompressedTensors}}) {
    SCOPED_TRACE(c.method);
    QuantizeOptions o;
    o.method = c.method;
    o.layout = c.layout;
    o.max_shard_bytes = 25'000;
    o.slab_bytes = 4096;
    o.calibration = {builtin / "calib.txt", 8, 64, 5};
    const QuantizeResult ref = quantize_checkpoint(c.source, dir / "ref", o, Progress::none());
    ASSERT_GE(ref.files.shards, 4u);

    StopPart part;
    QuantizeOptions stopped = o;
    stopped.stop = part.stop.get_token();
    std::size_t kept = 0;
    try {
      quantize_checkpoint(c.source, dir / "out", stopped, part);
      FAIL() << "the run was not stopped";
    } catch (const Suspended& s) {
      kept = s.shards;
      EXPECT_TRUE(fs::is_regular_file(s.staging / "qlab-resume.json"));
    }
    ASSERT_GE(kept, 1u);
    EXPECT_FALSE(fs::exists(dir / "out"));
    EXPECT_THROW(quantize_checkpoint(c.source, dir / "out", o, Progress::none()), Error) << "needs --resume";

    QuantizeOptions again = o;
    again.resume = true;
    const QuantizeResult r = quantize_checkpoint(c.source, dir / "out", again, Progress::none());
    EXPECT_EQ(r.resumed_shards, kept);
    EXPECT_GT(r.resumed_bytes, 0u);
    EXPECT_EQ(r.seconds_calibrate, 0.0) << "the activation ranges come from the journal";
    EXPECT_EQ(r.linear_written_bytes, ref.linear_written_bytes);
    EXPECT_EQ(qlab::testing::folder_files(dir / "out"), qlab::testing::folder_files(dir / "ref"));
    for (const auto& e : fs::directory_iterator(dir))
      EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
    fs::remove_all(dir / "out");
    fs::remove_all(dir / "ref");
  }
}

}  // namespace
}  // namespace qlab::exporter

namespace qlab::exporter {
namespace {

const float kE2M1[] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

bool near_e2m1(float v) {
  for (float c : kE2M1)
    if (std::fabs(std::fabs(v) - c) <= 1e-5f * std::max(1.0f, c)) return true;
  return false;
}

// An E4M3 value (normal or subnormal, |v| <= 448): 3 fraction bits at its exponent, 2^-9 steps below 2^-6.
bool near_e4m3(float v) {
  const float a = std::fabs(v);
  if (a == 0) return true;
  if (a > 448.0f * (1 + 1e-6f)) return false;
  const float step = a < std::ldexp(1.0f, -6) ? std::ldexp(1.0f, -9) : std::ldexp(1.0f, std::ilogb(a) - 3);
  return std::fabs(a / step - std::nearbyint(a / step)) <= 1e-3f;
}

// A block of 16 inputs lies on an NVFP4 grid with global scale g: some E4M3 value s makes every
// v * g / s an E2M1 value (s found from the block's largest value, which must be one of the codes).
bool on_nvfp4_grid(const float* v, float g) {
  float amax = 0;
  for (int i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(v[i]));
  if (amax == 0) return true;
  for (float c : kE2M1) {
    if (c == 0) continue;
    const float s = amax * g / c;
    if (!near_e4m3(s)) continue;
    bool all = true;
    for (int i = 0; i < 16 && all; ++i) all = near_e2m1(v[i] * g / s);
    if (all) return true;
  }
  return false;
}

// A W4A4 NVFP4 checkpoint (ModelOpt and compressed-tensors) and a ModelOpt FP8 (W8A8) one run with
// their activations quantized as the checkpoint says: the scales come from the stored input scales as
// vLLM reads them; every Linear input a layer reads lies on the format's grid (checked here by the
// grids' definitions); and with the activation quantization taken away, the W4A4 model computes
// exactly what the weight-only (W4A16) checkpoint of the same weights computes.
TEST_F(QuantizeCheckpoint, ActivationsRunQuantizedAsTheCheckpointSays) {
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  QuantizeOptions o;
  o.calibration = {builtin / "calib.txt", 8, 64, 5};
  o.method = "nvfp4";
  quantize_checkpoint(builtin, dir / "w4", o, Progress::none());
  o.layout = io::QuantLayout::CompressedTensors;
  quantize_checkpoint(builtin, dir / "w4ct", o, Progress::none());
  o.method = "fp8";
  o.layout = io::QuantLayout::ModelOpt;
  quantize_checkpoint(builtin, dir / "f8", o, Progress::none());
  o.method = "nvfp4-w4a16";
  quantize_checkpoint(builtin, dir / "w16", o, Progress::none());

  const model::Model w4 = model::Model::load(dir / "w4"), w4ct = model::Model::load(dir / "w4ct");
  const model::Model f8 = model::Model::load(dir / "f8"), w16 = model::Model::load(dir / "w16");
  const io::TensorStore s4 = io::TensorStore::open(dir / "w4"), sct = io::TensorStore::open(dir / "w4ct");
  const io::TensorStore s8 = io::TensorStore::open(dir / "f8");
  const auto& l0 = w4.weights().layers[0];
  EXPECT_EQ(l0.act_qkv.kind, model::ActivationQuant::Kind::Nvfp4);
  EXPECT_EQ(l0.act_qkv.scale, 1.0f / f32_at(s4.at("model.layers.0.self_attn.q_proj.input_scale")));
  EXPECT_EQ(w4ct.weights().layers[0].act_down.scale,
            f32_at(sct.at("model.layers.0.mlp.down_proj.input_global_scale")));
  EXPECT_EQ(f8.weights().layers[1].act_o.kind, model::ActivationQuant::Kind::Fp8);
  EXPECT_EQ(f8.weights().layers[1].act_o.scale, f32_at(s8.at("model.layers.1.self_attn.o_proj.input_scale")));
  EXPECT_FALSE(w16.weights().layers[0].act_qkv) << "weight-only";

  const quant::CalibrationSet set =
      quant::load_calibration(builtin / "eval.txt", io::Tokenizer::load(builtin), 2, 32, 1);
  for (const model::Model* m : {&w4, &w4ct, &f8}) {
    quant::LayerRunner runner(*m, set);
    std::int64_t checked = 0, off = 0;
    for (int layer = 0; layer < m->config().num_hidden_layers; ++layer) {
      const auto& lw = m->weights().layers[static_cast<std::size_t>(layer)];
      runner.advance(layer, [&](const model::LinearInputView& v) {
        const model::ActivationQuant& a = v.which == model::LinearInput::QKV  ? lw.act_qkv
                                          : v.which == model::LinearInput::O ? lw.act_o
                                          : v.which == model::LinearInput::GateUp ? lw.act_gate_up
                                                                                  : lw.act_down;
        ASSERT_TRUE(a);
        for (std::int64_t i = 0; i < v.rows * v.cols; i += 16) {
          if (a.kind == model::ActivationQuant::Kind::Nvfp4) {
            if (!on_nvfp4_grid(v.host() + i, a.scale)) ++off;
          } else {
            for (int k = 0; k < 16; ++k)
              if (!near_e4m3(v.host()[i + k] / a.scale)) ++off;
          }
          ++checked;
        }
      });
    }
    EXPECT_GT(checked, 1000);
    EXPECT_EQ(off, 0) << "blocks off the grid";
  }

  const std::vector<std::int32_t> toks(set.tokens.begin(), set.tokens.begin() + 32);
  model::Model plain = w4;
  for (auto& lw : plain.mutable_weights().layers) lw.act_qkv = lw.act_o = lw.act_gate_up = lw.act_down = {};
  EXPECT_EQ(model::forward_all(plain, toks), model::forward_all(w16, toks));
  EXPECT_NE(model::forward_all(w4, toks), model::forward_all(w16, toks));
}

}  // namespace
}  // namespace qlab::exporter
