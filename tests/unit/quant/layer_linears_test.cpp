// The one binding of a layer's HF names to the runtime's fields (layer_linears.h) covers exactly the
// Linear weights the tensor map gives a Llama-family layer: RTN, GPTQ and AWQ quantize the same set.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <set>
#include <string>

#include "engine/io/model_config.h"
#include "engine/io/tensor_map.h"
#include "engine/quant/layer_linears.h"

namespace qlab::quant {
namespace {

TEST(LayerLinears, AreTheTensorMapsLinearWeightsOfEveryLayer) {
  io::ModelConfig c = io::llama_config(3, 64, 4, 2, 128, 100);
  for (int variant = 0; variant < 3; ++variant) {
    c.attention_bias = c.o_proj_bias = variant == 1;  // biases are not Linear weights
    c.mlp_bias = variant == 2;
    for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
      std::set<std::string> from_map, bound;
      for (const auto& t : io::tensor_map(c))
        if (t.layer == layer && t.linear_weight()) from_map.insert(t.name);
      for (const auto& l : kLayerLinears) bound.insert(fmt::format("model.layers.{}.{}.weight", layer, l.name));
      EXPECT_EQ(from_map, bound) << "variant " << variant << " layer " << layer;
    }
  }
}

}  // namespace
}  // namespace qlab::quant
