// Runs a fuzz target without libFuzzer: every seed of its corpus, every prefix of each seed (a
// file cut short at each length) and single-byte changes at spread-out positions. Deterministic,
// bounded, and part of the ordinary test run; a crash, a sanitizer report or an abort() from the
// target's own invariant checks fails it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> seeds() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(QLAB_FUZZ_CORPUS, ec))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

TEST(FuzzReplay, CorpusIsPresent) { EXPECT_FALSE(seeds().empty()) << "empty corpus: " << QLAB_FUZZ_CORPUS; }

TEST(FuzzReplay, Seeds) {
  for (const auto& s : seeds()) {
    SCOPED_TRACE(s.filename().string());
    run(slurp(s));
  }
}

// At most kSteps cut points / changed positions per seed, spread evenly, keeps big seeds cheap.
constexpr std::size_t kSteps = 160;

TEST(FuzzReplay, Prefixes) {
  for (const auto& s : seeds()) {
    SCOPED_TRACE(s.filename().string());
    const std::string in = slurp(s);
    const std::size_t step = std::max<std::size_t>(1, in.size() / kSteps);
    for (std::size_t n = 0; n < in.size(); n += step) run(in.substr(0, n));
  }
}

TEST(FuzzReplay, ByteChanges) {
  const unsigned char values[] = {0x00, 0xff, '"', '{', '}', '[', '9', '-', ',', 0x80};
  for (const auto& s : seeds()) {
    SCOPED_TRACE(s.filename().string());
    const std::string in = slurp(s);
    const std::size_t step = std::max<std::size_t>(1, in.size() / kSteps);
    for (std::size_t i = 0; i < in.size(); i += step) {
      for (unsigned char v : values) {
        std::string m = in;
        m[i] = static_cast<char>(v);
        run(m);
      }
    }
  }
}

}  // namespace
