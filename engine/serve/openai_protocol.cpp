#include "engine/serve/openai_protocol.h"

#include <fmt/format.h>

namespace qlab::serve {

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw RequestError(400, "invalid_request_error", param, message);
}

double number_in(const nlohmann::json& j, const char* key, double fallback, double lo, double hi) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) bad(key, fmt::format("'{}' must be a number", key));
  const double v = j[key].get<double>();
  if (!(v >= lo && v <= hi)) bad(key, fmt::format("'{}' is {}; it must be between {} and {}", key, v, lo, hi));
  return v;
}

bool flag_in(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) bad(key, fmt::format("'{}' must be true or false", key));
  return j[key].get<bool>();
}

std::optional<int> count_in(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number_integer()) bad(key, fmt::format("'{}' must be a whole number", key));
  const auto v = j[key].get<long long>();
  if (v < 0 || v > (1 << 24)) bad(key, fmt::format("'{}' is {}; it must be between 0 and {}", key, v, 1 << 24));
  return static_cast<int>(v);
}

// Chat content: text, or a list of parts of which only {"type": "text", "text": ...} are read.
std::string content_text(const nlohmann::json& c, std::size_t index) {
  const std::string param = fmt::format("messages[{}].content", index);
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {
    std::string out;
    for (const auto& part : c) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        bad(param, fmt::format("{} holds a part that is not {{\"type\": \"text\", \"text\": ...}}", param));
      out += part["text"].get<std::string>();
    }
    return out;
  }
  bad(param, fmt::format("{} must be text or a list of text parts", param));
}

}  // namespace

CompletionRequest parse_request(std::string_view body, bool chat) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("", "the request body is not valid JSON");
  if (!j.is_object()) bad("", "the request body must be a JSON object");
  CompletionRequest r;
  r.chat = chat;
  if (!j.contains("model") || !j["model"].is_string()) bad("model", "'model' is required and must be text");
  r.model = j["model"].get<std::string>();
  if (chat) {
    if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
      bad("messages", "'messages' is required: a non-empty list of {\"role\", \"content\"}");
    for (std::size_t i = 0; i < j["messages"].size(); ++i) {
      const auto& m = j["messages"][i];
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content"))
        bad(fmt::format("messages[{}]", i), fmt::format("messages[{}] must have a text 'role' and a 'content'", i));
      r.messages.push_back({m["role"].get<std::string>(), content_text(m["content"], i)});
    }
    r.max_tokens = count_in(j, "max_completion_tokens");
    if (!r.max_tokens) r.max_tokens = count_in(j, "max_tokens");
  } else {
    if (!j.contains("prompt")) bad("prompt", "'prompt' is required");
    const auto& p = j["prompt"];
    if (p.is_string()) r.prompt = p.get<std::string>();
    else if (p.is_array() && p.size() == 1 && p[0].is_string()) r.prompt = p[0].get<std::string>();
    else bad("prompt", "'prompt' must be text (one prompt per request)");
    r.max_tokens = count_in(j, "max_tokens");
    if (!r.max_tokens) r.max_tokens = 16;  // OpenAI's default for /v1/completions
  }
  if (j.contains("n") && !(j["n"].is_number_integer() && j["n"].get<long long>() == 1))
    bad("n", "only n = 1 is served (one choice per request)");
  r.temperature = number_in(j, "temperature", 1.0, 0.0, 2.0);
  r.top_p = number_in(j, "top_p", 1.0, 1e-9, 1.0);
  r.top_k = static_cast<int>(number_in(j, "top_k", 0, -1, 1 << 20));
  if (r.top_k < 0) r.top_k = 0;  // llama-server's -1 = off
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_integer()) bad("seed", "'seed' must be a whole number");
    r.seed = static_cast<std::uint64_t>(j["seed"].get<long long>());
  }
  r.stream = flag_in(j, "stream");
  r.ignore_eos = flag_in(j, "ignore_eos");
  if (j.contains("stream_options") && j["stream_options"].is_object()) r.include_usage = flag_in(j["stream_options"], "include_usage");
  if (j.contains("stop") && !j["stop"].is_null()) {
    const auto& s = j["stop"];
    if (s.is_string()) {
      r.stop.push_back(s.get<std::string>());
    } else if (s.is_array() && s.size() <= 4) {
      for (const auto& e : s) {
        if (!e.is_string()) bad("stop", "'stop' must be text or a list of up to 4 texts");
        r.stop.push_back(e.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be text or a list of up to 4 texts");
    }
    for (const auto& s2 : r.stop)
      if (s2.empty()) bad("stop", "a stop sequence may not be empty");
  }
  return r;
}

nlohmann::json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

namespace {
nlohmann::json finish(const std::string& f) { return f.empty() ? nlohmann::json(nullptr) : nlohmann::json(f); }
}  // namespace

nlohmann::json completion_json(const std::string& id, std::int64_t created, const std::string& model,
                               const std::string& text, const std::string& finish_reason, const Usage& u) {
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", {{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish(finish_reason)}}}},
          {"usage", usage_json(u)}};
}

nlohmann::json chat_json(const std::string& id, std::int64_t created, const std::string& model, const std::string& text,
                         const std::string& finish_reason, const Usage& u) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices",
           {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", finish(finish_reason)}}}},
          {"usage", usage_json(u)}};
}

nlohmann::json completion_chunk_json(const std::string& id, std::int64_t created, const std::string& model,
                                     const std::string& text, const std::string& finish_reason) {
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", {{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish(finish_reason)}}}}};
}

nlohmann::json chat_chunk_json(const std::string& id, std::int64_t created, const std::string& model,
                               const std::string* role, const std::string* content, const std::string& finish_reason) {
  nlohmann::json delta = nlohmann::json::object();
  if (role) delta["role"] = *role;
  if (content) delta["content"] = *content;
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish(finish_reason)}}}}};
}

nlohmann::json usage_chunk_json(const std::string& id, std::int64_t created, const std::string& model, bool chat,
                                const Usage& u) {
  return {{"id", id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", nlohmann::json::array()},
          {"usage", usage_json(u)}};
}

nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& param) {
  return {{"error",
           {{"message", message}, {"type", type}, {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
            {"code", nullptr}}}};
}

nlohmann::json models_json(const std::string& model, std::int64_t created) {
  return {{"object", "list"},
          {"data", {{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "qlab"}}}}};
}

std::string sse_event(const nlohmann::json& j) {
  return "data: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

}  // namespace qlab::serve
