#pragma once
// The baseline's logits, computed once and kept on disk, so every variant of a suite is compared with
// them without running the baseline again (llama.cpp's --kl-divergence-base idea, our own format).
//
// Protocol: llama.cpp's perplexity chunks (perplexity.h): chunk c = tokens [c*n_ctx, (c+1)*n_ctx), its
// first token overwritten by BOS when set; the logit rows first = n_ctx/2 ... n_ctx-2 predict the
// tokens first+1 ... n_ctx-1. Those rows, [n_scored, vocab] float32 per chunk, are what the file holds.
//
// Why not llama.cpp's layout (16-bit log-prob codes of every vocab entry): its rounding makes the
// baseline's KLD against itself about 5e-4 (Llama-3-8B) instead of 0, and a variant's KLD differ from a
// live comparison (`qlab ppl --kld`). We keep the float32 logits exactly, so KLD from the file equals the
// live one bit for bit, and make them small on disk the lossless way: each row's 4-byte floats split into
// 4 byte planes (sign/exponent bytes, then mantissa bytes: neighbouring logits share their high bytes),
// then zlib. The cost is size: a 128k vocabulary stores ~0.5 MB per scored token before compression, so
// a large model over a whole text wants --chunks; the suite states the projected size before it starts.
//
// File (little-endian):
//   header  "QLABLOGT" u32 format_version u32 codec(1 = byte planes + zlib) i64 n_ctx i32 vocab i32 bos(-1)
//           i64 n_chunks u64 tokens_hash u32 key_length, key bytes (what the logits belong to, as text)
//   records one per chunk, in order: "CHNK" i64 chunk u32 rows u64 compressed_bytes u32 crc32(raw) bytes
// A record cut short (a crash, a full disk) ends the valid part: the writer truncates there and goes on.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/eval/perplexity.h"
#include "engine/model/model.h"

namespace qlab::eval {

struct LogitStoreHeader {
  std::int64_t n_ctx = 0;
  std::int32_t vocab = 0;
  std::int32_t bos = -1;
  std::int64_t n_chunks = 0;
  std::uint64_t tokens_hash = 0;
  std::string key;  // model fingerprint, text hash, protocol: compared whole on reopen
  bool operator==(const LogitStoreHeader&) const = default;
};

inline constexpr std::uint32_t kLogitStoreVersion = 1;

// FNV-1a 64 over the token ids (little-endian bytes): the store's check that a text is the same.
std::uint64_t hash_tokens(std::span<const std::int32_t> tokens);

// Bytes the raw (uncompressed) rows of a whole store take: for the size warning before a run.
double logit_store_raw_bytes(const LogitStoreHeader& h);

class LogitStore {
 public:
  // Opens `path` for appending: an existing file with the same header keeps its complete chunk
  // records (anything after the last one is cut off); a file with another header is an Error naming
  // both (the caller decides whether to start over); no file starts an empty store.
  static LogitStore open_for_append(const std::filesystem::path& path, const LogitStoreHeader& h);
  // Opens a complete or partial store for reading; Error naming the file when it is not one.
  static LogitStore open_for_read(const std::filesystem::path& path);
  // The header of the file, or nullopt when there is no such file; Error when it is not a store or
  // was written by a newer/older format version (says which).
  static std::optional<LogitStoreHeader> peek(const std::filesystem::path& path);

  const LogitStoreHeader& header() const { return h_; }
  std::int64_t chunks_done() const { return static_cast<std::int64_t>(offsets_.size()); }
  bool complete() const { return chunks_done() >= h_.n_chunks; }
  std::uint64_t file_bytes() const { return end_; }

  // Appends chunk `chunks_done()`: rows [n_scored * vocab] float32. Flushed before returning.
  void append(std::span<const float> rows);
  // Chunk c's rows into out (resized). Error naming the file on a bad record.
  void read(std::int64_t c, std::vector<float>& out) const;

 private:
  std::filesystem::path path_;
  LogitStoreHeader h_;
  std::vector<std::uint64_t> offsets_;  // file offset of each complete record
  std::uint64_t end_ = 0;               // end of the valid part
};

// Per scored token of a variant against the baseline: the backend's kl_rows, as kl_divergence() uses it.
using TokenCompare = model::TokenKL;

// Both run on opt.backend (the CPU when null): the baseline's rows come back to the host to be stored,
// the stored rows go up to the backend to be compared there (backend.h kl_rows).
// Runs `m` over chunks [store.chunks_done(), upto) of the llama.cpp protocol (opt: n_ctx, bos) and
// appends each chunk's scored logit rows to the store (upto <= n_chunks). Chunks run a batch at a time
// exactly as kl_divergence() batches them.
void write_base_logits(const model::Model& m, std::span<const std::int32_t> tokens, const PplOptions& opt,
                       LogitStore& store, std::int64_t upto, Progress& progress = Progress::none(),
                       std::stop_token stop = {});

// Runs `test` over chunks [from_chunk, upto) (upto <= store.chunks_done()) and compares each scored row with the
// stored baseline row: on_chunk(chunk, its scored tokens) after each chunk. Error when the store's
// vocabulary differs from the model's.
void compare_with_base(const model::Model& test, std::span<const std::int32_t> tokens, const PplOptions& opt,
                       const LogitStore& store, std::int64_t from_chunk, std::int64_t upto,
                       const std::function<void(std::int64_t, std::span<const TokenCompare>)>& on_chunk,
                       Progress& progress = Progress::none(), std::stop_token stop = {});


}  // namespace qlab::eval
