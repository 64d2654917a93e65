#pragma once
// Named training setups: the text, the model shape and the optimisation settings together.
//   builtin   the built-in model in assets/builtin (vocab 768, hidden 64, 4 layers, context 128)
//   small     a quick model (hidden 64, 2 layers, context 64): `qlab train`'s default and lab 3's
//   tiny      a few thousand parameters for tests
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/model_config.h"
#include "engine/train/corpus.h"
#include "engine/train/trainer.h"

namespace qlab::train {

struct TrainPreset {
  std::string name, description;
  CorpusSpec corpus;
  io::ModelConfig (*config)(int vocab_size);
  TrainOptions options;  // precision fp32; steps, batch, seq, schedule, seed
};

const std::vector<TrainPreset>& train_presets();
// Error listing the names when unknown.
const TrainPreset& train_preset(std::string_view name);

}  // namespace qlab::train
