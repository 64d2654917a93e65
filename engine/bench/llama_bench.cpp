#include "engine/bench/llama_bench.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::bench {

std::vector<LlamaBenchRow> read_llama_bench_json(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) fail("{}: cannot read the llama-bench results", path.string());
  std::stringstream ss;
  ss << f.rdbuf();
  const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_array())
    fail("{}: not llama-bench's JSON (a list of tests); write it with llama-bench -o json > FILE", path.string());
  std::vector<LlamaBenchRow> rows;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    auto need = [&](const char* key, bool number) -> const nlohmann::json& {
      if (!e.is_object() || !e.contains(key) || (number ? !e[key].is_number() : !e[key].is_string()))
        fail("{}: test {} has no {} '{}' (is this llama-bench -o json output?)", path.string(), i,
             number ? "number" : "text", key);
      return e[key];
    };
    LlamaBenchRow r;
    r.model_type = need("model_type", false).get<std::string>();
    r.threads = need("n_threads", true).get<int>();
    r.n_prompt = need("n_prompt", true).get<std::int64_t>();
    r.n_gen = need("n_gen", true).get<std::int64_t>();
    r.avg_ts = need("avg_ts", true).get<double>();
    r.stddev_ts = e.contains("stddev_ts") && e["stddev_ts"].is_number() ? e["stddev_ts"].get<double>() : 0.0;
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string llama_bench_type(const LlamaBenchRow& row) {
  const auto space = row.model_type.find_last_of(' ');
  std::string t = space == std::string::npos ? row.model_type : row.model_type.substr(space + 1);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

std::vector<SpeedComparison> compare_with_llama_bench(const InferBenchResult& r, const std::vector<LlamaBenchRow>& rows) {
  std::vector<SpeedComparison> out;
  for (const auto& v : r.variants)
    for (const auto& row : rows) {
      if (row.threads != r.threads || llama_bench_type(row) != v.name || row.avg_ts <= 0) continue;
      const bool pp = row.n_gen == 0 && row.n_prompt == r.prompt_tokens && r.prompt_tokens > 0;
      const bool tg = row.n_prompt == 0 && row.n_gen == r.decode_tokens && r.decode_tokens > 0;
      if (!pp && !tg) continue;
      const Stat& s = pp ? v.prompt_tps : v.decode_tps;
      SpeedComparison c;
      c.variant = v.name;
      c.test = pp ? fmt::format("pp{}", row.n_prompt) : fmt::format("tg{}", row.n_gen);
      c.qlab_tps = s.mean;
      c.qlab_sd = s.sd;
      c.llama_tps = row.avg_ts;
      c.llama_sd = row.stddev_ts;
      c.ratio = s.mean / row.avg_ts;
      out.push_back(c);
    }
  return out;
}

}  // namespace qlab::bench
