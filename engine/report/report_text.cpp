// The suite's table and its Markdown, CSV and JSON forms.
#include <cmath>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/report/report.h"

namespace qlab::report {

using suite::SuiteRun;
using suite::VariantResult;

const std::vector<ModuleClaim>& module_claims() {
  // MODULE.md, "Typical quality cost claimed (perplexity increase / MMLU loss)".
  static const std::vector<ModuleClaim> c = {{"int8-ch", "~0.05", "<0.5"},
                                             {"gptq-int4-g128", "~0.2-0.3", "~1-2"},
                                             {"awq-int4-g128", "~0.1-0.2", "~0.5-1"},
                                             {"nvfp4", "~0.05", "<0.1"}};
  return c;
}

namespace {

std::string num(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

bool has_text_score(const SuiteRun& r) {
  for (const auto& v : r.variants)
    if (v.mmlu && v.mmlu->text_items > 0) return true;
  return false;
}

bool has_word_ppl(const SuiteRun& r) {
  for (const auto& v : r.variants)
    if (v.word_ppl) return true;
  return false;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string md_cell(std::string s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return out;
}

}  // namespace

TableView table(const SuiteRun& r) {
  TableView t;
  const VariantResult* base = suite::baseline_of(r);
  const bool text = has_text_score(r), word = has_word_ppl(r);
  t.header = {"variant", "size MB", "bits/w", "PPL", "+/-", "dPPL", "PPL ratio", "KLD mean", "KLD median", "KLD p99",
              "same top %", "MMLU %", "dMMLU"};
  if (text) t.header.push_back("answer-text %");
  if (word) t.header.push_back("word PPL");
  t.header.insert(t.header.end(), {"quant s", "decode tok/s"});
  for (const auto& v : r.variants) {
    std::vector<std::string> row = {v.name};
    if (!v.error.empty()) {
      row.resize(t.header.size(), "-");
      row[1] = "error";
      t.rows.push_back(std::move(row));
      continue;
    }
    row.push_back(num(v.bytes / 1e6, 2));
    row.push_back(num(v.bits_per_weight, 3));
    if (v.ppl) {
      row.push_back(num(v.ppl->ppl, 4));
      row.push_back(num(v.ppl->ppl_error, 4));
      row.push_back(base && base->ppl ? fmt::format("{:+.4f}", v.ppl->ppl - base->ppl->ppl) : "-");
      row.push_back(num(std::exp(v.ppl->ln_ratio), 5));
      row.push_back(num(v.ppl->kld_mean, 6));
      row.push_back(num(v.ppl->kld_median, 6));
      row.push_back(num(v.ppl->kld_p99, 6));
      row.push_back(num(100 * v.ppl->same_top, 2));
    } else {
      row.insert(row.end(), 8, "-");
    }
    if (v.mmlu) {
      row.push_back(num(100 * v.mmlu->micro, 2));
      row.push_back(base && base->mmlu ? fmt::format("{:+.2f}", 100 * (v.mmlu->micro - base->mmlu->micro)) : "-");
    } else {
      row.insert(row.end(), 2, "-");
    }
    if (text) row.push_back(v.mmlu && v.mmlu->text_items ? num(100 * v.mmlu->answer_text, 2) : "-");
    if (word) row.push_back(v.word_ppl ? num(v.word_ppl->word_ppl, 4) : "-");
    row.push_back(v.quant_seconds > 0 ? num(v.quant_seconds, v.quant_seconds < 1 ? 3 : 2) : "-");
    row.push_back(v.decode_tokens_per_s ? num(*v.decode_tokens_per_s, 1) : "-");
    t.rows.push_back(std::move(row));
  }
  t.numeric.assign(t.header.size(), true);
  t.numeric[0] = false;
  return t;
}

std::string markdown(const SuiteRun& r) {
  std::string out = fmt::format("# Quality suite: {}\n\n", r.model);
  out += fmt::format("qlab {} · {} · model fingerprint {}\n\n", r.qlab_version, r.when, r.model_fingerprint);
  const TableView t = table(r);
  out += "|";
  for (const auto& h : t.header) out += fmt::format(" {} |", md_cell(h));
  out += "\n|";
  for (std::size_t c = 0; c < t.header.size(); ++c) out += t.numeric[c] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    for (const auto& c : row) out += fmt::format(" {} |", md_cell(c));
    out += "\n";
  }
  out += "\nd = difference from the baseline. KLD: mean KL-divergence per token from the baseline's next-token "
         "distribution (nats). Same top: tokens whose most likely next token is the baseline's. MMLU: accuracy over "
         "every question (lm-eval's group score); dMMLU in points.\n";
  out += "\n## Protocols\n\n";
  out += fmt::format("- Text: {} ({} tokens, hash {}).\n", md_cell(r.text_origin), r.text_tokens, r.text_hash);
  out += fmt::format("- Perplexity: {}.\n", md_cell(r.ppl_protocol));
  if (!r.chunk_note.empty()) out += fmt::format("- {}\n", md_cell(r.chunk_note));
  if (!r.word_ppl_protocol.empty()) out += fmt::format("- Word perplexity: {}.\n", md_cell(r.word_ppl_protocol));
  if (!r.mmlu_origin.empty())
    out += fmt::format("- MMLU: {}; {}.\n", md_cell(r.mmlu_origin), md_cell(r.mmlu_protocol));
  out += fmt::format("- Baseline logits: {}.\n", md_cell(r.kld_store));
  out += fmt::format("- Machine: {}; {}. Suite time {:.1f} s.\n", md_cell(r.machine), md_cell(r.threads), r.seconds);
  out += "- Decode speed: not measured by this build for in-memory variants (they compute with float32 copies of "
         "their quantized weights, so their speed says nothing about the format).\n";

  out += "\n## Beside the module's claims\n\n| variant | module: PPL increase | measured | module: MMLU loss "
         "(points) | measured |\n|---|---|---:|---|---:|\n";
  const VariantResult* base = suite::baseline_of(r);
  for (const auto& c : module_claims())
    for (const auto& v : r.variants)
      if (v.name == c.variant && v.error.empty()) {
        const std::string dppl = base && base->ppl && v.ppl ? fmt::format("{:+.4f}", v.ppl->ppl - base->ppl->ppl) : "-";
        const std::string dm =
            base && base->mmlu && v.mmlu ? fmt::format("{:+.2f}", 100 * (v.mmlu->micro - base->mmlu->micro)) : "-";
        out += fmt::format("| {} | {} | {} | {} | {} |\n", v.name, c.ppl_increase, dppl, c.mmlu_loss, dm);
      }
  out += "\nAbsolute perplexity differences do not transfer between models: a model with perplexity 6 and one with "
         "2 lose different amounts for the same damage. The PPL ratio and the KL-divergence are relative to the "
         "model itself (KLD measures how far each next-token distribution moved), so they compare across models.\n";

  bool any_subjects = false;
  for (const auto& v : r.variants)
    if (v.mmlu && v.mmlu->subjects.size() > 1) any_subjects = true;
  if (any_subjects) {
    out += "\n## MMLU by category and subject\n\n| variant | subject mean |";
    std::vector<std::string> cats = {"stem", "humanities", "social_sciences", "other"};
    for (const auto& c : cats) out += fmt::format(" {} |", c);
    out += "\n|---|---:|---:|---:|---:|---:|\n";
    for (const auto& v : r.variants) {
      if (!v.mmlu) continue;
      out += fmt::format("| {} | {:.2f} |", v.name, 100 * v.mmlu->macro);
      for (const auto& c : cats) {
        auto it = v.mmlu->categories.find(c);
        out += it == v.mmlu->categories.end() ? " - |" : fmt::format(" {:.2f} |", 100 * it->second);
      }
      out += "\n";
    }
    out += "\n| subject |";
    for (const auto& v : r.variants)
      if (v.mmlu) out += fmt::format(" {} |", v.name);
    out += "\n|---|";
    for (const auto& v : r.variants)
      if (v.mmlu) out += "---:|";
    out += "\n";
    const VariantResult* first = nullptr;
    for (const auto& v : r.variants)
      if (v.mmlu && !first) first = &v;
    if (first)
      for (const auto& [s, ci] : first->mmlu->subjects) {
        out += fmt::format("| {} |", s);
        for (const auto& v : r.variants) {
          if (!v.mmlu) continue;
          auto it = v.mmlu->subjects.find(s);
          out += it == v.mmlu->subjects.end() || it->second.second == 0
                     ? " - |"
                     : fmt::format(" {:.1f} |", 100.0 * it->second.first / it->second.second);
        }
        out += "\n";
      }
  }
  bool errors = false;
  for (const auto& v : r.variants) errors = errors || !v.error.empty();
  if (errors) {
    out += "\n## Variants that could not be measured\n\n";
    for (const auto& v : r.variants)
      if (!v.error.empty()) out += fmt::format("- {}: {}\n", v.name, md_cell(v.error));
  }
  if (!r.notes.empty()) {
    out += "\n## Notes\n\n";
    for (const auto& n : r.notes) out += fmt::format("- {}\n", md_cell(n));
  }
  return out;
}

std::string csv(const SuiteRun& r) {
  // Plain numbers, full precision, one row per variant.
  std::string out =
      "variant,description,bytes,parameters,bits_per_weight,ppl,ppl_error,delta_ppl,ppl_ratio,ln_ppl_ratio_error,"
      "kld_mean,kld_error,kld_median,kld_p99,kld_p999,kld_max,same_top,rms_delta_p,scored_tokens,mmlu_accuracy,"
      "mmlu_subject_mean,mmlu_shots,mmlu_items,answer_text_accuracy,word_perplexity,quantize_seconds,"
      "decode_tokens_per_s,error\n";
  const VariantResult* base = suite::baseline_of(r);
  auto g = [](double v) { return fmt::format("{}", v); };
  for (const auto& v : r.variants) {
    std::vector<std::string> c = {csv_cell(v.name), csv_cell(v.description), g(v.bytes), g(v.parameters),
                                  g(v.bits_per_weight)};
    if (v.ppl) {
      c.insert(c.end(), {g(v.ppl->ppl), g(v.ppl->ppl_error),
                         base && base->ppl ? g(v.ppl->ppl - base->ppl->ppl) : "", g(std::exp(v.ppl->ln_ratio)),
                         g(v.ppl->ln_ratio_error), g(v.ppl->kld_mean), g(v.ppl->kld_error), g(v.ppl->kld_median),
                         g(v.ppl->kld_p99), g(v.ppl->kld_p999), g(v.ppl->kld_max), g(v.ppl->same_top),
                         g(v.ppl->rms_dp), g(static_cast<double>(v.ppl->scored))});
    } else {
      c.insert(c.end(), 14, "");
    }
    if (v.mmlu) {
      c.insert(c.end(), {g(v.mmlu->micro), g(v.mmlu->macro), g(v.mmlu->shots), g(v.mmlu->items),
                         v.mmlu->text_items ? g(v.mmlu->answer_text) : ""});
    } else {
      c.insert(c.end(), 5, "");
    }
    c.push_back(v.word_ppl ? g(v.word_ppl->word_ppl) : "");
    c.push_back(g(v.quant_seconds));
    c.push_back(v.decode_tokens_per_s ? g(*v.decode_tokens_per_s) : "");
    c.push_back(csv_cell(v.error));
    std::string line;
    for (std::size_t i = 0; i < c.size(); ++i) line += (i ? "," : "") + c[i];
    out += line + "\n";
  }
  return out;
}

std::string json_text(const SuiteRun& r) { return suite::to_json(r).dump(2) + "\n"; }

Written write_reports(const SuiteRun& r, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::string model;
  for (char c : r.model) model += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  while (!model.empty() && model.front() == '_') model.erase(model.begin());
  std::string when;
  for (char c : r.when) when += c == ':' ? '-' : c;
  const std::string stem = fmt::format("suite-{}-{}", model.empty() ? "model" : model, when);
  Written w{dir / (stem + ".md"), dir / (stem + ".csv"), dir / (stem + ".json"), dir / (stem + ".html")};
  write_file_atomic(w.markdown, markdown(r));
  write_file_atomic(w.csv, csv(r));
  write_file_atomic(w.json, json_text(r));
  write_file_atomic(w.html, html(r));
  return w;
}

}  // namespace qlab::report
