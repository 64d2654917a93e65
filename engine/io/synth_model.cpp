// Writing a random-weight Llama-family model. The pieces, in the order they run:
//   presets           configs shaped like published models
//   tensor list       HF names and shapes, the same list transformers' LlamaForCausalLM has
//   values            a counter-based generator, so any element can be computed on its own
//   shards            greedy packing in model order, transformers' file names and index
//   staging folder    everything lands in <out>.partial-<pid>, renamed to <out> when complete; the
//                     run holds an flock on it, so the next run can tell an abandoned one (its
//                     writer was killed) from a live one and remove only the abandoned
#include "engine/io/synth_model.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/formats/scalar.h"

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

// ---- tensor list ---------------------------------------------------------------------------

std::vector<TensorHeader> llama_tensor_headers(const ModelConfig& c, DType dtype) {
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const std::int64_t q = std::int64_t{c.num_attention_heads} * c.head_dim;
  const std::int64_t kv = std::int64_t{c.num_key_value_heads} * c.head_dim;
  std::vector<TensorHeader> t;
  t.push_back({"model.embed_tokens.weight", dtype, {V, H}});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    t.push_back({p + "input_layernorm.weight", dtype, {H}});
    t.push_back({p + "self_attn.q_proj.weight", dtype, {q, H}});
    t.push_back({p + "self_attn.k_proj.weight", dtype, {kv, H}});
    t.push_back({p + "self_attn.v_proj.weight", dtype, {kv, H}});
    t.push_back({p + "self_attn.o_proj.weight", dtype, {H, q}});
    if (c.attention_bias) {
      t.push_back({p + "self_attn.q_proj.bias", dtype, {q}});
      t.push_back({p + "self_attn.k_proj.bias", dtype, {kv}});
      t.push_back({p + "self_attn.v_proj.bias", dtype, {kv}});
    }
    if (c.o_proj_bias) t.push_back({p + "self_attn.o_proj.bias", dtype, {H}});
    t.push_back({p + "post_attention_layernorm.weight", dtype, {H}});
    t.push_back({p + "mlp.gate_proj.weight", dtype, {I, H}});
    t.push_back({p + "mlp.up_proj.weight", dtype, {I, H}});
    t.push_back({p + "mlp.down_proj.weight", dtype, {H, I}});
    if (c.mlp_bias) {
      t.push_back({p + "mlp.gate_proj.bias", dtype, {I}});
      t.push_back({p + "mlp.up_proj.bias", dtype, {I}});
      t.push_back({p + "mlp.down_proj.bias", dtype, {H}});
    }
  }
  t.push_back({"model.norm.weight", dtype, {H}});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", dtype, {V, H}});
  return t;
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

Init init_of(std::string_view name) {
  auto ends = [&](std::string_view s) { return name.size() >= s.size() && name.substr(name.size() - s.size()) == s; };
  if (ends("norm.weight")) return Init::Ones;
  if (ends(".bias")) return Init::Zeros;
  return Init::Normal;
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

// ---- shards --------------------------------------------------------------------------------

struct Shard {
  std::string file;
  std::vector<TensorHeader> tensors;
};

std::vector<Shard> plan_shards(const std::vector<TensorHeader>& all, std::uint64_t max_bytes) {
  std::vector<Shard> shards;
  std::uint64_t used = 0;
  for (const auto& t : all) {
    const std::uint64_t n = dtype_byte_length(t.dtype, t.shape, t.name);
    if (shards.empty() || (used + n > max_bytes && !shards.back().tensors.empty())) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().tensors.push_back(t);
    used += n;
  }
  if (shards.size() == 1) {
    shards[0].file = "model.safetensors";
  } else {
    for (std::size_t i = 0; i < shards.size(); ++i)
      shards[i].file = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
  }
  return shards;
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
  std::uint64_t total = 0;
  for (const auto& s : plan_shards(llama_tensor_headers(spec.config, spec.dtype), spec.max_shard_bytes))
    total += safetensors_file_size(s.tensors, kFileMetadata);
  return total + 64 * 1024;  // config.json and the index
}

// ---- staging folder ------------------------------------------------------------------------

namespace {

// The flock a run holds on its staging folder from creation to rename. The kernel drops it when
// the process ends however it ends (SIGKILL, a crash), which is what marks a folder abandoned.
class StagingLock {
 public:
  StagingLock() = default;
  StagingLock(const StagingLock&) = delete;
  StagingLock& operator=(const StagingLock&) = delete;
  ~StagingLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  // True when the lock was taken (the folder is ours, or nobody's).
  bool take(const fs::path& dir) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  }

 private:
  int fd_ = -1;
};

// Removes "<name>.partial-*" folders beside the output whose writer is gone (a run killed by
// SIGKILL or a power loss, which no handler sees). A folder whose lock is held belongs to a run
// going on now, in this or another PID namespace, and is left alone.
void remove_abandoned_staging(const fs::path& parent, const std::string& name) {
  const std::string prefix = name + ".partial-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) != 0 || !e.is_directory(ec) || e.is_symlink(ec)) continue;
    StagingLock lock;
    if (lock.take(e.path())) fs::remove_all(e.path(), ec);
  }
}

}  // namespace

SynthResult write_synth_model(const fs::path& out_dir, const SynthSpec& spec, Progress& progress,
                              std::stop_token stop) {
  dtype_word(spec.dtype);
  ModelConfig cfg = spec.config;
  cfg.dtype = dtype_word(spec.dtype);
  // The config must be one our own loader accepts: round-trip it so a bad shape fails here, named.
  nlohmann::json cj = model_config_to_json(cfg);
  cfg = parse_model_config(cj, "synthetic model config");

  std::error_code ec;
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec)))
    fail("{}: already exists and is not an empty folder; choose a new folder", out_dir.string());
  // A link (to an empty or a missing folder) is written through: the model lands where it points
  // and the link stays, as atomic_file.h does for files.
  fs::path target = out_dir;
  for (int hops = 0; hops < 40 && fs::is_symlink(target, ec); ++hops) {
    const fs::path to = fs::read_symlink(target, ec);
    if (ec) fail("{}: cannot read the symbolic link: {}", out_dir.string(), ec.message());
    target = to.is_absolute() ? to : target.parent_path() / to;
  }
  const fs::path abs = fs::absolute(target);
  const fs::path parent = abs.parent_path();
  if (!fs::is_directory(parent, ec)) fail("{}: folder {} does not exist", out_dir.string(), parent.string());

  const std::vector<TensorHeader> all = llama_tensor_headers(cfg, spec.dtype);
  const std::vector<Shard> shards = plan_shards(all, spec.max_shard_bytes);
  const std::uint64_t need = synth_model_bytes(spec);
  auto space = fs::space(parent, ec);
  if (!ec && space.available < need)
    fail("{}: the model needs {:.2f} GB but only {:.2f} GB are free there", out_dir.string(), need / 1e9,
         space.available / 1e9);

  remove_abandoned_staging(parent, abs.filename().string());
  const fs::path staging = parent / fmt::format("{}.partial-{}", abs.filename().string(), ::getpid());
  fs::remove_all(staging, ec);
  if (!fs::create_directory(staging, ec) || ec)
    fail("{}: cannot create the staging folder {}: {}", out_dir.string(), staging.string(), ec.message());
  StagingLock held;
  if (!held.take(staging)) {
    fs::remove_all(staging, ec);
    fail("{}: cannot lock the staging folder {}: {}", out_dir.string(), staging.string(), std::strerror(errno));
  }

  SynthResult result;
  result.parameters = cfg.parameter_count();
  try {
    std::uint64_t data_total = 0;
    for (const auto& t : all) data_total += dtype_byte_length(t.dtype, t.shape, t.name);
    std::uint64_t done = 0;
    nlohmann::json weight_map = nlohmann::json::object();
    for (std::size_t s = 0; s < shards.size(); ++s) {
      const Shard& sh = shards[s];
      std::vector<std::uint64_t> keys;
      for (const auto& t : sh.tensors) keys.push_back(name_key(spec.seed, t.name));
      const std::string label = fmt::format("writing {} ({}/{})", sh.file, s + 1, shards.size());
      write_safetensors_streamed(staging / sh.file, sh.tensors, kFileMetadata,
                                 [&](std::size_t i, std::uint64_t off, std::span<std::byte> chunk) {
                                   check_cancel(stop);
                                   const TensorHeader& t = sh.tensors[i];
                                   fill_values(t, keys[i], spec.init_std, off / dtype_size(t.dtype), chunk);
                                   done += chunk.size();
                                   progress.report(data_total ? double(done) / double(data_total) : 1.0, label);
                                 });
      for (const auto& t : sh.tensors) weight_map[t.name] = sh.file;
      result.files.push_back(out_dir / sh.file);
    }
    if (shards.size() > 1) {
      nlohmann::json index = {{"metadata", {{"total_size", data_total}}}, {"weight_map", weight_map}};
      write_file_atomic(staging / "model.safetensors.index.json", index.dump(2) + "\n");
      result.files.push_back(out_dir / "model.safetensors.index.json");
    }
    write_file_atomic(staging / "config.json", cj.dump(2) + "\n");
    result.files.insert(result.files.begin(), out_dir / "config.json");

    if (fs::exists(abs, ec)) fs::remove(abs, ec);  // the empty folder the user made
    fs::rename(staging, abs, ec);
    if (ec) fail("{}: cannot move the finished model into place: {}", out_dir.string(), ec.message());
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  for (const auto& f : result.files) result.bytes += fs::file_size(f, ec);
  progress.report(1.0, "done");
  return result;
}

}  // namespace qlab::io
