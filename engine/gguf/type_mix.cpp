// llama-quantize's per-tensor type selection, after llama.cpp src/llama-quant.cpp. The branches
// below keep the order of the source's if/else chains (which rule wins depends on it), restricted
// to the file types in FileType.
#include "engine/gguf/type_mix.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <numeric>
#include <regex>

#include "engine/core/error.h"

namespace qlab::gguf {

namespace {

using F = FileType;
using G = GgmlType;

struct FileTypeRow {
  F ftype;
  std::string_view name;
  G base;
};
constexpr std::array kFileTypes = {
    FileTypeRow{F::Q4_0, "Q4_0", G::Q4_0},       FileTypeRow{F::Q4_1, "Q4_1", G::Q4_1},
    FileTypeRow{F::MXFP4_MOE, "MXFP4_MOE", G::MXFP4}, FileTypeRow{F::Q5_0, "Q5_0", G::Q5_0},
    FileTypeRow{F::Q5_1, "Q5_1", G::Q5_1},       FileTypeRow{F::Q2_K, "Q2_K", G::Q2_K},
    FileTypeRow{F::Q2_K_S, "Q2_K_S", G::Q2_K},   FileTypeRow{F::Q3_K_S, "Q3_K_S", G::Q3_K},
    FileTypeRow{F::Q3_K_M, "Q3_K_M", G::Q3_K},   FileTypeRow{F::Q3_K_L, "Q3_K_L", G::Q3_K},
    FileTypeRow{F::Q4_K_S, "Q4_K_S", G::Q4_K},   FileTypeRow{F::Q4_K_M, "Q4_K_M", G::Q4_K},
    FileTypeRow{F::Q5_K_S, "Q5_K_S", G::Q5_K},   FileTypeRow{F::Q5_K_M, "Q5_K_M", G::Q5_K},
    FileTypeRow{F::Q6_K, "Q6_K", G::Q6_K},       FileTypeRow{F::Q8_0, "Q8_0", G::Q8_0},
    FileTypeRow{F::MOSTLY_F16, "F16", G::F16},   FileTypeRow{F::MOSTLY_BF16, "BF16", G::BF16},
    FileTypeRow{F::ALL_F32, "F32", G::F32},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

enum class Category { TokenEmbd, AttnQ, AttnV, AttnK, AttnQkv, AttnKvB, AttnOutput, FfnUp, FfnGate, FfnDown, Output, Other };

Category category_of(std::string_view name) {
  if (name == "output.weight") return Category::Output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::TokenEmbd;
  if (contains(name, "attn_qkv.weight")) return Category::AttnQkv;
  if (contains(name, "attn_kv_b.weight")) return Category::AttnKvB;
  if (contains(name, "attn_v.weight")) return Category::AttnV;
  if (contains(name, "attn_k.weight")) return Category::AttnK;
  if (contains(name, "attn_q.weight")) return Category::AttnQ;
  if (contains(name, "attn_output.weight")) return Category::AttnOutput;
  if (contains(name, "ffn_up")) return Category::FfnUp;
  if (contains(name, "ffn_gate")) return Category::FfnGate;
  if (contains(name, "ffn_down")) return Category::FfnDown;
  return Category::Other;
}

bool is_attn_v_like(Category c) { return c == Category::AttnV || c == Category::AttnQkv || c == Category::AttnKvB; }

// The layer number after "blk." (sscanf "blk.%d." semantics: digits, optionally signed), or nullopt.
std::optional<int> layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return std::nullopt;
  return layer;
}

// Some quantization rules single out early, late and every third layer.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

struct State {
  const ModelFacts& model;
  const MixOptions& opt;
  std::vector<std::pair<std::regex, G>> patterns;
  int n_attention_wv = 0, i_attention_wv = 0;
  int n_ffn = 0, i_ffn_down = 0, i_ffn_gate = 0, i_ffn_up = 0;
  bool tied_embeddings = true;

  int n_gqa() const { return model.n_head_kv == 0 ? 0 : model.n_head / model.n_head_kv; }
  bool falcon() const { return model.arch == "falcon"; }

  // (layer, layers) for the per-layer rules: the running count for dense models, the name's
  // layer number for mixtures of experts.
  std::pair<int, int> layer_info(int counter, const std::string& name) const {
    if (model.n_expert > 1) {
      const auto l = layer_of(name);
      if (!l) fail("tensor {}: cannot tell its layer (no blk.N. prefix) in a mixture-of-experts model", name);
      if (*l < 0 || *l >= n_ffn) fail("tensor {}: layer {} outside [0, {})", name, *l, n_ffn);
      return {*l, n_ffn};
    }
    return {counter, n_ffn};
  }
};

// The mix rules proper (llama_tensor_get_type_impl), for a quantizable tensor with no override.
G mix_rule(State& s, G t, const TensorDesc& tensor, Category cat) {
  const F ft = s.opt.file_type;
  const std::string& name = tensor.name;
  if (cat == Category::Output || (s.tied_embeddings && cat == Category::TokenEmbd)) {
    if (s.opt.output_tensor_type) return *s.opt.output_tensor_type;
    const std::int64_t nx = tensor.shape[0];
    if (ft == F::MXFP4_MOE) return G::Q8_0;
    if (s.falcon() || nx % type_traits(t).block_size != 0) return G::Q8_0;
    if (t != G::Q8_0) return G::Q6_K;
    return t;
  }
  if (ft == F::MXFP4_MOE) return tensor.shape.size() > 2 && tensor.shape[2] > 1 ? G::MXFP4 : G::Q8_0;
  if (cat == Category::TokenEmbd) return t;  // untied: only the IQ/TQ mixes change it
  if (is_attn_v_like(cat)) {
    if (ft == F::Q2_K) t = s.n_gqa() >= 4 ? G::Q4_K : G::Q3_K;
    else if (ft == F::Q2_K_S && s.n_gqa() >= 4) t = G::Q4_K;
    else if (ft == F::Q3_K_M) t = s.i_attention_wv < 2 ? G::Q5_K : G::Q4_K;
    else if (ft == F::Q3_K_L) t = G::Q5_K;
    else if ((ft == F::Q4_K_M || ft == F::Q5_K_M) && use_more_bits(s.i_attention_wv, s.n_attention_wv)) t = G::Q6_K;
    else if (ft == F::Q4_K_S && s.i_attention_wv < 4) t = G::Q5_K;
    if (s.model.is_70b && (t == G::Q3_K || t == G::Q4_K)) t = G::Q5_K;
    if (s.model.n_expert == 8) t = G::Q8_0;
    ++s.i_attention_wv;
    return t;
  }
  if (cat == Category::AttnK) return s.model.n_expert == 8 ? G::Q8_0 : t;
  if (cat == Category::AttnQ) return t;
  if (cat == Category::FfnDown) {
    const auto [i, n] = s.layer_info(s.i_ffn_down, name);
    if (ft == F::Q2_K) t = G::Q3_K;
    else if (ft == F::Q2_K_S) { if (i < n / 8) t = G::Q4_K; }
    else if (ft == F::Q3_K_M) t = i < n / 16 ? G::Q5_K : (!s.falcon() || use_more_bits(i, n)) ? G::Q4_K : G::Q3_K;
    else if (ft == F::Q3_K_L) t = s.falcon() ? G::Q4_K : G::Q5_K;
    else if (ft == F::Q4_K_M) {
      if (s.falcon()) t = i < n / 16 ? G::Q6_K : use_more_bits(i, n) ? G::Q5_K : G::Q4_K;
      else if (use_more_bits(i, n)) t = G::Q6_K;
    }
    else if (ft == F::Q5_K_M && use_more_bits(i, n)) t = G::Q6_K;
    else if (ft == F::Q4_K_S && !s.falcon() && i < n / 8) t = G::Q5_K;
    else if ((ft == F::Q4_0 || ft == F::Q5_0) && s.opt.has_imatrix && i < n / 8) t = ft == F::Q4_0 ? G::Q4_1 : G::Q5_1;
    ++s.i_ffn_down;
    return t;
  }
  if (cat == Category::AttnOutput) {
    if (!s.falcon()) {
      if (s.model.n_expert == 8) {
        if (ft == F::Q2_K || ft == F::Q3_K_S || ft == F::Q3_K_M || ft == F::Q4_K_S || ft == F::Q4_K_M) t = G::Q5_K;
      } else {
        if (ft == F::Q2_K) t = G::Q3_K;
        else if (ft == F::Q3_K_M) t = G::Q4_K;
        else if (ft == F::Q3_K_L) t = G::Q5_K;
      }
    } else if (ft == F::Q3_K_L) {
      t = G::Q4_K;
    }
    return t;
  }
  if (cat == Category::AttnQkv) {
    if (ft == F::Q3_K_M || ft == F::Q3_K_L) t = G::Q4_K;
    else if (ft == F::Q4_K_M) t = G::Q5_K;
    else if (ft == F::Q5_K_M) t = G::Q6_K;
    return t;
  }
  if (cat == Category::FfnGate) {
    (void)s.layer_info(s.i_ffn_gate, name);  // may refuse an expert tensor without a layer number
    ++s.i_ffn_gate;
    return t;
  }
  if (cat == Category::FfnUp) {
    (void)s.layer_info(s.i_ffn_up, name);
    ++s.i_ffn_up;
    return t;
  }
  return t;
}

// tensor_type_fallback: when the row length is not a whole number of the type's blocks.
G fallback(const TensorDesc& tensor, G t, bool* fell_back) {
  const std::int64_t ncols = tensor.shape[0];
  if (ncols % type_traits(t).block_size == 0) return t;
  *fell_back = true;
  G r;
  switch (t) {
    case G::Q2_K: case G::Q3_K: r = G::Q4_0; break;
    case G::Q4_K: r = G::Q5_0; break;
    case G::Q5_K: r = G::Q5_1; break;
    case G::Q6_K: r = G::Q8_0; break;
    default:
      fail("tensor {}: rows of {} elements do not fit {} blocks of {} and llama-quantize has no fallback for {}",
           tensor.name, ncols, type_name(t), type_traits(t).block_size, type_name(t));
  }
  if (ncols % type_traits(r).block_size != 0) r = G::F16;  // "must use F16 due to unusual shape"
  return r;
}

bool requires_imatrix(const std::string& name, G t, F ft) {
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight") return false;
  return t == G::Q2_K && ft == F::Q2_K_S;
}

// The whole llama_tensor_get_type for one tensor.
TensorPlan plan_one(State& s, const TensorDesc& tensor, Category cat) {
  TensorPlan p{tensor.type, false, false, false};
  if (!quantization_allowed(tensor, s.opt)) return p;
  const G base = base_type(s.opt.file_type);
  G t = base;
  bool checked_override = false;
  if (s.opt.token_embedding_type && cat == Category::TokenEmbd) {
    t = *s.opt.token_embedding_type;
    checked_override = true;
  } else if (s.opt.output_tensor_type && cat == Category::Output) {
    t = *s.opt.output_tensor_type;
    checked_override = true;
  } else if (!s.opt.pure && type_traits(base).quantized) {
    bool manual = false;
    for (const auto& [re, qtype] : s.patterns) {
      if (std::regex_search(tensor.name, re)) {
        t = qtype;
        manual = true;
        break;
      }
    }
    if (!manual) t = mix_rule(s, t, tensor, cat);
    t = fallback(tensor, t, &p.fell_back);
  } else {
    checked_override = true;  // --pure (or an unquantized mix): no fallback, the shape must fit
  }
  if (checked_override && tensor.shape[0] % type_traits(t).block_size != 0)
    fail("tensor {}: rows of {} elements are not a whole number of {} blocks of {} (llama-quantize has no fallback "
         "here{})", tensor.name, tensor.shape[0], type_name(t), type_traits(t).block_size,
         s.opt.pure ? " under --pure" : " for a type given explicitly");
  p.type = t;
  p.convert = t != tensor.type;
  p.requires_imatrix = requires_imatrix(tensor.name, t, s.opt.file_type);
  return p;
}

}  // namespace

std::optional<FileType> file_type_from_name(std::string_view name) {
  for (const auto& r : kFileTypes)
    if (iequals(r.name, name)) return r.ftype;
  if (iequals(name, "Q3_K")) return F::Q3_K_M;
  if (iequals(name, "Q4_K")) return F::Q4_K_M;
  if (iequals(name, "Q5_K")) return F::Q5_K_M;
  return std::nullopt;
}

std::string_view file_type_name(FileType f) {
  for (const auto& r : kFileTypes)
    if (r.ftype == f) return r.name;
  fail("file type {} is not one qlab writes", static_cast<std::uint32_t>(f));
}

std::string file_type_names() {
  std::string out;
  for (const auto& r : kFileTypes) {
    if (!out.empty()) out += ' ';
    out += r.name;
  }
  return out;
}

GgmlType base_type(FileType f) {
  for (const auto& r : kFileTypes)
    if (r.ftype == f) return r.base;
  fail("file type {} is not one qlab writes", static_cast<std::uint32_t>(f));
}

bool model_is_70b(std::string_view arch, int n_layer, int n_head, int n_head_kv) {
  if (arch == "llama") return n_layer == 80 && n_head != n_head_kv;
  if (arch == "qwen2" || arch == "olmo" || arch == "deci") return n_layer == 80;
  if (arch == "jais2") return n_layer == 68;
  return false;
}

bool loader_order_less(const std::string& a, const std::string& b) {
  const int la = layer_of(a).value_or(-1), lb = layer_of(b).value_or(-1);
  if (la != lb) return la < lb;
  return a < b;
}

bool quantization_allowed(const TensorDesc& t, const MixOptions& o) {
  std::size_t n_dims = t.shape.size();  // as ggml_n_dims: trailing 1s do not count
  while (n_dims > 1 && t.shape[n_dims - 1] == 1) --n_dims;
  if (n_dims < 2) return false;
  const std::string& n = t.name;
  if (n.size() < 6 || n.compare(n.size() - 6, 6, "weight") != 0) return false;
  if (contains(n, "_norm.weight")) return false;
  if (o.leave_output_tensor && n == "output.weight") return false;
  // Expert gates, tiny special tensors, positional and token-type embeddings, convolution and
  // RWKV mixing weights, relative position biases, and a few vision-tower tensors stay as they are.
  static constexpr std::string_view kKeep[] = {
      "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
      "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
      "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
      "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
      "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
      "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger"};
  for (std::string_view k : kKeep)
    if (contains(n, k)) return false;
  if (n == "position_embd.weight" || n == "token_types.weight") return false;
  return true;
}

std::vector<TensorPlan> plan_types(std::span<const TensorDesc> tensors, const ModelFacts& model, const MixOptions& o) {
  State s{model, o, {}};
  for (const auto& [pattern, type] : o.tensor_types) {
    std::string lower = pattern;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    try {
      s.patterns.emplace_back(std::regex(lower), type);
    } catch (const std::regex_error& e) {
      fail("--tensor-type {}: not a valid regular expression ({})", pattern, e.what());
    }
  }
  std::vector<Category> cats;
  for (const TensorDesc& t : tensors) {
    if (t.shape.empty()) fail("tensor {} has no dimensions", t.name);
    cats.push_back(category_of(t.name));
    if (is_attn_v_like(cats.back())) ++s.n_attention_wv;
    if (cats.back() == Category::Output) s.tied_embeddings = false;
  }
  s.n_ffn = model.n_layer;
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return loader_order_less(tensors[a].name, tensors[b].name); });
  std::vector<TensorPlan> plans(tensors.size());
  for (std::size_t i : order) plans[i] = plan_one(s, tensors[i], cats[i]);
  return plans;
}

}  // namespace qlab::gguf
