#include "engine/train/train_presets.h"

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/train/train_model.h"

namespace qlab::train {

namespace {

io::ModelConfig small_config(int vocab) {
  io::ModelConfig c = builtin_config(vocab);
  c.hidden_size = 64;
  c.intermediate_size = 192;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 64;
  return c;
}

std::vector<TrainPreset> make_presets() {
  std::vector<TrainPreset> p;
  {
    TrainPreset b;
    b.name = "builtin";
    b.description = "the built-in model: vocab 768, hidden 64, 4 layers, 2 heads (1 kv), context 128";
    // Small for its text, trained long (about 40 tokens per parameter), with no weight decay and
    // a share of two-digit sums: a model used near its capacity, so rounding its weights to 4 bits
    // costs visible perplexity (a wide, briefly trained model shrugs the same rounding off).
    b.corpus = CorpusSpec{};
    b.corpus.train_bytes = 5'000'000;
    b.corpus.text.sums_fraction = 0.4;
    b.config = builtin_config;
    b.options.preset = "builtin";
    b.options.steps = 6000;
    b.options.batch = 16;
    b.options.seq = 128;
    b.options.schedule = {3e-3, 3e-4, 100, b.options.steps};
    b.options.adamw.weight_decay = 0.0;
    b.options.seed = 1;
    p.push_back(b);
  }
  {
    TrainPreset s;
    s.name = "small";
    s.description = "a quick model: vocab 512, hidden 64, 2 layers, 4 heads (2 kv), context 64";
    s.corpus.train_bytes = 600'000;
    s.corpus.eval_bytes = 40'000;
    s.corpus.calib_bytes = 20'000;
    s.corpus.bpe_bytes = 300'000;
    s.corpus.mc_items = 100;
    s.corpus.vocab_size = 512;
    s.config = small_config;
    s.options.preset = "small";
    s.options.steps = 300;
    s.options.batch = 8;
    s.options.seq = 64;
    s.options.schedule = {4e-3, 4e-4, 30, s.options.steps};
    s.options.seed = 1;
    p.push_back(s);
  }
  {
    TrainPreset t;
    t.name = "tiny";
    t.description = "a few thousand parameters, for tests: vocab 300, hidden 16, 2 layers, context 16";
    t.corpus.train_bytes = 60'000;
    t.corpus.eval_bytes = 8'000;
    t.corpus.calib_bytes = 4'000;
    t.corpus.bpe_bytes = 60'000;
    t.corpus.mc_items = 10;
    t.corpus.vocab_size = 300;
    t.config = tiny_config;
    t.options.preset = "tiny";
    t.options.steps = 40;
    t.options.batch = 4;
    t.options.seq = 16;
    t.options.schedule = {5e-3, 5e-4, 5, t.options.steps};
    t.options.seed = 1;
    p.push_back(t);
  }
  return p;
}

}  // namespace

const std::vector<TrainPreset>& train_presets() {
  static const std::vector<TrainPreset> p = make_presets();
  return p;
}

const TrainPreset& train_preset(std::string_view name) {
  std::string names;
  for (const auto& p : train_presets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  fail("unknown training preset '{}' (presets: {})", name, names);
}

}  // namespace qlab::train
