#pragma once
// Importance-matrix files as llama-imatrix writes them, and the weights llama-quantize takes from
// them.
//   Imatrix            per tensor: sums of squared activations per input column (one row of
//                      `columns` values per expert matrix) and the number of activations counted
//                      per matrix; the calibration datasets, chunk count and chunk size
//   read_imatrix       today's GGUF format (tensors "<name>.in_sum2" [columns, matrices] and
//                      "<name>.counts" [1, matrices], F32; keys imatrix.datasets,
//                      imatrix.chunk_count, imatrix.chunk_size) or the legacy .dat (chosen by the
//                      file's first bytes); strict: every length checked against the file
//   write_imatrix      the GGUF format, laid out as llama-imatrix lays it out (general.type
//                      "imatrix", the three keys, then per tensor in name order in_sum2 and counts)
//   importance_weights the per-column weights llama-quantize uses: GGUF sums / count per matrix
//                      (a matrix never counted gets 1s), legacy values / ncall
// Source: llama.cpp tools/imatrix/imatrix.cpp (save_imatrix, save_imatrix_legacy) and
// common/imatrix-loader.cpp, tools/quantize/quantize.cpp (load_imatrix).
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace qlab::gguf {

struct ImatrixEntry {
  std::int64_t columns = 0;    // values per matrix (the tensor's row length)
  std::vector<float> sums;     // matrices x columns
  std::vector<float> counts;   // one per matrix (legacy files: a single value, ncall)
  std::int64_t matrices() const { return static_cast<std::int64_t>(counts.size()); }
};

struct Imatrix {
  std::map<std::string, ImatrixEntry> entries;  // by tensor name ("blk.0.attn_q.weight")
  std::vector<std::string> datasets;            // calibration files it was computed on
  std::uint32_t chunk_count = 0;                // chunks processed
  std::uint32_t chunk_size = 0;                 // tokens per chunk (0 in legacy files)
  bool legacy = false;                          // read from the .dat format
};

Imatrix read_imatrix(const std::filesystem::path& path);
// The same over bytes the caller holds; `label` names them in errors.
Imatrix parse_imatrix(std::span<const std::byte> bytes, const std::string& label);
void write_imatrix(const std::filesystem::path& path, const Imatrix& m);

// Per-column weights for every entry, as llama-quantize computes them.
std::map<std::string, std::vector<float>> importance_weights(const Imatrix& m);

}  // namespace qlab::gguf
