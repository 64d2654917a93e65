// Tokenizer encode throughput on ~4 MB of mixed text (English, accents, CJK, emoji, digits, code,
// white space runs), with the tiny trained tokenizers of tests/fixtures/tokenizers.
// Reference measured in the same run: the split-regex scan alone (GPT-2 pattern), so the
// counter "x_split_scan" says how many times slower a full encode is than pre-tokenization.
#include <benchmark/benchmark.h>

#include <ctime>
#include <algorithm>
#include <filesystem>
#include <random>
#include <string>

#include "engine/io/pretokenizer_regex.h"
#include "engine/io/tokenizer.h"

namespace {

const std::string& mixed_text() {
  static const std::string text = [] {
    const char* words[] = {"the", "of", "and", "model", "weight", "token", "quantize", "scale", "block", "error",
                           "layer", "matrix", "value", "number", "format", "float", "integer", "course", "engine",
                           "tensor", "memory", "cache", "speed", "Hello", "World", "don't", "it's", "we're"};
    const char* other[] = {"café", "naïve", "Zürich", "Ångström", "Łódź", "你好世界", "日本語のテキスト", "한국어",
                           "😀", "👍🏽", "🚀🚀", "3.14159", "2024-01-15", "1234567", "x = [1, 2, 3]",
                           "for (int i = 0; i < n; ++i) {", "\treturn x + 1;", "    ", "\n", "\n\n", "!", "?", "—"};
    std::mt19937 rng(42);
    std::string s;
    while (s.size() < 4u << 20) {
      if (rng() % 4) {
        s += words[rng() % std::size(words)];
      } else {
        s += other[rng() % std::size(other)];
      }
      s += rng() % 9 ? " " : "\n";
    }
    return s;
  }();
  return text;
}

// Thread CPU seconds, best of 3 (a shared, busy machine inflates wall time but not CPU time).
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double seconds_for(auto&& f) {
  double best = 1e9;
  for (int r = 0; r < 3; ++r) {
    const double t0 = cpu_now();
    f();
    best = std::min(best, cpu_now() - t0);
  }
  return best;
}

void BM_Encode(benchmark::State& state, const char* family) {
  const auto dir = std::filesystem::path(QLAB_SOURCE_DIR) / "tests/fixtures/tokenizers" / family;
  const qlab::io::Tokenizer tok = qlab::io::Tokenizer::load(dir);
  const std::string& text = mixed_text();
  std::size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok.encode(text);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  std::vector<qlab::io::ByteSpan> spans;
  const double split = seconds_for([&] {
    spans.clear();
    qlab::io::find_split_matches(qlab::io::SplitPattern::Gpt2, text, spans);
  });
  const double encode = seconds_for([&] { benchmark::DoNotOptimize(tok.encode(text).data()); });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["split_scan_MBps"] = static_cast<double>(text.size()) / 1e6 / split;
  state.counters["x_split_scan"] = encode / split;
}

BENCHMARK_CAPTURE(BM_Encode, gpt2, "gpt2")->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(BM_Encode, llama3, "llama3")->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(BM_Encode, llama2, "llama2")->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
