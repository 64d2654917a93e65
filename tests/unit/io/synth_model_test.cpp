// Synthetic models: the shapes of the published configs, the files transformers' layout uses, the
// statistics of the weights, and the promises about determinism, sharding and atomic output.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/io/synth_model.h"
#include "engine/io/tensor_map.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

TEST(SynthPresets, MatchPublishedParameterCounts) {
  EXPECT_EQ(synth_preset("tinyllama-1.1b").parameter_count(), 1'100'048'384LL);
  EXPECT_EQ(synth_preset("llama-3.1-8b").parameter_count(), 8'030'261'248LL);
  long long from_tensors = 0;
  for (const auto& t : tensor_headers(tensor_map(synth_preset("llama-3.1-8b")), DType::BF16)) {
    long long n = 1;
    for (auto d : t.shape) n *= d;
    from_tensors += n;
  }
  EXPECT_EQ(from_tensors, 8'030'261'248LL);
  EXPECT_EQ(tensor_headers(tensor_map(synth_preset("llama-3.1-8b")), DType::BF16).size(), 291u);  // 32 x 9 + 3
  expect_error([] { synth_preset("gpt-5"); }, {"unknown preset 'gpt-5'", "tinyllama-1.1b"});
}

TEST(SynthModel, TinyF32IsAValidModelWithInitStatistics) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  spec.dtype = DType::F32;
  spec.seed = 42;
  auto r = write_synth_model(dir / "m", spec, Progress::none());
  EXPECT_EQ(r.files.size(), 2u);
  auto cfg = load_model_config(dir / "m");
  EXPECT_EQ(cfg.dtype, "float32");
  EXPECT_EQ(cfg.hidden_size, 64);
  auto store = TensorStore::open(dir / "m");
  EXPECT_EQ(store.metadata().at("format"), "pt");
  long long n = 0;
  for (const auto& h : tensor_headers(tensor_map(cfg), DType::F32)) {
    const TensorRef& t = store.at(h.name);
    EXPECT_EQ(t.shape, h.shape) << h.name;
    EXPECT_EQ(t.dtype, DType::F32);
    n += t.numel();
  }
  EXPECT_EQ(store.size(), tensor_headers(tensor_map(cfg), DType::F32).size());
  EXPECT_EQ(n, cfg.parameter_count());
  EXPECT_EQ(r.parameters, n);

  for (float v : to_f32(store.at("model.layers.1.post_attention_layernorm.weight"))) ASSERT_EQ(v, 1.0f);
  // N(0, 0.02): with 32768 draws, the mean is within 4 standard errors of 0 and the std within 3%.
  auto w = to_f32(store.at("model.embed_tokens.weight"));
  double sum = 0, sq = 0, mx = 0;
  for (float v : w) {
    sum += v;
    sq += double(v) * v;
    mx = std::max(mx, std::abs(double(v)));
  }
  const double mean = sum / w.size(), sd = std::sqrt(sq / w.size() - mean * mean);
  EXPECT_LT(std::abs(mean), 4 * 0.02 / std::sqrt(double(w.size())));
  EXPECT_NEAR(sd, 0.02, 0.02 * 0.03);
  EXPECT_GT(mx, 3.0 * 0.02);  // bell-shaped tails, not a uniform (max 1.7 sd)
  EXPECT_LT(mx, 5.0 * 0.02);
  // a single-file model has no index, and no staging folder is left behind
  EXPECT_FALSE(fs::exists(dir / "m" / "model.safetensors.index.json"));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST(SynthModel, SameSeedSameBytesOtherSeedOtherBytes) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  write_synth_model(dir / "a", spec, Progress::none());
  write_synth_model(dir / "b", spec, Progress::none());
  spec.seed = 1;
  write_synth_model(dir / "c", spec, Progress::none());
  EXPECT_EQ(read_raw(dir / "a" / "model.safetensors"), read_raw(dir / "b" / "model.safetensors"));
  EXPECT_NE(read_raw(dir / "a" / "model.safetensors"), read_raw(dir / "c" / "model.safetensors"));
}

TEST(SynthModel, HalfPrecisionIsTheF32ModelRounded) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  spec.dtype = DType::F32;
  write_synth_model(dir / "f32", spec, Progress::none());
  for (DType d : {DType::BF16, DType::F16}) {
    spec.dtype = d;
    const std::string leaf = std::string(dtype_name(d));
    write_synth_model(dir / leaf, spec, Progress::none());
    auto a = TensorStore::open(dir / "f32"), b = TensorStore::open(dir / leaf);
    EXPECT_EQ(load_model_config(dir / leaf).dtype, d == DType::BF16 ? "bfloat16" : "float16");
    auto x = to_f32(a.at("model.layers.0.mlp.down_proj.weight"));
    auto y = to_f32(b.at("model.layers.0.mlp.down_proj.weight"));
    ASSERT_EQ(x.size(), y.size());
    // bf16 keeps 8 significant bits, f16 11 (its subnormals start at 6e-5: allow that absolute error)
    const double rel = d == DType::BF16 ? 1.0 / 256 : 1.0 / 2048;
    for (std::size_t i = 0; i < x.size(); ++i)
      ASSERT_LE(std::abs(x[i] - y[i]), rel * std::abs(x[i]) + 6e-8) << leaf << " element " << i;
  }
}

TEST(SynthModel, ShardsLikeTransformers) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  spec.dtype = DType::F32;
  spec.max_shard_bytes = 100'000;  // the tiny model is ~560 kB: several shards
  auto r = write_synth_model(dir / "m", spec, Progress::none());
  auto index = nlohmann::json::parse(read_raw(dir / "m" / "model.safetensors.index.json"));
  std::set<std::string> shards;
  for (const auto& [name, file] : index["weight_map"].items()) shards.insert(file.get<std::string>());
  ASSERT_GT(shards.size(), 2u);
  const std::size_t k = shards.size();
  std::size_t i = 1;
  std::uint64_t total = 0;
  for (const auto& f : shards) {
    EXPECT_EQ(f, fmt::format("model-{:05d}-of-{:05d}.safetensors", i++, k));
    EXPECT_FALSE(fs::exists(dir / "m" / "model.safetensors"));
  }
  auto store = TensorStore::open(dir / "m");
  EXPECT_EQ(store.files().size(), k);
  for (const auto& name : store.names()) total += store.at(name).bytes.size();
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), total);
  // a shard only passes the limit when it holds a single tensor bigger than the limit
  for (const auto& f : store.files()) {
    std::size_t tensors = 0;
    for (const auto& name : store.names()) tensors += store.at(name).file == f.string();
    if (tensors > 1) {
      EXPECT_LE(fs::file_size(f), spec.max_shard_bytes + 4096) << f;
    }
  }
  // sharded bytes are the same model as the single file
  spec.max_shard_bytes = 5'000'000'000;
  write_synth_model(dir / "one", spec, Progress::none());
  auto single = TensorStore::open(dir / "one");
  for (const auto& name : single.names())
    EXPECT_TRUE(std::equal(single.at(name).bytes.begin(), single.at(name).bytes.end(), store.at(name).bytes.begin(),
                           store.at(name).bytes.end()))
        << name;
  EXPECT_EQ(r.parameters, single.size() ? synth_preset("tiny").parameter_count() : 0);
}

TEST(SynthModel, Qwen2ShapeHasBiasesAndTiedEmbeddings) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  spec.config.architecture = "Qwen2ForCausalLM";
  spec.config.model_type = "qwen2";
  spec.config.attention_bias = true;
  spec.config.tie_word_embeddings = true;
  write_synth_model(dir / "q", spec, Progress::none());
  auto cfg = load_model_config(dir / "q");
  EXPECT_TRUE(cfg.attention_bias);
  EXPECT_TRUE(cfg.tie_word_embeddings);
  auto store = TensorStore::open(dir / "q");
  EXPECT_NE(store.find("model.layers.0.self_attn.k_proj.bias"), nullptr);
  EXPECT_EQ(store.find("model.layers.0.self_attn.o_proj.bias"), nullptr);
  EXPECT_EQ(store.find("lm_head.weight"), nullptr);
  for (float v : to_f32(store.at("model.layers.0.self_attn.q_proj.bias"))) ASSERT_EQ(v, 0.0f);
}

TEST(SynthModel, RefusesOccupiedFolderAndBadShapes) {
  ScratchDir dir;
  fs::create_directories(dir / "busy");
  write_raw(dir / "busy" / "notes.txt", "mine");
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  expect_error([&] { write_synth_model(dir / "busy", spec, Progress::none()); }, {"busy", "not an empty folder"});
  EXPECT_EQ(read_raw(dir / "busy" / "notes.txt"), "mine");
  fs::create_directories(dir / "empty");
  EXPECT_NO_THROW(write_synth_model(dir / "empty", spec, Progress::none()));
  EXPECT_TRUE(fs::exists(dir / "empty" / "model.safetensors"));
  spec.config.num_key_value_heads = 3;
  expect_error([&] { write_synth_model(dir / "bad", spec, Progress::none()); }, {"num_key_value_heads"});
  SynthSpec u8;
  u8.config = synth_preset("tiny");
  u8.dtype = DType::U8;
  expect_error([&] { write_synth_model(dir / "bad", u8, Progress::none()); }, {"F32, F16 or BF16"});
  EXPECT_FALSE(fs::exists(dir / "bad"));
}

TEST(SynthModel, CancelLeavesNothingBehind) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  std::stop_source stop;
  stop.request_stop();
  EXPECT_THROW(write_synth_model(dir / "m", spec, Progress::none(), stop.get_token()), qlab::Cancelled);
  EXPECT_FALSE(fs::exists(dir / "m"));
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace qlab::io
