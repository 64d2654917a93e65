#pragma once
// The learner's words, read from content/*.json (compiled in): module intro, labs and their steps,
// milestones, glossary, the prerequisite quiz, the study paths, and the corrections to the module.
// Code refers to all of it by stable ids; validate() is the content check the tests run.
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::labs {

// The words of one step setting (labs/params.h): what it is called, what it does, and what its
// default means where the value alone does not say ("" for a text file: "the model's eval.txt").
struct ParamText {
  std::string id, label, help;
  std::string default_label;  // shown for the default value; empty: the value itself
};

struct StepText {
  std::string id, title, body, hint;
  std::string input_prompt;  // steps that ask for input: what to ask
  std::vector<ParamText> params;
  const ParamText* param(std::string_view id) const;
};

struct LabText {
  std::string id;  // "lab01"
  int number = 0;
  std::string title, time, focus, deliverable;
  std::string objective;
  std::vector<StepText> steps;
  const StepText* step(std::string_view id) const;
};

struct MilestoneText {
  std::string id, lab, text;
};

struct GlossaryEntry {
  std::string id, term, plain, detail;
};

struct QuizItem {
  std::string id, question;
  std::vector<std::string> choices;
  int answer = 0;  // index into choices
  std::string explanation;
};

struct PathEntry {
  std::string lab;                 // lab id
  std::vector<std::string> steps;  // empty = every step
  std::string note;
  bool optional = false;
};

struct StudyPath {
  std::string id, name, hours, summary;
  std::vector<PathEntry> entries;
  const PathEntry* entry(std::string_view lab) const;
};

// A claim of the module that is wrong or dated: what it says, what is true, and the evidence (a
// step of qlab that measures it, or the primary source it is cited from).
struct Correction {
  std::string id, claim, fact, evidence;
};

struct Content {
  std::string module_title, module_intro;
  std::vector<LabText> labs;
  std::vector<MilestoneText> milestones;
  std::vector<GlossaryEntry> glossary;
  std::vector<QuizItem> quiz;
  std::vector<StudyPath> paths;
  std::vector<Correction> corrections;
  std::map<std::string, std::string> ui;  // short interface strings ("not_available", ...)

  const LabText* lab(std::string_view id) const;
  const StudyPath* path(std::string_view id) const;
  const MilestoneText* milestone(std::string_view id) const;
  std::string ui_text(std::string_view key) const;  // the key itself if missing
};

// Parses the named files ({"lab01.json", text}, ...); Error naming file and key on bad content.
Content parse_content(const std::vector<std::pair<std::string, std::string>>& files);
// The compiled-in content, parsed once.
const Content& content();

// Problems a content check finds (empty = fine): missing or duplicate ids, steps without text or
// text without a step, paths naming unknown labs/steps, quiz answers out of range, lines too wide.
std::vector<std::string> validate(const Content& c);

}  // namespace qlab::labs
