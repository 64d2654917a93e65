#pragma once
// Keys of the suite's cache: what a result belongs to.
//   hash64 / hex          FNV-1a 64 over bytes (a cache key, not a security measure)
//   model_fingerprint     a model folder's identity without reading all its weights: config.json,
//                         tokenizer.json, every *.safetensors file's header, size, and 64 KiB at 16
//                         evenly spaced places; two folders holding the same checkpoint agree, a
//                         retrained or requantized one does not; a GGUF file: its name, size, first
//                         MiB (the metadata) and the same samples
//   tokenizer_fingerprint tokenizer.json (and tokenizer_config.json) alone: "same tokenizer" for KLD
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace qlab::suite {

std::uint64_t hash64(std::string_view bytes, std::uint64_t h = 1469598103934665603ull);
std::string hex(std::uint64_t h);

std::string model_fingerprint(const std::filesystem::path& dir);  // a folder, or a GGUF file
std::string tokenizer_fingerprint(const std::filesystem::path& dir);

}  // namespace qlab::suite
