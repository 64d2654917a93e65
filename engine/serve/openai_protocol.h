#pragma once
// The OpenAI-compatible HTTP API's JSON, as qlab serve reads and writes it (OpenAI's API reference
// for /v1/completions, /v1/chat/completions and /v1/models; the fields vLLM and llama-server accept
// too). Pure functions over JSON text: no sockets, so every case is testable alone.
//   parse_request         a request body -> CompletionRequest, or RequestError (HTTP 400) naming the
//                         field and what it must be
//   completion_json / completion_chunk_json / chat_*   responses and streamed chunks
//   error_json            {"error": {"message", "type", "param", "code"}}
//   models_json           the /v1/models list
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/serve/chat_template.h"

namespace qlab::serve {

// A request the server refuses: HTTP status, OpenAI error type and the parameter at fault.
class RequestError : public Error {
 public:
  RequestError(int status, std::string type, std::string param, const std::string& message)
      : Error(message), status(status), type(std::move(type)), param(std::move(param)) {}
  int status;
  std::string type;   // invalid_request_error, not_found_error, server_error
  std::string param;  // the field at fault, or empty
};

struct CompletionRequest {
  bool chat = false;
  std::string model;
  std::string prompt;                 // /v1/completions
  std::vector<ChatMessage> messages;  // /v1/chat/completions
  std::optional<int> max_tokens;      // max_tokens (or chat's max_completion_tokens)
  double temperature = 1.0;           // OpenAI's default
  double top_p = 1.0;
  int top_k = 0;                      // vLLM / llama-server extension (0 = off)
  std::optional<std::uint64_t> seed;
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage: a last chunk with the usage
  bool ignore_eos = false;            // vLLM / llama-server extension: generate max_tokens regardless
  std::vector<std::string> stop;      // up to 4 stop sequences
};

CompletionRequest parse_request(std::string_view body, bool chat);

struct Usage {
  int prompt_tokens = 0, completion_tokens = 0;
};

nlohmann::json usage_json(const Usage& u);
nlohmann::json completion_json(const std::string& id, std::int64_t created, const std::string& model,
                               const std::string& text, const std::string& finish_reason, const Usage& u);
nlohmann::json chat_json(const std::string& id, std::int64_t created, const std::string& model, const std::string& text,
                         const std::string& finish_reason, const Usage& u);
// finish_reason empty: null (more to come). For chat, the first chunk carries role "assistant".
nlohmann::json completion_chunk_json(const std::string& id, std::int64_t created, const std::string& model,
                                     const std::string& text, const std::string& finish_reason);
nlohmann::json chat_chunk_json(const std::string& id, std::int64_t created, const std::string& model,
                               const std::string* role, const std::string* content, const std::string& finish_reason);
nlohmann::json usage_chunk_json(const std::string& id, std::int64_t created, const std::string& model, bool chat,
                                const Usage& u);
nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& param);
nlohmann::json models_json(const std::string& model, std::int64_t created);

// "data: <json>\n\n": one server-sent event.
std::string sse_event(const nlohmann::json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace qlab::serve
