#pragma once
// Chat messages to the prompt text a chat model was trained on. A model folder's
// tokenizer_config.json carries its template as Jinja; qlab does not run Jinja. It recognises the
// template families most Llama / Mistral / Qwen2 checkpoints use, by the markers their templates
// write, and renders them with code that follows those templates (llama.cpp's CPU server recognises
// templates the same way when it does not run Jinja):
//   llama3     <|start_header_id|>role<|end_header_id|>\n\n content <|eot_id|>  (Meta-Llama-3-*-Instruct)
//   llama3.1   the same, with the system header's "Cutting Knowledge Date" / "Today Date" lines
//              (Llama-3.1 / 3.2 / 3.3 Instruct, without tools)
//   chatml     <|im_start|>role\n content <|im_end|>\n  (Qwen2 / Qwen2.5 Instruct; the template's
//              default system message, when it has one, is used when the chat has none)
//   mistral    " [INST] ... [/INST]" with the system message before the first user message's text
//              (Mistral-7B-Instruct v0.1 / v0.2, Mixtral-8x7B-Instruct); mistral-legacy: the
//              earlier form without spaces or a system message
//   zephyr     <|system|>\n ...</s>\n<|user|>\n ...  (TinyLlama-Chat, Zephyr)
// tests/fixtures/chat_templates holds the same conversations rendered by Jinja2 from the templates
// themselves; the tests compare. A template none of these match is refused with a message, never
// guessed at.
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qlab::serve {

struct ChatMessage {
  std::string role;  // system, user, assistant
  std::string content;
};

enum class ChatFamily { Llama3, Llama31, ChatML, Mistral, MistralLegacy, Zephyr };

struct ChatTemplate {
  ChatFamily family = ChatFamily::ChatML;
  std::string bos, eos;        // the tokenizer's BOS / EOS token text
  std::string default_system;  // chatml: the template's own system message, used when the chat has none
  std::string date;            // llama3.1: the template's date_string default ("26 Jul 2024")

  const char* name() const;
  // The prompt for these messages, ending with the assistant's turn opened when add_generation_prompt.
  // Error (a request error: the message names the role and the family) for roles the family has no
  // place for, or a mistral conversation that does not alternate user / assistant.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;
};

std::optional<ChatFamily> chat_family_from_name(std::string_view name);  // "llama3", "chatml", ...

// The family a Jinja template text belongs to, or nullopt. Fills default_system / date from it.
std::optional<ChatTemplate> recognise_chat_template(std::string_view jinja, std::string bos, std::string eos);

// The model folder's template (tokenizer_config.json: chat_template as text, or a list of named
// templates whose "default" is used). nullopt when the folder has none; Error when it has one that
// is not recognised, naming the families qlab renders and the --chat-template flag.
std::optional<ChatTemplate> load_chat_template(const std::filesystem::path& model_dir);

}  // namespace qlab::serve
