#include "labs/model_tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "engine/io/safetensors.h"
#include "engine/io/tensor_map.h"

namespace qlab::labs {

namespace {


std::string projection_name(int layer, const std::string& proj) {
  const bool mlp = proj == "gate_proj" || proj == "up_proj" || proj == "down_proj";
  return fmt::format("model.layers.{}.{}.{}.weight", layer, mlp ? "mlp" : "self_attn", proj);
}

}  // namespace

double peak_to_rms(const std::vector<float>& x) {
  double peak = 0, ss = 0;
  for (float v : x) {
    peak = std::max(peak, static_cast<double>(std::fabs(v)));
    ss += static_cast<double>(v) * v;
  }
  return ss > 0 ? peak / std::sqrt(ss / static_cast<double>(x.size())) : 0.0;
}

std::vector<PeakRatio> rank_by_peak(const ModelRef& model, std::uint64_t max_bytes) {
  std::vector<PeakRatio> out;
  io::TensorStore store = io::TensorStore::open(model.dir);
  if (store.total_bytes() > max_bytes) return out;
  for (const auto& n : store.names()) {
    const io::TensorRef& t = store.at(n);
    if (t.shape.size() != 2 || !io::is_linear_weight(io::role_of(n))) continue;
    if (io::dtype_size(t.dtype) == 0) continue;
    out.push_back({n, peak_to_rms(io::to_f32(t))});
  }
  std::stable_sort(out.begin(), out.end(), [](const PeakRatio& a, const PeakRatio& b) { return a.peak_to_rms > b.peak_to_rms; });
  return out;
}

WeightSample load_weight_sample(const ModelRef& model, std::int64_t max_elements, int layer, const std::string& projection) {
  std::error_code ec;
  if (model.builtin && !std::filesystem::exists(model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("the built-in model is not installed in this build ({} has no config.json); "
                                   "run qlab --model DIR with a Hugging Face model folder", model.dir.string()));
  io::TensorStore store = io::TensorStore::open(model.dir);
  const io::TensorRef* pick = nullptr;
  if (projection != "auto") {
    pick = store.find(projection_name(layer, projection));
    if (!pick) {
      const bool layer_exists = store.find(projection_name(layer, "q_proj")) || store.find(projection_name(layer, "down_proj"));
      fail("{}: {} (choose another {} in the step's settings)", model.display,
           layer_exists ? fmt::format("layer {} has no {}", layer, projection) : fmt::format("there is no layer {}", layer),
           layer_exists ? "projection" : "layer");
    }
  } else {
    // The layer's q_proj is the usual example. A small model's rows can be too narrow for group-wise
    // formats (the built-in model's are 64 wide: a 128-group would be half padding), so below two
    // 128-wide groups the layer's widest projection is taken instead.
    constexpr std::int64_t kWideEnough = 256;
    for (const char* want : {"q_proj", "down_proj", "up_proj"}) {
      const io::TensorRef* t = store.find(projection_name(layer, want));
      if (!t || t->shape.size() != 2) continue;
      if (!pick || (pick->shape[1] < kWideEnough && t->shape[1] > pick->shape[1])) pick = t;
    }
    if (!pick && layer == 0)
      for (const auto& n : store.names()) {
        const io::TensorRef& t = store.at(n);
        if (t.shape.size() == 2 && io::is_linear_weight(io::role_of(n))) {
          pick = &t;
          break;
        }
      }
    if (!pick && layer != 0) fail("{}: there is no layer {} (choose another layer in the step's settings)", model.display, layer);
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
