#include "engine/suite/fingerprint.h"

#include <algorithm>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"

namespace qlab::suite {

std::uint64_t hash64(std::string_view bytes, std::uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(std::uint64_t h) { return fmt::format("{:016x}", h); }

namespace {

std::uint64_t add_file(std::uint64_t h, const std::filesystem::path& p) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec)) return hash64(fmt::format("absent:{}", p.filename().string()), h);
  return hash64(read_file(p), hash64(p.filename().string(), h));
}

// 64 KiB at 16 evenly spaced places of a file of `size` bytes.
std::uint64_t add_samples(std::ifstream& in, std::uint64_t size, std::uint64_t h) {
  constexpr std::uint64_t kSample = 64 * 1024;
  std::string buf;
  for (int k = 0; k < 16 && size > kSample; ++k) {
    in.clear();
    in.seekg(static_cast<std::streamoff>((size - kSample) / 15 * static_cast<std::uint64_t>(k)));
    buf.assign(kSample, '\0');
    in.read(buf.data(), static_cast<std::streamsize>(kSample));
    h = hash64(buf, h);
  }
  return h;
}

// A single-file checkpoint (a GGUF file): its name, size, first MiB (the metadata) and the samples.
std::string file_fingerprint(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("cannot read {}", file.string());
  const auto size = std::filesystem::file_size(file);
  std::uint64_t h = hash64(fmt::format("{}:{}", file.filename().string(), size));
  std::string buf(static_cast<std::size_t>(std::min<std::uint64_t>(size, 1u << 20)), '\0');
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  return hex(add_samples(in, size, hash64(buf, h)));
}

}  // namespace

std::string tokenizer_fingerprint(const std::filesystem::path& dir) {
  std::uint64_t h = add_file(1469598103934665603ull, dir / "tokenizer.json");
  return hex(add_file(h, dir / "tokenizer_config.json"));
}

std::string model_fingerprint(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir, ec)) return file_fingerprint(dir);
  std::uint64_t h = add_file(1469598103934665603ull, dir / "config.json");
  h = add_file(h, dir / "tokenizer.json");
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) fail("cannot read {}", f.string());
    const auto size = std::filesystem::file_size(f);
    h = hash64(fmt::format("{}:{}", f.filename().string(), size), h);
    std::uint64_t header_len = 0;
    in.read(reinterpret_cast<char*>(&header_len), 8);
    const std::uint64_t take = std::min<std::uint64_t>(header_len, std::min<std::uint64_t>(size, 64u << 20));
    std::string buf(static_cast<std::size_t>(take), '\0');
    in.read(buf.data(), static_cast<std::streamsize>(take));
    h = add_samples(in, size, hash64(buf, h));
  }
  if (files.empty()) h = hash64("no safetensors", h);
  return hex(h);
}

}  // namespace qlab::suite
