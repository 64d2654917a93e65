#include "labs/model_tensor.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "engine/io/safetensors.h"
#include "engine/io/tensor_map.h"

namespace qlab::labs {

WeightSample load_weight_sample(const ModelRef& model, std::int64_t max_elements) {
  std::error_code ec;
  if (model.builtin && !std::filesystem::exists(model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("the built-in model is not installed in this build ({} has no config.json); "
                                   "run qlab --model DIR with a Hugging Face model folder", model.dir.string()));
  io::TensorStore store = io::TensorStore::open(model.dir);
  const io::TensorRef* pick = nullptr;
  // The first layer's q_proj is the usual example. A small model's rows can be too narrow for
  // group-wise formats (the built-in model's are 64 wide: a 128-group would be half padding), so
  // below two 128-wide groups the layer's widest projection is taken instead.
  constexpr std::int64_t kWideEnough = 256;
  for (const char* want : {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight",
                           "model.layers.0.mlp.up_proj.weight"}) {
    const io::TensorRef* t = store.find(want);
    if (!t || t->shape.size() != 2) continue;
    if (!pick || (pick->shape[1] < kWideEnough && t->shape[1] > pick->shape[1])) pick = t;
  }
  if (!pick)
    for (const auto& n : store.names()) {
      const io::TensorRef& t = store.at(n);
      if (t.shape.size() == 2 && io::is_linear_weight(io::role_of(n))) {
        pick = &t;
        break;
      }
    }
  if (!pick) fail("{}: no projection weight (…proj.weight of a layer) to measure", model.dir.string());
  if (pick->shape.size() != 2) fail("{}: tensor {} is not 2-D", model.dir.string(), pick->name);
  WeightSample s;
  s.name = pick->name;
  s.full_rows = pick->shape[0];
  s.cols = pick->shape[1];
  s.rows = std::clamp<std::int64_t>(max_elements / std::max<std::int64_t>(1, s.cols), 1, s.full_rows);
  // Convert only the rows kept: a view of the leading rows' bytes.
  io::TensorRef head = *pick;
  std::size_t esz = io::dtype_size(pick->dtype);
  if (esz == 0) fail("{}: tensor {} is stored as {}, not a float type the labs can read", model.dir.string(),
                     pick->name, io::dtype_name(pick->dtype));
  head.shape = {s.rows, s.cols};
  head.bytes = pick->bytes.subspan(0, static_cast<std::size_t>(s.rows * s.cols) * esz);
  s.data = io::to_f32(head);
  return s;
}

}  // namespace qlab::labs
