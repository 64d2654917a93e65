// Chat templates: qlab's renderers against the same conversations rendered by Jinja2 from the model
// repositories' own templates (tests/fixtures/gen_chat_templates.py wrote cases.json).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/serve/chat_template.h"

namespace qlab::serve {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "chat_templates";

nlohmann::json cases() {
  std::ifstream f(kFixtures / "cases.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

TEST(ChatTemplate, RendersWhatJinjaRendersFromTheModelsTemplates) {
  const std::map<std::string, std::string> family = {
      {"llama3", "llama3"},   {"llama3.1", "llama3.1"},           {"qwen2", "chatml"},
      {"openhermes", "chatml"}, {"mistral-v0.2", "mistral"}, {"mistral-legacy", "mistral-legacy"},
      {"tinyllama-chat", "zephyr"}};
  const auto all = cases()["cases"];
  ASSERT_EQ(all.size(), 28u);
  for (const auto& c : all) {
    const std::string name = c["template_name"];
    SCOPED_TRACE(name + " / " + c["conversation"].get<std::string>());
    const auto t = recognise_chat_template(c["template"].get<std::string>(), c["bos"], c["eos"]);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name(), family.at(name));
    std::vector<ChatMessage> msgs;
    for (const auto& m : c["messages"]) msgs.push_back({m["role"], m["content"]});
    if (c.contains("prompt")) {
      EXPECT_EQ(t->render(msgs), c["prompt"].get<std::string>());
    } else {
      EXPECT_THROW(t->render(msgs), Error) << "Jinja raised: " << c["error"];
    }
  }
}

TEST(ChatTemplate, DefaultsReadFromTheTemplate) {
  const auto qwen = recognise_chat_template(
      "{{ '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud.<|im_end|>\\n' }}{{ '<|im_start|>' }}", "", "");
  ASSERT_TRUE(qwen);
  EXPECT_EQ(qwen->default_system, "You are Qwen, created by Alibaba Cloud.");
  const auto l31 = recognise_chat_template(
      "{%- set date_string = \"01 Jan 2025\" %}<|start_header_id|>Cutting Knowledge Date", "<|begin_of_text|>", "");
  ASSERT_TRUE(l31);
  EXPECT_EQ(l31->date, "01 Jan 2025");
}

TEST(ChatTemplate, UnknownTemplatesAreRefusedNotGuessed) {
  // Gemma's turns, Llama 2's <<SYS>>, Phi-3's <|end|>, a reasoning template's <think>
  for (const char* t : {"{{ '<start_of_turn>user\\n' + content }}", "[INST] <<SYS>>\\n{{ system }}<</SYS>>",
                        "{{ '<|user|>\\n' + c + '<|end|>\\n<|assistant|>' }}",
                        "{{ '<|im_start|>assistant\\n<think>\\n' }}", "plain text"})
    EXPECT_FALSE(recognise_chat_template(t, "", "")) << t;
  EXPECT_FALSE(chat_family_from_name("gemma"));
  EXPECT_TRUE(chat_family_from_name("chatml"));
}

TEST(ChatTemplate, LoadsFromTokenizerConfig) {
  const auto dir = std::filesystem::temp_directory_path() / "qlab_chat_template_test";
  std::filesystem::create_directories(dir);
  auto write = [&](const nlohmann::json& j) { std::ofstream(dir / "tokenizer_config.json") << j.dump(); };
  write({{"bos_token", {{"content", "<s>"}}}, {"eos_token", "</s>"},
         {"chat_template", {{{"name", "tool_use"}, {"template", "x"}},
                            {{"name", "default"}, {"template", "{{ '<|user|>\\n' }}{{ '<|assistant|>' }}"}}}}});
  auto t = load_chat_template(dir);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), std::string("zephyr"));
  EXPECT_EQ(t->eos, "</s>");
  write({{"chat_template", "{{ '<start_of_turn>' }}"}});
  EXPECT_THROW(load_chat_template(dir), Error);
  write({{"eos_token", "</s>"}});
  EXPECT_FALSE(load_chat_template(dir));
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(load_chat_template(dir));  // no tokenizer_config.json at all
}

TEST(ChatTemplate, RolesAMessageFamilyCannotPlace) {
  ChatTemplate t;
  t.family = ChatFamily::Llama3;
  const std::vector<ChatMessage> tool = {{"tool", "{}"}};
  EXPECT_THROW(t.render(tool), Error);
  t.family = ChatFamily::Llama31;
  const std::vector<ChatMessage> late_system = {{"user", "a"}, {"system", "b"}};
  EXPECT_THROW(t.render(late_system), Error);
}

}  // namespace
}  // namespace qlab::serve
