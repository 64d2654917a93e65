#include "engine/quant/calibration.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <numeric>

#include "engine/core/error.h"
#include "engine/core/progress.h"
#include "engine/io/tokenizer.h"

namespace qlab::quant {

namespace {

// zlib reads gzip'd files and, transparently, plain ones.
std::string read_maybe_gzip(const std::filesystem::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail("cannot open calibration text {}: {}", path.string(), std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      const std::string why = gzerror(f, &code);
      gzclose(f);
      fail("cannot read calibration text {}: {} (a damaged gzip file?)", path.string(), why);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  gzclose(f);
  return out;
}

bool looks_like_jsonl(const std::filesystem::path& path, const std::string& text) {
  std::string name = path.filename().string();
  if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
  if (name.ends_with(".jsonl") || name.ends_with(".ndjson")) return true;
  const auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string::npos && text[first] == '{';
}

// splitmix64: the same draws on every platform and standard library.
struct SplitMix {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
};

}  // namespace

std::vector<std::string> read_calibration_text(const std::filesystem::path& path) {
  std::string text = read_maybe_gzip(path);
  if (!looks_like_jsonl(path, text)) return {std::move(text)};
  std::vector<std::string> docs;
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    ++line_no;
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: not a JSON line ({}); calibration JSONL needs one object with a \"text\" string per line",
           path.string(), line_no, e.what());
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      fail("{}:{}: no \"text\" string in this JSON line", path.string(), line_no);
    docs.push_back(j["text"].get<std::string>());
  }
  if (docs.empty()) fail("{}: no documents in this JSONL file", path.string());
  return docs;
}

CalibrationSet calibration_windows(std::span<const std::int32_t> stream, std::int64_t samples, std::int64_t seq_len,
                                   std::uint64_t seed, const std::string& source, const Warn& warn) {
  if (samples < 1 || seq_len < 2) fail("calibration needs at least 1 sample of at least 2 tokens");
  const auto T = static_cast<std::int64_t>(stream.size());
  const std::int64_t slots = T / seq_len;
  if (slots == 0)
    fail("{} holds {} tokens, fewer than one calibration window of {}: give a longer text or a smaller --seq-len",
         source, T, seq_len);
  CalibrationSet set;
  set.seq_len = seq_len;
  set.stream_tokens = T;
  set.source = source;
  set.samples = std::min(samples, slots);
  if (set.samples < samples && warn)
    warn(fmt::format("{} holds {} tokens: {} windows of {} without overlap, fewer than the {} samples asked; "
                     "calibrating on {}", source, T, slots, seq_len, samples, set.samples));
  // A random shift of the slot grid, then a seeded partial Fisher-Yates shuffle of the slots.
  SplitMix rng{seed * 0x2545F4914F6CDD1Dull + 0x5851F42D4C957F2Dull};
  const std::int64_t shift = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(T - slots * seq_len + 1)));
  std::vector<std::int64_t> order(static_cast<std::size_t>(slots));
  std::iota(order.begin(), order.end(), 0);
  for (std::int64_t i = 0; i < set.samples; ++i) {
    const auto j = i + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(slots - i)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  set.tokens.resize(static_cast<std::size_t>(set.samples * seq_len));
  for (std::int64_t i = 0; i < set.samples; ++i) {
    const std::int64_t start = shift + order[static_cast<std::size_t>(i)] * seq_len;
    std::copy_n(stream.begin() + start, seq_len, set.tokens.begin() + i * seq_len);
  }
  return set;
}

CalibrationSet load_calibration(const std::filesystem::path& path, const io::Tokenizer& tok, std::int64_t samples,
                                std::int64_t seq_len, std::uint64_t seed, const Warn& warn) {
  std::vector<std::int32_t> stream;
  for (const std::string& doc : read_calibration_text(path)) {
    const auto ids = tok.encode(doc, true);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  return calibration_windows(stream, samples, seq_len, seed, path.string(), warn);
}

std::int64_t calibration_seq_len(const io::ModelConfig& c, std::int64_t asked, std::int64_t default_len) {
  const std::int64_t len = asked > 0 ? asked : default_len;
  return c.max_position_embeddings > 0 ? std::min<std::int64_t>(len, c.max_position_embeddings) : len;
}

// ---- the layer runner ---------------------------------------------------------------------------------

namespace {

constexpr std::int64_t kRowsPerPass = 2048;

std::int64_t default_batch(std::int64_t samples, std::int64_t seq_len) {
  return std::clamp<std::int64_t>(kRowsPerPass / seq_len, 1, samples);
}

std::uint64_t kv_bytes(const io::ModelConfig& c, std::int64_t seq_len) {
  return 2ull * static_cast<std::uint64_t>(c.num_key_value_heads) * static_cast<std::uint64_t>(c.head_dim) *
         static_cast<std::uint64_t>(seq_len) * sizeof(float);
}

}  // namespace

CalibrationMemory calibration_memory(const io::ModelConfig& c, std::int64_t samples, std::int64_t seq_len,
                                     std::uint64_t statistics) {
  CalibrationMemory m;
  const auto H = static_cast<std::uint64_t>(c.hidden_size);
  m.hidden_states = static_cast<std::uint64_t>(samples * seq_len) * H * sizeof(float);
  const auto b = static_cast<std::uint64_t>(default_batch(samples, seq_len));
  m.batch = b * (static_cast<std::uint64_t>(seq_len) * H * sizeof(float) + kv_bytes(c, seq_len));
  m.statistics = statistics;
  return m;
}

LayerRunner::LayerRunner(const model::Model& m, const CalibrationSet& calib, std::int64_t batch_sequences,
                         model::Backend& backend)
    : m_(m), backend_(&backend), samples_(calib.samples), seq_len_(calib.seq_len) {
  const io::ModelConfig& c = m.config();
  if (samples_ < 1 || seq_len_ < 1 || calib.tokens.size() != static_cast<std::size_t>(samples_ * seq_len_))
    fail("calibration set holds {} tokens, not {} x {}", calib.tokens.size(), samples_, seq_len_);
  if (c.max_position_embeddings > 0 && seq_len_ > c.max_position_embeddings)
    fail("calibration windows of {} tokens are longer than the model's context of {}", seq_len_,
         c.max_position_embeddings);
  const std::int64_t natural =
      backend.host_memory() ? default_batch(samples_, seq_len_) : backend.sequences_per_batch(c, seq_len_);
  batch_ = std::min(batch_sequences > 0 ? batch_sequences : natural, samples_);
  const auto H = static_cast<std::size_t>(c.hidden_size);
  hidden_.resize(static_cast<std::size_t>(samples_ * seq_len_) * H);
  model::embed_tokens(m, calib.tokens, hidden_.data());
  scratch_.resize(static_cast<std::size_t>(batch_ * seq_len_) * H);
  caches_.reserve(static_cast<std::size_t>(batch_));
  for (std::int64_t b = 0; b < batch_; ++b) caches_.emplace_back(c, seq_len_, 1, backend);
}

std::uint64_t LayerRunner::batch_bytes() const {
  return scratch_.size() * sizeof(float) + static_cast<std::uint64_t>(batch_) * kv_bytes(m_.config(), seq_len_);
}

void LayerRunner::run(int layer, const model::LayerHook& hook, bool in_place, std::stop_token stop) {
  const auto t0 = std::chrono::steady_clock::now();
  struct AddTime {  // also when a pass throws (cancel)
    double& total;
    std::chrono::steady_clock::time_point t0;
    ~AddTime() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  } add_time{seconds_, t0};
  const auto H = static_cast<std::size_t>(m_.config().hidden_size);
  const std::size_t per_seq = static_cast<std::size_t>(seq_len_) * H;
  for (std::int64_t s0 = 0; s0 < samples_; s0 += batch_) {
    check_cancel(stop);
    const std::int64_t nb = std::min(batch_, samples_ - s0);
    std::vector<model::KVCache*> caches;
    for (std::int64_t b = 0; b < nb; ++b) {
      caches_[static_cast<std::size_t>(b)].clear();
      caches.push_back(&caches_[static_cast<std::size_t>(b)]);
    }
    float* x = hidden_.data() + static_cast<std::size_t>(s0) * per_seq;
    if (!in_place) {
      std::copy_n(x, static_cast<std::size_t>(nb) * per_seq, scratch_.data());
      x = scratch_.data();
    }
    model::run_decoder_layer(m_, layer, caches, x, seq_len_, hook);
  }
}

void LayerRunner::capture(int layer, const model::LayerHook& hook, std::stop_token stop) {
  run(layer, hook, false, stop);
}

void LayerRunner::advance(int layer, const model::LayerHook& hook, std::stop_token stop) {
  run(layer, hook, true, stop);
}

}  // namespace qlab::quant
