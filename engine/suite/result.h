#pragma once
// What a suite measured: one VariantResult per variant, and the run around them (model, data,
// protocols, machine). Plain data with JSON round trips (the cache keeps the parts, the reports read
// the whole).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qlab::suite {

struct PplFigures {
  double ppl = 0, ppl_error = 0;
  std::int64_t scored = 0, chunks = 0;
  // Paired with the baseline, token by token (llama.cpp's --kl-divergence statistics).
  double ln_ratio = 0, ln_ratio_error = 0;
  double kld_mean = 0, kld_error = 0, kld_median = 0, kld_p99 = 0, kld_p999 = 0, kld_max = 0;
  double same_top = 0, same_top_error = 0, rms_dp = 0;
  double seconds = 0;
};

struct WordPplFigures {
  double word_ppl = 0, byte_ppl = 0, bits_per_byte = 0;
  std::int64_t docs = 0, words = 0, bytes = 0, tokens = 0;
  double seconds = 0;
};

struct MmluFigures {
  int shots = 0, items = 0;
  double micro = 0, macro = 0;               // over questions / over subjects
  std::map<std::string, double> categories;  // stem, humanities, social_sciences, other
  std::map<std::string, std::pair<int, int>> subjects;  // subject -> (correct, items)
  int text_items = 0;
  double answer_text = 0;                    // built-in set: by the answer text
  double seconds = 0;
};

struct VariantResult {
  std::string name, description;
  double bytes = 0, parameters = 0, bits_per_weight = 0;
  std::string size_note;
  double quant_seconds = 0;                  // 0 for the baseline and added checkpoints
  std::optional<double> decode_tokens_per_s; // when the engine measured it
  std::optional<PplFigures> ppl;
  std::optional<WordPplFigures> word_ppl;
  std::optional<MmluFigures> mmlu;
  std::vector<std::string> warnings;
  std::string error;                         // set when the variant could not be made or measured
  std::vector<std::string> from_cache;       // which measures came from the cache ("ppl", "mmlu", ...)
};

struct SuiteRun {
  std::string qlab_version, when;            // ISO 8601 UTC
  std::string model, model_fingerprint;
  bool builtin_model = false;
  std::string text_origin, text_hash, ppl_protocol;
  std::int64_t text_tokens = 0, chunks_used = 0, chunks_all = 0;
  std::string chunk_note;                    // how much wider the +/- is with --chunks
  std::string word_ppl_protocol;             // empty when not asked for
  std::string mmlu_origin, mmlu_protocol;
  std::string machine, threads;
  std::string kld_store;                     // the baseline logits: file, size
  std::vector<VariantResult> variants;
  std::vector<std::string> notes;
  double seconds = 0;
};

nlohmann::json to_json(const PplFigures& f);
nlohmann::json to_json(const WordPplFigures& f);
nlohmann::json to_json(const MmluFigures& f);
nlohmann::json to_json(const VariantResult& v);
nlohmann::json to_json(const SuiteRun& r);
PplFigures ppl_from_json(const nlohmann::json& j);
WordPplFigures word_ppl_from_json(const nlohmann::json& j);
MmluFigures mmlu_from_json(const nlohmann::json& j);

// The baseline's row (name "baseline"), or nullptr.
const VariantResult* baseline_of(const SuiteRun& r);

}  // namespace qlab::suite
