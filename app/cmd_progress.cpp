// `qlab progress show|reset|export`: the learner's milestones and recorded results, without a screen.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/core/error.h"
#include "engine/core/terminal_text.h"
#include "labs/content.h"
#include "labs/milestones.h"
#include "labs/progress_file.h"

namespace qlab::app {

namespace {

labs::ProgressFile open_progress(const Args& a) {
  labs::ProgressFile pf(a.has("progress") ? std::filesystem::path(a.require("progress"))
                                          : labs::ProgressFile::default_path());
  pf.load();
  for (const auto& n : pf.take_notices()) fmt::print(stderr, "qlab progress: {}\n", terminal_safe(n));
  return pf;
}

int show(const Args& a) {
  labs::ProgressFile pf = open_progress(a);
  const auto& c = labs::content();
  if (a.json()) {
    nlohmann::json j = pf.data();
    j["path_of_file"] = pf.path().string();
    print_json(j.dump(2, ' ', true));  // ASCII only: a C1 control in a hand-edited string stays escaped
    return 0;
  }
  fmt::print("progress file: {}\n", terminal_safe(pf.path().string()));
  fmt::print("milestones: {} of {} done\n\n", labs::milestones_done(pf), labs::all_labs().size());
  for (const auto& lab : labs::all_labs()) {
    const auto* mt = c.milestone(lab.milestone_id);
    auto st = pf.milestone(lab.milestone_id);
    bool done = st && st->done;
    fmt::print("  [{}] {}  (lab {}: {}/{} steps){}\n", done ? 'x' : ' ', mt ? mt->text : lab.milestone_id,
               lab.number, labs::steps_done(pf, lab), lab.steps.size(),
               done ? fmt::format("  {} {}", terminal_safe(st->how), terminal_safe(st->when)) : "");
  }
  return 0;
}

int reset(const Args& a) {
  labs::ProgressFile pf = open_progress(a);
  if (!a.has("yes")) {
    if (!::isatty(STDIN_FILENO))
      throw UsageError("resetting deletes every tick and result: add --yes to confirm when not at a terminal");
    fmt::print("Reset every milestone and result in {}? Type yes to confirm: ", terminal_safe(pf.path().string()));
    std::fflush(stdout);
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "yes") {
      fmt::print("nothing changed\n");
      return 1;
    }
  }
  pf.reset();
  pf.save();
  if (a.json()) print_json(nlohmann::json{{"reset", true}, {"file", pf.path().string()}}.dump(2, ' ', true));
  else fmt::print("progress reset: {}\n", terminal_safe(pf.path().string()));
  return 0;
}

int export_md(const Args& a) {
  labs::ProgressFile pf = open_progress(a);
  // Readable tables for notes; --json gives the same milestones and results as data, not wrapped in Markdown.
  if (a.json()) {
    print_json(labs::export_json(pf, labs::content()).dump(2, ' ', true));
    return 0;
  }
  const std::string md = labs::export_markdown(pf, labs::content());
  const std::string shown = terminal_safe(md, true);  // the file's strings, quoted in the summary
  std::fwrite(shown.data(), 1, shown.size(), stdout);
  return 0;
}

const Option kProgressOpt{"progress", "FILE", "progress file (default: $XDG_DATA_HOME/qlab/progress.json)"};

const Registrar reg_show{Command{"progress show", "milestones done and steps run", "[--progress FILE]",
                                 {kProgressOpt}, "", 0, 0, show}};
// `qlab progress` alone shows, as the design's "progress [show|reset|export]" reads.
const Registrar reg_default{Command{"progress", "your milestones and results (show, reset, export)", "[--progress FILE]",
                                    {kProgressOpt}, "Same as qlab progress show.", 0, 0, show}};
const Registrar reg_reset{Command{"progress reset", "clear every milestone and result (asks first)",
                                  "[--progress FILE] [--yes]",
                                  {kProgressOpt, {"yes", "", "do not ask for confirmation"}}, "", 0, 0, reset}};
const Registrar reg_export{Command{"progress export", "milestones and recorded results as Markdown tables (--json: as data)",
                                   "[--progress FILE]", {kProgressOpt}, "", 0, 0, export_md}};

}  // namespace

}  // namespace qlab::app
