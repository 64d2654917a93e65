#pragma once
// Where labs meet the progress file: recording a finished step, completing a milestone when the
// lab's real jobs have all finished, and what `qlab progress export` prints: readable Markdown
// tables, or (--json) the milestones and the recorded results as data.
#include <string>

#include "labs/content.h"
#include "labs/lab.h"
#include "labs/progress_file.h"

namespace qlab::labs {

// Keeps a successful step's record (with the model it ran on). Returns true when this completed the
// lab's milestone (every milestone step has a result and the milestone was not done yet).
bool record_step(ProgressFile& pf, const Lab& lab, const std::string& step_id, const StepResult& r,
                 const ModelRef& model);

bool step_done(const ProgressFile& pf, const std::string& step_id);
int steps_done(const ProgressFile& pf, const Lab& lab);
bool milestone_done(const ProgressFile& pf, const std::string& milestone_id);
int milestones_done(const ProgressFile& pf);

// Markdown: a table of the milestones (done, how, when), then each recorded result as tables of its
// measured numbers, for the learner's notes. No raw JSON.
std::string export_markdown(const ProgressFile& pf, const Content& c);
// The same as data: {"module", "milestones": [{id, lab, text, done, how, when}], "results": {step: record}}.
nlohmann::json export_json(const ProgressFile& pf, const Content& c);

}  // namespace qlab::labs
