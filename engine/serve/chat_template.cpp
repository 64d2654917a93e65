#include "engine/serve/chat_template.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::serve {

namespace {

// Python's str.strip() (Jinja's trim): ASCII whitespace at both ends.
std::string trim(std::string_view s) {
  const char* ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

// The text of the first single-quoted or double-quoted literal that starts with `prefix` inside the
// template, up to `end` (exclusive), with \n escapes read: a template's own default strings.
std::string literal_after(std::string_view jinja, std::string_view prefix, std::string_view end) {
  const auto at = jinja.find(prefix);
  if (at == std::string_view::npos) return {};
  const auto from = at + prefix.size();
  const auto to = jinja.find(end, from);
  if (to == std::string_view::npos) return {};
  std::string out;
  const std::string_view raw = jinja.substr(from, to - from);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size() && raw[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += raw[i];
    }
  }
  return out;
}

std::string role_error(const ChatTemplate& t, const std::string& role) {
  return "the " + std::string(t.name()) + " chat template has no place for a message of role '" + role + "'";
}

std::string render_llama3(const ChatTemplate& t, std::span<const ChatMessage> msgs, bool gen) {
  std::string out;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    if (i == 0) out += t.bos;
    if (msgs[i].role != "system" && msgs[i].role != "user" && msgs[i].role != "assistant") fail("{}", role_error(t, msgs[i].role));
    out += "<|start_header_id|>" + msgs[i].role + "<|end_header_id|>\n\n" + trim(msgs[i].content) + "<|eot_id|>";
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_llama31(const ChatTemplate& t, std::span<const ChatMessage> msgs, bool gen) {
  std::string system;
  if (!msgs.empty() && msgs[0].role == "system") {
    system = trim(msgs[0].content);
    msgs = msgs.subspan(1);
  }
  std::string out = t.bos + "<|start_header_id|>system<|end_header_id|>\n\n";
  out += "Cutting Knowledge Date: December 2023\nToday Date: " + t.date + "\n\n" + system + "<|eot_id|>";
  for (const auto& m : msgs) {
    if (m.role == "system") fail("{} (only the first message may be the system message)", role_error(t, m.role));
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_chatml(const ChatTemplate& t, std::span<const ChatMessage> msgs, bool gen) {
  std::string out;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    if (i == 0 && msgs[0].role != "system" && !t.default_system.empty())
      out += "<|im_start|>system\n" + t.default_system + "<|im_end|>\n";
    out += "<|im_start|>" + msgs[i].role + "\n" + msgs[i].content + "<|im_end|>\n";
  }
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

// Mistral-7B-Instruct v0.1 / v0.2's template ("v1"): an optional first system message goes before
// the first user message's text; user and assistant must alternate. The legacy form (before the
// system message was allowed) writes no spaces around the turns and refuses a system message.
std::string render_mistral(const ChatTemplate& t, std::span<const ChatMessage> msgs, bool legacy) {
  std::string system;
  bool has_system = false;
  if (!msgs.empty() && msgs[0].role == "system") {
    if (legacy) fail("{} (this Mistral template has no system message)", role_error(t, "system"));
    system = msgs[0].content;
    has_system = true;
    msgs = msgs.subspan(1);
  }
  const std::string open = legacy ? "[INST] " : " [INST] ", before_answer = legacy ? "" : " ";
  std::string out = t.bos;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    if (m.role == "system") fail("{} (only the first message may be the system message)", role_error(t, m.role));
    if ((m.role == "user") != (i % 2 == 0))
      fail("the {} chat template needs messages alternating user / assistant after an optional system message "
           "(message {} is '{}')", t.name(), i + (has_system ? 1 : 0), m.role);
    if (m.role == "user") {
      if (i == 0 && has_system) out += open + system + "\n\n" + m.content + " [/INST]";
      else out += open + m.content + " [/INST]";
    } else {
      out += before_answer + m.content + t.eos;
    }
  }
  return out;
}

std::string render_zephyr(const ChatTemplate& t, std::span<const ChatMessage> msgs, bool gen) {
  std::string out;
  for (const auto& m : msgs) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant") fail("{}", role_error(t, m.role));
    out += "<|" + m.role + "|>\n" + m.content + t.eos + "\n";
  }
  if (gen) out += "<|assistant|>\n";
  return out;
}

}  // namespace

const char* ChatTemplate::name() const {
  switch (family) {
    case ChatFamily::Llama3: return "llama3";
    case ChatFamily::Llama31: return "llama3.1";
    case ChatFamily::ChatML: return "chatml";
    case ChatFamily::Mistral: return "mistral";
    case ChatFamily::MistralLegacy: return "mistral-legacy";
    case ChatFamily::Zephyr: return "zephyr";
  }
  return "?";
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  for (const auto& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      fail("message role '{}' is not system, user or assistant", m.role);
  switch (family) {
    case ChatFamily::Llama3: return render_llama3(*this, messages, add_generation_prompt);
    case ChatFamily::Llama31: return render_llama31(*this, messages, add_generation_prompt);
    case ChatFamily::ChatML: return render_chatml(*this, messages, add_generation_prompt);
    case ChatFamily::Mistral: return render_mistral(*this, messages, false);
    case ChatFamily::MistralLegacy: return render_mistral(*this, messages, true);
    case ChatFamily::Zephyr: return render_zephyr(*this, messages, add_generation_prompt);
  }
  return {};
}

std::optional<ChatFamily> chat_family_from_name(std::string_view name) {
  if (name == "llama3") return ChatFamily::Llama3;
  if (name == "llama3.1") return ChatFamily::Llama31;
  if (name == "chatml") return ChatFamily::ChatML;
  if (name == "mistral") return ChatFamily::Mistral;
  if (name == "mistral-legacy") return ChatFamily::MistralLegacy;
  if (name == "zephyr") return ChatFamily::Zephyr;
  return std::nullopt;
}

std::optional<ChatTemplate> recognise_chat_template(std::string_view jinja, std::string bos, std::string eos) {
  ChatTemplate t;
  t.bos = std::move(bos);
  t.eos = std::move(eos);
  // Templates that carry tool calls or reasoning blocks render differently from these families even
  // without tools: not recognised.
  if (jinja.find("<|start_header_id|>") != std::string_view::npos) {
    if (jinja.find("Cutting Knowledge Date") != std::string_view::npos) {
      t.family = ChatFamily::Llama31;
      t.date = literal_after(jinja, "set date_string = \"", "\"");
      if (t.date.empty()) t.date = "26 Jul 2024";
    } else {
      t.family = ChatFamily::Llama3;
    }
    return t;
  }
  if (jinja.find("<|im_start|>") != std::string_view::npos && jinja.find("<think>") == std::string_view::npos &&
      jinja.find("<|im_sep|>") == std::string_view::npos) {
    t.family = ChatFamily::ChatML;
    t.default_system = literal_after(jinja, "<|im_start|>system\\n", "<|im_end|>");
    return t;
  }
  if (jinja.find("<<SYS>>") == std::string_view::npos && jinja.find("[AVAILABLE_TOOLS]") == std::string_view::npos) {
    if (jinja.find("' [INST] '") != std::string_view::npos) {
      t.family = ChatFamily::Mistral;
      return t;
    }
    if (jinja.find("'[INST] ' + message['content'] + ' [/INST]'") != std::string_view::npos) {
      t.family = ChatFamily::MistralLegacy;
      return t;
    }
  }
  if (jinja.find("<|user|>") != std::string_view::npos && jinja.find("<|assistant|>") != std::string_view::npos &&
      jinja.find("<|end|>") == std::string_view::npos) {
    t.family = ChatFamily::Zephyr;
    return t;
  }
  return std::nullopt;
}

std::optional<ChatTemplate> load_chat_template(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "tokenizer_config.json";
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not valid JSON", path.string());
  auto token_text = [&](const char* key) -> std::string {
    if (!j.contains(key)) return {};
    const auto& v = j[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return {};
  };
  std::string text;
  if (!j.contains("chat_template")) return std::nullopt;
  const auto& ct = j["chat_template"];
  if (ct.is_string()) {
    text = ct.get<std::string>();
  } else if (ct.is_array()) {
    for (const auto& e : ct)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
        text = e["template"].get<std::string>();
  }
  if (text.empty()) fail("{}: chat_template is neither text nor a list with a \"default\" template", path.string());
  auto t = recognise_chat_template(text, token_text("bos_token"), token_text("eos_token"));
  if (!t)
    fail("{}: the chat template is not one qlab renders (llama3, llama3.1, chatml, mistral, mistral-legacy, zephyr); pass "
         "--chat-template NAME if the model follows one of them, or use /v1/completions with your own prompt",
         path.string());
  return t;
}

}  // namespace qlab::serve
