// Writing a random-weight Llama-family model. The pieces, in the order they run:
//   presets           configs shaped like published models
//   tensor list       HF names and shapes, the same list transformers' LlamaForCausalLM has
//   values            a counter-based generator, so any element can be computed on its own
//   the folder        io::CheckpointWriter: greedy shards in model order, transformers' file names and
//                     index, staged in <out>.partial-<pid> (flock held; abandoned ones removed) and
//                     renamed to <out> when complete
#include "engine/io/synth_model.h"

#include <atomic>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/formats/scalar.h"
#include "engine/io/checkpoint_writer.h"
#include "engine/io/tensor_map.h"

namespace qlab::io {

namespace fs = std::filesystem;

// ---- presets -------------------------------------------------------------------------------

namespace {

ModelConfig llama_shape(int layers, int hidden, int heads, int kv_heads, int intermediate, int vocab) {
  ModelConfig c = llama_config(layers, hidden, heads, kv_heads, intermediate, vocab);
  c.max_position_embeddings = 2048;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.eos_token_ids = {2};
  c.dtype = "bfloat16";
  return c;
}

}  // namespace

const std::vector<std::string>& synth_preset_names() {
  static const std::vector<std::string> names = {"tiny", "tinyllama-1.1b", "llama-3.1-8b"};
  return names;
}

ModelConfig synth_preset(std::string_view name) {
  if (name == "tiny") return llama_shape(2, 64, 4, 2, 192, 512);
  if (name == "tinyllama-1.1b") return llama_shape(22, 2048, 32, 4, 5632, 32000);  // TinyLlama-1.1B config.json
  if (name == "llama-3.1-8b") {                                                     // Llama-3.1-8B config.json
    ModelConfig c = llama_shape(32, 4096, 32, 8, 14336, 128256);
    c.max_position_embeddings = 131072;
    c.rope.theta = 500000.0;
    c.rope.type = "llama3";
    c.rope.factor = 8.0;
    c.rope.low_freq_factor = 1.0;
    c.rope.high_freq_factor = 4.0;
    c.rope.original_max_position_embeddings = 8192;
    c.bos_token_id = 128000;
    c.eos_token_id = 128001;
    c.eos_token_ids = {128001};
    return c;
  }
  std::string list;
  for (const auto& n : synth_preset_names()) list += (list.empty() ? "" : ", ") + n;
  fail("unknown preset '{}' (presets: {})", name, list);
}

// ---- values --------------------------------------------------------------------------------

namespace {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t name_key(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ull;
  return splitmix64(h ^ splitmix64(seed));
}

// Irwin-Hall: the sum of eight 16-bit uniforms, centred and scaled to unit variance. Close to a
// normal (tails cut at 4.9 sigma), and only integer work, so the loop vectorizes.
inline float unit_normal(std::uint64_t key, std::uint64_t i) {
  const std::uint64_t a = splitmix64(key + 2 * i), b = splitmix64(key + 2 * i + 1);
  std::uint32_t s = 0;
  for (int k = 0; k < 4; ++k) s += static_cast<std::uint32_t>((a >> (16 * k)) & 0xffff) + ((b >> (16 * k)) & 0xffff);
  // each uniform is (x + 0.5) / 65536: mean 1/2, variance 1/12; eight of them: mean 4, variance 2/3
  const float sum = (static_cast<float>(s) + 4.0f) * (1.0f / 65536.0f);
  return (sum - 4.0f) * 1.2247448713915890f;  // sqrt(3/2)
}

enum class Init { Normal, Ones, Zeros };

// transformers' _init_weights for the Llama family, by the tensor's role in the map.
Init init_of(std::string_view name) {
  switch (role_of(name)) {
    case TensorRole::Norm: return Init::Ones;
    case TensorRole::Bias: return Init::Zeros;
    default: return Init::Normal;
  }
}

void fill_values(const TensorHeader& t, std::uint64_t key, float stdev, std::uint64_t first,
                 std::span<std::byte> out) {
  const std::size_t es = dtype_size(t.dtype);
  const std::size_t n = out.size() / es;
  const Init init = init_of(t.name);
  parallel_for(
      n,
      [&](std::size_t b, std::size_t e) {
        constexpr std::size_t kBlock = 1024;
        float v[kBlock];
        for (std::size_t i = b; i < e; i += kBlock) {
          const std::size_t m = std::min(kBlock, e - i);
          if (init == Init::Normal) {
            for (std::size_t k = 0; k < m; ++k) v[k] = stdev * unit_normal(key, first + i + k);
          } else {
            for (std::size_t k = 0; k < m; ++k) v[k] = init == Init::Ones ? 1.0f : 0.0f;
          }
          std::byte* dst = out.data() + i * es;
          if (t.dtype == DType::F32) {
            std::memcpy(dst, v, m * 4);
          } else {
            std::uint16_t h[kBlock];
            if (t.dtype == DType::BF16)
              for (std::size_t k = 0; k < m; ++k) h[k] = formats::f32_to_bf16(v[k]);
            else
              for (std::size_t k = 0; k < m; ++k) h[k] = formats::f32_to_f16(v[k]);
            std::memcpy(dst, h, m * 2);
          }
        }
      },
      std::size_t{1} << 16);
}

const std::map<std::string, std::string> kFileMetadata = {{"format", "pt"}};

std::string dtype_word(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: fail("synthetic models are stored as F32, F16 or BF16, not {}", dtype_name(d));
  }
}

CheckpointOptions checkpoint_options(const SynthSpec& spec, std::stop_token stop) {
  CheckpointOptions o;
  o.max_shard_bytes = spec.max_shard_bytes;
  o.shard_metadata = kFileMetadata;
  o.stop = std::move(stop);
  return o;
}

}  // namespace

float synth_value(std::uint64_t seed, std::string_view tensor_name, std::uint64_t i, float stdev) {
  switch (init_of(tensor_name)) {
    case Init::Ones: return 1.0f;
    case Init::Zeros: return 0.0f;
    case Init::Normal: break;
  }
  return stdev * unit_normal(name_key(seed, tensor_name), i);
}

std::uint64_t synth_model_bytes(const SynthSpec& spec) {
  const auto all = tensor_headers(tensor_map(spec.config), spec.dtype);
  return checkpoint_shard_bytes(all, checkpoint_options(spec, {})) + 64 * 1024;  // + config.json and the index
}

// ---- the folder: the checkpoint writer's -----------------------------------------------------

SynthResult write_synth_model(const fs::path& out_dir, const SynthSpec& spec, Progress& progress,
                              std::stop_token stop) {
  dtype_word(spec.dtype);
  ModelConfig cfg = spec.config;
  cfg.dtype = dtype_word(spec.dtype);
  // The config must be one our own loader accepts: round-trip it so a bad shape fails here, named.
  nlohmann::json cj = model_config_to_json(cfg);
  cfg = parse_model_config(cj, "synthetic model config");

  const std::vector<TensorHeader> all = tensor_headers(tensor_map(cfg), spec.dtype);
  CheckpointWriter w(out_dir, checkpoint_options(spec, stop));  // refuses a folder in use
  const std::uint64_t need = synth_model_bytes(spec);
  std::error_code ec;
  auto space = fs::space(w.staging_dir().parent_path(), ec);
  if (!ec && space.available < need)
    fail("{}: the model needs {:.2f} GB but only {:.2f} GB are free there", out_dir.string(), need / 1e9,
         space.available / 1e9);

  // The writer shards the tensors as plan_shards does; the plan only names the shard in progress labels.
  const auto plan = plan_shards(all, spec.max_shard_bytes);
  std::uint64_t data_total = 0, done = 0;
  for (const auto& t : all) data_total += dtype_byte_length(t.dtype, t.shape, t.name);
  for (std::size_t k = 0; k < plan.size(); ++k)
    for (std::size_t i : plan[k]) {
      const TensorHeader& t = all[i];
      const std::string label =
          fmt::format("writing {} ({}/{})", shard_file_name(k, plan.size()), k + 1, plan.size());
      w.add(t, [&, t, label, key = name_key(spec.seed, t.name)](std::uint64_t off, std::span<std::byte> chunk) {
        fill_values(t, key, spec.init_std, off / dtype_size(t.dtype), chunk);
        done += chunk.size();
        progress.report(data_total ? double(done) / double(data_total) : 1.0, label);
      });
    }
  w.write_json("config.json", cj);
  const CheckpointResult cr = w.finish();

  SynthResult result;
  result.files = cr.files;
  result.bytes = cr.bytes;
  result.parameters = cfg.parameter_count();
  progress.report(1.0, "done");
  return result;
}

}  // namespace qlab::io
