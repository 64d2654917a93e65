#include "engine/suite/result.h"

namespace qlab::suite {

using nlohmann::json;

json to_json(const PplFigures& f) {
  return {{"ppl", f.ppl},           {"ppl_error", f.ppl_error},   {"scored_tokens", f.scored},
          {"chunks", f.chunks},     {"ln_ratio", f.ln_ratio},     {"ln_ratio_error", f.ln_ratio_error},
          {"kld_mean", f.kld_mean}, {"kld_error", f.kld_error},   {"kld_median", f.kld_median},
          {"kld_p99", f.kld_p99},   {"kld_p999", f.kld_p999},     {"kld_max", f.kld_max},
          {"same_top", f.same_top}, {"same_top_error", f.same_top_error}, {"rms_dp", f.rms_dp},
          {"seconds", f.seconds}};
}

PplFigures ppl_from_json(const json& j) {
  PplFigures f;
  f.ppl = j.at("ppl").get<double>();
  f.ppl_error = j.at("ppl_error").get<double>();
  f.scored = j.at("scored_tokens").get<std::int64_t>();
  f.chunks = j.at("chunks").get<std::int64_t>();
  f.ln_ratio = j.at("ln_ratio").get<double>();
  f.ln_ratio_error = j.at("ln_ratio_error").get<double>();
  f.kld_mean = j.at("kld_mean").get<double>();
  f.kld_error = j.at("kld_error").get<double>();
  f.kld_median = j.at("kld_median").get<double>();
  f.kld_p99 = j.at("kld_p99").get<double>();
  f.kld_p999 = j.at("kld_p999").get<double>();
  f.kld_max = j.at("kld_max").get<double>();
  f.same_top = j.at("same_top").get<double>();
  f.same_top_error = j.at("same_top_error").get<double>();
  f.rms_dp = j.at("rms_dp").get<double>();
  f.seconds = j.at("seconds").get<double>();
  return f;
}

json to_json(const WordPplFigures& f) {
  return {{"word_perplexity", f.word_ppl}, {"byte_perplexity", f.byte_ppl}, {"bits_per_byte", f.bits_per_byte},
          {"documents", f.docs},          {"words", f.words},              {"bytes", f.bytes},
          {"tokens", f.tokens},
          {"seconds", f.seconds}};
}

WordPplFigures word_ppl_from_json(const json& j) {
  WordPplFigures f;
  f.word_ppl = j.at("word_perplexity").get<double>();
  f.byte_ppl = j.at("byte_perplexity").get<double>();
  f.bits_per_byte = j.at("bits_per_byte").get<double>();
  f.docs = j.at("documents").get<std::int64_t>();
  f.words = j.at("words").get<std::int64_t>();
  f.bytes = j.at("bytes").get<std::int64_t>();
  f.tokens = j.at("tokens").get<std::int64_t>();
  f.seconds = j.at("seconds").get<double>();
  return f;
}

json to_json(const MmluFigures& f) {
  json subjects = json::object();
  for (const auto& [s, v] : f.subjects) subjects[s.empty() ? "(no subject)" : s] = {{"correct", v.first}, {"items", v.second}};
  json j{{"shots", f.shots},   {"items", f.items},           {"accuracy", f.micro},
         {"subject_mean", f.macro}, {"categories", f.categories}, {"subjects", subjects},
         {"seconds", f.seconds}};
  if (f.text_items > 0) j["answer_text"] = {{"accuracy", f.answer_text}, {"items", f.text_items}};
  return j;
}

MmluFigures mmlu_from_json(const json& j) {
  MmluFigures f;
  f.shots = j.at("shots").get<int>();
  f.items = j.at("items").get<int>();
  f.micro = j.at("accuracy").get<double>();
  f.macro = j.at("subject_mean").get<double>();
  f.categories = j.at("categories").get<std::map<std::string, double>>();
  for (const auto& [s, v] : j.at("subjects").items())
    f.subjects[s == "(no subject)" ? std::string() : s] = {v.at("correct").get<int>(), v.at("items").get<int>()};
  if (auto t = j.find("answer_text"); t != j.end()) {
    f.answer_text = t->at("accuracy").get<double>();
    f.text_items = t->at("items").get<int>();
  }
  f.seconds = j.at("seconds").get<double>();
  return f;
}

json to_json(const VariantResult& v) {
  json j{{"name", v.name}, {"description", v.description}, {"bytes", v.bytes}, {"parameters", v.parameters},
         {"bits_per_weight", v.bits_per_weight}, {"size_note", v.size_note}, {"quantize_seconds", v.quant_seconds},
         {"decode_tokens_per_s", v.decode_tokens_per_s ? json(*v.decode_tokens_per_s) : json(nullptr)},
         {"warnings", v.warnings}, {"from_cache", v.from_cache}};
  if (v.ppl) j["perplexity"] = to_json(*v.ppl);
  if (v.word_ppl) j["word_perplexity"] = to_json(*v.word_ppl);
  if (v.mmlu) j["mmlu"] = to_json(*v.mmlu);
  if (!v.error.empty()) j["error"] = v.error;
  return j;
}

json to_json(const SuiteRun& r) {
  json vs = json::array();
  for (const auto& v : r.variants) vs.push_back(to_json(v));
  return {{"qlab_version", r.qlab_version},
          {"when", r.when},
          {"model", r.model},
          {"model_fingerprint", r.model_fingerprint},
          {"builtin_model", r.builtin_model},
          {"text", {{"origin", r.text_origin}, {"hash", r.text_hash}, {"tokens", r.text_tokens}}},
          {"perplexity_protocol", r.ppl_protocol},
          {"chunks", {{"used", r.chunks_used}, {"all", r.chunks_all}, {"note", r.chunk_note}}},
          {"word_perplexity_protocol", r.word_ppl_protocol},
          {"mmlu", {{"origin", r.mmlu_origin}, {"protocol", r.mmlu_protocol}}},
          {"machine", r.machine},
          {"threads", r.threads},
          {"kld_base", r.kld_store},
          {"notes", r.notes},
          {"seconds", r.seconds},
          {"variants", vs}};
}

const VariantResult* baseline_of(const SuiteRun& r) {
  for (const auto& v : r.variants)
    if (v.name == "baseline" && v.error.empty()) return &v;
  return nullptr;
}

}  // namespace qlab::suite
