// `qlab bench gguf [--rows R] [--cols C] [--repeat N] [--write-gguf FILE]`: quantization throughput of
// every ggml type qlab writes, in MB of float32 input per second, on one thread and on all of them,
// without and with an importance matrix. --write-gguf writes the same tensor (and its imatrix, beside
// it as FILE.imatrix) so llama-quantize can be timed on the very values:
//   llama-quantize --pure [--imatrix FILE.imatrix] FILE out.gguf Q4_K_M THREADS
// (its "quantize time" over the tensor's MB gives the same unit).
#include <chrono>
#include <cmath>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/core/threads.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/imatrix_file.h"
#include "engine/gguf/quantize.h"

namespace qlab::app {
namespace {

using namespace qlab::gguf;

// N(0, 0.02) with every 997th value 20x larger (outliers, as real weights have); log-normal
// importance (real imatrix columns span decades).
std::vector<float> bench_input(std::int64_t rows, std::int64_t cols) {
  std::mt19937 rng(42);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (auto& e : v) e = d(rng);
  for (std::size_t i = 0; i < v.size(); i += 997) v[i] *= 20;
  return v;
}

std::vector<float> bench_imatrix(std::int64_t cols) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 1.5f);
  std::vector<float> v(static_cast<std::size_t>(cols));
  for (auto& e : v) e = std::exp(d(rng));
  return v;
}

void write_inputs(const std::string& path, const std::vector<float>& x, const std::vector<float>& im, std::int64_t rows,
                  std::int64_t cols) {
  GgufWriter w;
  w.set("general.architecture", MetaValue::string("llama"));
  w.set("llama.context_length", MetaValue::u32(256));
  w.set("llama.embedding_length", MetaValue::u32(static_cast<std::uint32_t>(cols)));
  w.set("llama.block_count", MetaValue::u32(1));
  w.set("llama.feed_forward_length", MetaValue::u32(static_cast<std::uint32_t>(rows)));
  w.set("llama.attention.head_count", MetaValue::u32(32));
  w.set("llama.attention.layer_norm_rms_epsilon", MetaValue::f32(1e-5f));
  std::vector<std::byte> bytes(x.size() * 4);
  std::memcpy(bytes.data(), x.data(), bytes.size());
  w.add_tensor("blk.0.ffn_up.weight", GgmlType::F32, {cols, rows}, std::move(bytes));
  w.write(path);
  Imatrix m;
  m.datasets = {"bench"};
  m.chunk_count = 1;
  m.chunk_size = 1;
  m.entries["blk.0.ffn_up.weight"] = ImatrixEntry{cols, im, {1.0f}};
  write_imatrix(path + ".imatrix", m);
}

// Best of `repeat` runs, in MB of float32 input per second.
template <typename F>
double best_rate(int repeat, double mb, F&& f) {
  double best = 0;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, mb / s);
  }
  return best;
}

int run(const Args& a) {
  const std::int64_t rows = a.get_int("rows", 1024, 1, 1 << 20), cols = a.get_int("cols", 4096, 256, 1 << 20);
  if (cols % 256 != 0) throw UsageError("--cols must be a multiple of 256 (every type's block)");
  const int repeat = static_cast<int>(a.get_int("repeat", 3, 1, 1000));
  std::optional<GgmlType> only;
  if (a.has("type")) {
    only = type_from_name(a.require("type"));
    if (!only || !type_traits(*only).qlab_converts || *only == GgmlType::F32)
      throw UsageError(fmt::format("--type {}: not a type qlab writes ({})", a.require("type"), converted_type_names()));
  }
  const std::vector<float> x = bench_input(rows, cols), im = bench_imatrix(cols);
  if (a.has("write-gguf")) write_inputs(a.require("write-gguf"), x, im, rows, cols);
  const double mb = static_cast<double>(x.size()) * 4.0 / 1e6;
  const int all = thread_count();
  nlohmann::json rows_json = nlohmann::json::array();
  if (!a.json())
    fmt::print("{} x {} float32 ({:.1f} MB), best of {}; MB/s of input, 1 thread and {} threads\n"
               "  {:<8} {:>10} {:>10} {:>12} {:>12}\n", rows, cols, mb, repeat, all, "type", "1 thread", "all",
               "imatrix 1", "imatrix all");
  for (const auto& tr : all_types()) {
    if (!tr.qlab_converts || tr.type == GgmlType::F32) continue;
    if (only && *only != tr.type) continue;
    std::vector<std::byte> out(row_bytes(tr.type, cols) * static_cast<std::size_t>(rows));
    auto measure = [&](const float* w) {
      const double one = best_rate(repeat, mb, [&] { quantize_rows(tr.type, x.data(), rows, cols, w, out); });
      const double pool = best_rate(repeat, mb, [&] { (void)quantize_tensor(tr.type, x.data(), rows, cols, w); });
      return std::pair{one, pool};
    };
    const auto [one, pool] = measure(nullptr);
    std::optional<std::pair<double, double>> weighted;
    if (uses_imatrix(tr.type)) weighted = measure(im.data());
    if (a.json()) {
      nlohmann::json j{{"type", tr.name}, {"mb_per_s_1_thread", one}, {"mb_per_s_all_threads", pool}};
      if (weighted) {
        j["imatrix_mb_per_s_1_thread"] = weighted->first;
        j["imatrix_mb_per_s_all_threads"] = weighted->second;
      }
      rows_json.push_back(j);
    } else {
      fmt::print("  {:<8} {:>10.1f} {:>10.1f} {:>12} {:>12}\n", tr.name, one, pool,
                 weighted ? fmt::format("{:.1f}", weighted->first) : std::string("-"),
                 weighted ? fmt::format("{:.1f}", weighted->second) : std::string("-"));
    }
  }
  if (a.json())
    print_json(nlohmann::json{{"rows", rows}, {"cols", cols}, {"mb", mb}, {"threads", all}, {"types", rows_json}}.dump(2));
  return 0;
}

const Registrar reg{Command{
    "bench gguf", "GGUF quantization throughput per ggml type (MB of float32 input per second)",
    "[--rows R] [--cols C] [--repeat N] [--type T] [--write-gguf FILE]",
    {{"rows", "R", "rows of the tensor (default 1024)"},
     {"type", "T", "only this ggml type (q4_K, f16, ...)"},
     {"cols", "C", "columns, a multiple of 256 (default 4096)"},
     {"repeat", "N", "runs per measurement, the best kept (default 3)"},
     {"write-gguf", "FILE", "also write the tensor as an F32 GGUF and its imatrix as FILE.imatrix, to time "
                            "llama-quantize on the same values"}},
    "One thread: quantize_rows on the calling thread; all: quantize_tensor over the pool (--threads N sets "
    "it). The tensor is N(0, 0.02) with outliers; the importance matrix log-normal.",
    0, 0, run}};

}  // namespace
}  // namespace qlab::app
