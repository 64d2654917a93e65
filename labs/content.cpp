#include "labs/content.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "labs/content_files.h"
#include "labs/lab.h"

namespace qlab::labs {

using nlohmann::json;

namespace {

// Text fields may be a string or an array of lines (easier to write and review in JSON).
std::string text_of(const json& j, const std::string& file, const std::string& key, bool required) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) fail("content/{}: missing key '{}'", file, key);
    return {};
  }
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string out;
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) fail("content/{}: '{}' line {} is not a string", file, key, i + 1);
      if (i) out += '\n';
      out += (*it)[i].get<std::string>();
    }
    return out;
  }
  fail("content/{}: '{}' must be a string or an array of strings", file, key);
}

void parse_lab(const json& j, const std::string& file, Content& c) {
  LabText l;
  l.id = text_of(j, file, "id", true);
  if (!j.contains("number") || !j["number"].is_number_integer()) fail("content/{}: 'number' must be an integer", file);
  l.number = j["number"].get<int>();
  l.title = text_of(j, file, "title", true);
  l.time = text_of(j, file, "time", true);
  l.focus = text_of(j, file, "focus", true);
  l.deliverable = text_of(j, file, "deliverable", true);
  l.objective = text_of(j, file, "objective", true);
  if (!j.contains("steps") || !j["steps"].is_array()) fail("content/{}: 'steps' must be an array", file);
  for (const auto& s : j["steps"]) {
    StepText st;
    st.id = text_of(s, file, "id", true);
    st.title = text_of(s, file, "title", true);
    st.body = text_of(s, file, "body", true);
    st.hint = text_of(s, file, "hint", false);
    st.input_prompt = text_of(s, file, "input_prompt", false);
    for (const auto& pj : s.value("params", json::array()))
      st.params.push_back({text_of(pj, file, "id", true), text_of(pj, file, "label", true), text_of(pj, file, "help", true),
                           text_of(pj, file, "default_label", false)});
    l.steps.push_back(std::move(st));
  }
  c.labs.push_back(std::move(l));
}

void parse_module(const json& j, const std::string& file, Content& c) {
  c.module_title = text_of(j, file, "title", true);
  c.module_intro = text_of(j, file, "intro", true);
  for (const auto& m : j.value("milestones", json::array()))
    c.milestones.push_back({text_of(m, file, "id", true), text_of(m, file, "lab", true), text_of(m, file, "text", true)});
  for (const auto& m : j.value("corrections", json::array()))
    c.corrections.push_back({text_of(m, file, "id", true), text_of(m, file, "claim", true), text_of(m, file, "fact", true),
                             text_of(m, file, "evidence", true)});
  const json ui = j.value("ui", json::object());
  for (const auto& [k, v] : ui.items()) c.ui[k] = text_of(ui, file, k, true);
}

void parse_glossary(const json& j, const std::string& file, Content& c) {
  for (const auto& t : j.at("terms"))
    c.glossary.push_back({text_of(t, file, "id", true), text_of(t, file, "term", true), text_of(t, file, "plain", true),
                          text_of(t, file, "detail", false)});
}

void parse_quiz(const json& j, const std::string& file, Content& c) {
  for (const auto& q : j.at("items")) {
    QuizItem it;
    it.id = text_of(q, file, "id", true);
    it.question = text_of(q, file, "question", true);
    for (const auto& ch : q.at("choices")) it.choices.push_back(ch.get<std::string>());
    it.answer = q.at("answer").get<int>();
    it.explanation = text_of(q, file, "explanation", true);
    c.quiz.push_back(std::move(it));
  }
}

void parse_paths(const json& j, const std::string& file, Content& c) {
  for (const auto& p : j.at("paths")) {
    StudyPath sp;
    sp.id = text_of(p, file, "id", true);
    sp.name = text_of(p, file, "name", true);
    sp.hours = text_of(p, file, "hours", true);
    sp.summary = text_of(p, file, "summary", true);
    for (const auto& e : p.at("entries")) {
      PathEntry pe;
      pe.lab = text_of(e, file, "lab", true);
      for (const auto& s : e.value("steps", json::array())) pe.steps.push_back(s.get<std::string>());
      pe.note = text_of(e, file, "note", false);
      pe.optional = e.value("optional", false);
      sp.entries.push_back(std::move(pe));
    }
    c.paths.push_back(std::move(sp));
  }
}

}  // namespace

const StepText* LabText::step(std::string_view sid) const {
  for (const auto& s : steps)
    if (s.id == sid) return &s;
  return nullptr;
}

const ParamText* StepText::param(std::string_view pid) const {
  for (const auto& p : params)
    if (p.id == pid) return &p;
  return nullptr;
}

const PathEntry* StudyPath::entry(std::string_view lab) const {
  for (const auto& e : entries)
    if (e.lab == lab) return &e;
  return nullptr;
}

const LabText* Content::lab(std::string_view id) const {
  for (const auto& l : labs)
    if (l.id == id) return &l;
  return nullptr;
}

const StudyPath* Content::path(std::string_view id) const {
  for (const auto& p : paths)
    if (p.id == id) return &p;
  return nullptr;
}

const MilestoneText* Content::milestone(std::string_view id) const {
  for (const auto& m : milestones)
    if (m.id == id) return &m;
  return nullptr;
}

std::string Content::ui_text(std::string_view key) const {
  auto it = ui.find(std::string(key));
  return it == ui.end() ? std::string(key) : it->second;
}

Content parse_content(const std::vector<std::pair<std::string, std::string>>& files) {
  Content c;
  for (const auto& [name, text] : files) {
    json j;
    try {
      j = json::parse(text);
    } catch (const json::parse_error& e) {
      fail("content/{}: not valid JSON: {}", name, e.what());
    }
    try {
      if (name == "module.json") parse_module(j, name, c);
      else if (name == "glossary.json") parse_glossary(j, name, c);
      else if (name == "quiz.json") parse_quiz(j, name, c);
      else if (name == "paths.json") parse_paths(j, name, c);
      else if (name.rfind("lab", 0) == 0) parse_lab(j, name, c);
      else fail("content/{}: unknown content file", name);
    } catch (const json::exception& e) {
      fail("content/{}: {}", name, e.what());
    }
  }
  std::sort(c.labs.begin(), c.labs.end(), [](const LabText& a, const LabText& b) { return a.number < b.number; });
  return c;
}

const Content& content() {
  static const Content c = [] {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& f : embedded_content_files()) files.emplace_back(std::string(f.name), std::string(f.text));
    return parse_content(files);
  }();
  return c;
}

namespace {
std::size_t display_width(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char ch : s)
    if ((ch & 0xC0) != 0x80) ++n;
  return n;
}
}  // namespace

std::vector<std::string> validate(const Content& c) {
  std::vector<std::string> problems;
  auto dup_check = [&](const std::string& what, const std::string& id, std::set<std::string>& seen) {
    if (id.empty()) problems.push_back(fmt::format("{} with an empty id", what));
    else if (!seen.insert(id).second) problems.push_back(fmt::format("duplicate {} id '{}'", what, id));
  };
  std::set<std::string> ids;
  for (const auto& l : c.labs) {
    dup_check("lab", l.id, ids);
    for (const auto& s : l.steps) dup_check("step", s.id, ids);
  }
  for (const auto& m : c.milestones) dup_check("milestone", m.id, ids);
  for (const auto& g : c.glossary) dup_check("glossary term", g.id, ids);
  for (const auto& q : c.quiz) {
    dup_check("quiz item", q.id, ids);
    if (q.choices.size() < 2) problems.push_back(fmt::format("quiz item '{}' has fewer than two choices", q.id));
    if (q.answer < 0 || q.answer >= static_cast<int>(q.choices.size()))
      problems.push_back(fmt::format("quiz item '{}' answer {} is out of range", q.id, q.answer));
  }
  for (const auto& p : c.paths) dup_check("study path", p.id, ids);

  // Code and words agree: every lab and step the code defines has text, and no text is orphaned.
  for (const auto& lab : all_labs()) {
    const LabText* lt = c.lab(lab.id);
    if (!lt) {
      problems.push_back(fmt::format("lab '{}' has no content file", lab.id));
      continue;
    }
    if (lt->number != lab.number) problems.push_back(fmt::format("lab '{}' content number {} != {}", lab.id, lt->number, lab.number));
    for (const auto& s : lab.steps) {
      const StepText* st = lt->step(s.id);
      if (!st) problems.push_back(fmt::format("step '{}' has no text in content/{}.json", s.id, lab.id));
      else if (s.asks_input && st->input_prompt.empty())
        problems.push_back(fmt::format("step '{}' asks for input but has no input_prompt", s.id));
      if (st) {
        for (const auto& p : s.params)
          if (!st->param(p.id)) problems.push_back(fmt::format("setting '{}' of step '{}' has no words", p.id, s.id));
        for (const auto& pt : st->params)
          if (!s.param(pt.id)) problems.push_back(fmt::format("content setting '{}' is not a setting of step '{}'", pt.id, s.id));
      }
    }
    for (const auto& st : lt->steps)
      if (!lab.find(st.id)) problems.push_back(fmt::format("content step '{}' is not a step of {}", st.id, lab.id));
    if (!c.milestone(lab.milestone_id))
      problems.push_back(fmt::format("milestone '{}' of {} has no text", lab.milestone_id, lab.id));
  }
  for (const auto& l : c.labs)
    if (!find_lab(l.id)) problems.push_back(fmt::format("content lab '{}' is not a lab of the program", l.id));
  for (const auto& p : c.paths)
    for (const auto& e : p.entries) {
      const Lab* lab = find_lab(e.lab);
      if (!lab) {
        problems.push_back(fmt::format("path '{}' names unknown lab '{}'", p.id, e.lab));
        continue;
      }
      for (const auto& s : e.steps)
        if (!lab->find(s)) problems.push_back(fmt::format("path '{}' names unknown step '{}'", p.id, s));
    }
  // Bodies are wrapped by the pager, but titles and table-like lines must fit the 80-column design size.
  for (const auto& l : c.labs)
    for (const auto& s : l.steps) {
      if (display_width(s.title) > 44) problems.push_back(fmt::format("step '{}' title is wider than 44 columns", s.id));
      if (s.body.find("{{") != std::string::npos) problems.push_back(fmt::format("step '{}' has a placeholder left in", s.id));
    }
  for (const auto& m : c.milestones)
    if (display_width(m.text) > 60) problems.push_back(fmt::format("milestone '{}' text is wider than 60 columns", m.id));
  return problems;
}

}  // namespace qlab::labs
