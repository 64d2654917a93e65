// An Ollama Modelfile for a GGUF file (lab 6). Ollama's TEMPLATE is a Go template, not the Jinja of a
// Hugging Face chat template, so a template is recognised by its markers and written as the Go
// template Ollama's own library uses for that family; a chat template it does not recognise, or
// none (a base model), gives plain completion, and the note says so.
#include <algorithm>

#include <fmt/format.h>

#include "labs/lab06_gguf.h"

namespace qlab::labs {

namespace {

bool has(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

}  // namespace

Modelfile make_modelfile(const std::string& gguf_name, const std::string& chat_template,
                         const std::vector<std::string>& eos_tokens) {
  Modelfile m;
  std::string tmpl;
  std::vector<std::string> stops;
  if (has(chat_template, "<|start_header_id|>")) {
    m.family = "Llama 3";
    tmpl = "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
           "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
           "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>";
    stops = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
  } else if (has(chat_template, "<|im_start|>")) {
    m.family = "ChatML (Qwen2)";
    tmpl = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
           "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
           "{{ .Response }}<|im_end|>\n";
    stops = {"<|im_start|>", "<|im_end|>"};
  } else if (has(chat_template, "[INST]")) {
    m.family = "[INST] (Mistral, Llama 2)";
    tmpl = "[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]";
    stops = {"[INST]", "[/INST]"};
  } else {
    m.family = "plain completion";
    tmpl = "{{ .Prompt }}";
    m.note = chat_template.empty()
                 ? "The model has no chat template (a base model): the Modelfile continues the prompt as it is."
                 : "qlab does not recognise this chat template's family: the Modelfile continues the prompt as it "
                   "is; write the Go template for it by hand (Ollama's TEMPLATE is a Go template, not Jinja).";
  }
  for (const auto& e : eos_tokens)
    if (!e.empty() && std::find(stops.begin(), stops.end(), e) == stops.end()) stops.push_back(e);
  m.text = fmt::format("FROM ./{}\nTEMPLATE \"\"\"{}\"\"\"\n", gguf_name, tmpl);
  for (const auto& s : stops) m.text += fmt::format("PARAMETER stop \"{}\"\n", s);
  return m;
}

}  // namespace qlab::labs
