#pragma once
// Calibration data and the sequential, layer-by-layer runner that GPTQ and AWQ calibrate with.
//   read_calibration_text   a text file: plain, or JSONL with a "text" field per line (documents);
//                           either gzip'd (by its magic bytes)
//   calibration_windows     `samples` windows of `seq_len` tokens drawn reproducibly from a seed:
//                           non-overlapping, at random slots of the token stream (so no token is used
//                           twice); a stream too short for all of them gives fewer with a warning saying
//                           how many, and one shorter than a single window an error
//   LayerRunner             the hidden states of every sample entering one decoder layer, [samples *
//                           seq_len, H] and nothing more: capture() runs the layer on them with a
//                           LayerHook and leaves them as they are; advance() replaces them by the layer's
//                           outputs (run after the caller quantized the layer: GPTQ's "true sequential";
//                           or before it: AWQ). Sequences run a batch at a time, each with a one-layer KV cache.
//   calibration_memory      the bytes that holds, before anything is allocated
// Defaults (algorithms.md 2.1, 3.1): GPTQ 128 x 2048 (IST-DASLab/gptq), AWQ 128 x 512 (AutoAWQ), the
// sequence length capped by the model's context (the built-in model: 128).
#include <cstdint>
#include <filesystem>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/model/decoder_layer.h"
#include "engine/model/model.h"
#include "engine/quant/quantized_linear.h"

namespace qlab::io {
class Tokenizer;
}

namespace qlab::quant {

// The documents of a calibration file: one for plain text, one per line of JSONL ({"text": ...}).
// Throws qlab::Error naming the file (and line) when it cannot be read, is not valid gzip, or a JSONL
// line has no string "text".
std::vector<std::string> read_calibration_text(const std::filesystem::path& path);

struct CalibrationSet {
  std::vector<std::int32_t> tokens;  // [samples, seq_len] row-major
  std::int64_t samples = 0, seq_len = 0;
  std::int64_t stream_tokens = 0;    // tokens the text held
  std::string source;                // the file, for messages
};

// Windows from a token stream. Error when the stream holds fewer than seq_len tokens; a warning and
// fewer samples when it holds fewer than samples non-overlapping windows.
CalibrationSet calibration_windows(std::span<const std::int32_t> stream, std::int64_t samples, std::int64_t seq_len,
                                   std::uint64_t seed, const std::string& source, const Warn& warn = {});

// The file's documents tokenized (each as the tokenizer encodes a text, BOS first if it adds one) and
// concatenated, then calibration_windows.
CalibrationSet load_calibration(const std::filesystem::path& path, const io::Tokenizer& tok, std::int64_t samples,
                                std::int64_t seq_len, std::uint64_t seed, const Warn& warn = {});

// The defaults of `--method gptq|awq` (qlab ppl, qlab quantize) and labs 4 and 5: 128 windows
// (IST-DASLab/gptq nsamples, AutoAWQ n_samples), of 2048 tokens for GPTQ (gptq model.seqlen) and 512
// for AWQ (AutoAWQ max_calib_seq_len).
inline constexpr std::int64_t kCalibrationSamples = 128;
inline constexpr std::int64_t kGptqSeqLen = 2048;
inline constexpr std::int64_t kAwqSeqLen = 512;

// Sequence length for a model: `asked` (default_len when 0) capped by max_position_embeddings.
std::int64_t calibration_seq_len(const io::ModelConfig& c, std::int64_t asked, std::int64_t default_len);

struct CalibrationMemory {
  std::uint64_t hidden_states = 0;  // samples * seq_len * H floats: the one layer's inputs held
  std::uint64_t batch = 0;          // a batch's copy of its inputs (capture) and its one-layer KV caches
  std::uint64_t statistics = 0;     // the caller's per-Linear statistics (Hessians, cached inputs), at most
  std::uint64_t total() const { return hidden_states + batch + statistics; }
};

class LayerRunner {
 public:
  // Embeds every sample. batch_sequences: sequences per pass (0: enough for ~4096 rows per pass on the
  // CPU, the backend's sequences_per_batch elsewhere). The layers run on `backend` (their one-layer KV
  // caches live there); the held hidden states stay in host memory, a batch crossing per pass.
  LayerRunner(const model::Model& m, const CalibrationSet& calib, std::int64_t batch_sequences = 0,
              model::Backend& backend = model::cpu_backend());

  std::int64_t samples() const { return samples_; }
  std::int64_t seq_len() const { return seq_len_; }
  std::int64_t tokens() const { return samples_ * seq_len_; }
  std::int64_t batch_sequences() const { return batch_; }
  model::Backend& backend() const { return *backend_; }
  std::uint64_t hidden_bytes() const { return hidden_.size() * sizeof(float); }
  std::uint64_t batch_bytes() const;

  // Runs decoder layer `layer` over every sample with `hook`; the held hidden states do not change.
  void capture(int layer, const model::LayerHook& hook, std::stop_token stop = {});
  // Runs it in place: the held hidden states become the layer's outputs (the next layer's inputs).
  void advance(int layer, const model::LayerHook& hook = {}, std::stop_token stop = {});
  // The held hidden states [samples * seq_len, H].
  std::span<const float> hidden() const { return hidden_; }
  // Wall time spent in capture and advance so far (the passes and their hooks).
  double seconds() const { return seconds_; }

 private:
  void run(int layer, const model::LayerHook& hook, bool in_place, std::stop_token stop);

  const model::Model& m_;
  model::Backend* backend_;
  std::int64_t samples_ = 0, seq_len_ = 0, batch_ = 1;
  std::vector<float> hidden_;
  std::vector<float> scratch_;
  std::vector<model::KVCache> caches_;
  double seconds_ = 0;
};

// What LayerRunner holds for this model and calibration shape, plus `statistics` bytes of the caller's.
CalibrationMemory calibration_memory(const io::ModelConfig& c, std::int64_t samples, std::int64_t seq_len,
                                     std::uint64_t statistics);

}  // namespace qlab::quant
