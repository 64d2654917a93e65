#pragma once
// The quality suite: every variant of one model through the same text, tokens and protocols, beside
// its KL-divergence from the baseline (issue 17). What it does, in order:
//   1. checks everything it can before working: variant names, --add folders and GGUF files (a variant
//      of the same model: same vocabulary and tokenizer, else refused with the reason), the text and the
//      MMLU set
//   2. the baseline's logits over the text (llama.cpp's perplexity chunks), once, kept in the cache
//      (eval/suite_logits.h); a run cut short continues from the chunks already stored
//   3. per variant: made in memory (variants.h), then perplexity with its +/- and, token by token against
//      the stored baseline, the PPL ratio, KLD (mean, median, p99) and same-top-token %; lm-eval's word
//      perplexity on request; MMLU as lm-eval scores it (eval/suite_mmlu.h); size and bits per weight;
//      decode speed on the weights packed in the variant's format (bench/infer_bench.h's measure_speed)
//   4. each measure cached per (model fingerprint, variant, data hash, protocol) (cache.h): a re-run
//      computes only what is missing, an interrupted measure resumes where it stopped
// Progress: per variant through SuiteEvents (the tutor draws a line per variant), and overall.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/model/backend.h"
#include "engine/suite/result.h"

namespace qlab::suite {

struct SuiteOptions {
  std::filesystem::path model_dir;
  std::string model_display;               // "builtin" or the folder / repo id as given
  bool builtin_model = false;
  std::filesystem::path builtin_dir;       // fallback texts (eval, calibration, questions)
  std::vector<std::string> variants;       // names; empty: every variant this build can make
  std::vector<std::filesystem::path> added;
  std::filesystem::path text, mmlu;        // empty: the model folder's own, else the built-in's
  int shots = 0;                           // MMLU few-shot examples (0 or 5 usually)
  std::int64_t chunks = 0;                 // > 0: only the first N perplexity chunks
  bool word_ppl = false;                   // also lm-eval's wikitext word perplexity
  bool mmlu_enabled = true;
  int decode_tokens = 16;                  // > 0: decode speed over this many tokens (0: not measured)
  std::filesystem::path cache_root;        // empty: Cache::default_root()
  // Where perplexity and KLD run (model/device.h; null: the CPU). MMLU and word perplexity run on the CPU.
  model::Backend* backend = nullptr;
  std::string device;                      // where that is, for the report ("cpu", "cuda: ...")
};

struct SuiteEvents {
  std::function<void(const std::string&)> notice;                               // one line each
  std::function<void(std::size_t, const std::string&)> variant_started;        // index, name
  std::function<void(std::size_t, double, const std::string&)> variant_progress;  // index, fraction, label
  std::function<void(std::size_t, const VariantResult&)> variant_done;
};

// The variants a run will measure, baseline first (always: KLD and the differences need it), after
// checking names; Error on the first unknown or unavailable name.
std::vector<std::string> resolve_variant_names(const std::vector<std::string>& asked);

SuiteRun run_suite(const SuiteOptions& opt, const SuiteEvents& events = {}, Progress& progress = Progress::none(),
                   std::stop_token stop = {});

}  // namespace qlab::suite
