#pragma once
// The files a step keeps under the learner's data folder, one folder per model and step:
//   <root>/<model key>/<step id>/result.json      the last finished run: its blocks and record, so a
//                                                 finished step reopened shows its numbers
//   <root>/<model key>/<step id>/checkpoint.json  a long job's progress, so it continues after a
//                                                 cancel or a restart; removed when the job finishes
// The progress file keeps the small record of every step (what `qlab progress` shows and exports);
// the blocks (histograms, loss curves of hundreds of points) live here instead of bloating it.
// A result.json that is missing or unreadable only means "run the step again": nothing depends on it.
// Writes are atomic (temporary file, rename): a crash leaves the old file or the new one.
// StepFolder: the folder a job writes its files into (GGUF files, checkpoints), or a temporary one.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "labs/lab.h"

namespace qlab::labs {

// "builtin", or the model folder's (or repo id's) last name made safe for a file name, with 8 hex
// digits of its path's hash so two folders of one name do not share results.
std::string model_key(const ModelRef& model);

std::filesystem::path step_output_dir(const std::filesystem::path& root, const ModelRef& model,
                                      const std::string& step_id);

struct SavedResult {
  std::string when, model;  // ISO 8601 UTC; the model's display name
  StepResult result;        // outcome Done, blocks and record
};

// Writes <dir>/result.json (creating dir). Error naming the file when it cannot be written.
void save_result(const std::filesystem::path& dir, const std::string& step_id, const StepResult& r,
                 const ModelRef& model, const std::string& when);
// The saved result, or nullopt when there is none or it cannot be read (`why` says which, for the
// diagnostics; empty when there simply is none).
std::optional<SavedResult> load_result(const std::filesystem::path& dir, std::string* why = nullptr);

// A long job's saved progress. `key` says what the state belongs to (model, text, settings): a job
// resumes only from a checkpoint whose key equals its own; `summary` is one line for the screen
// ("chunk 12 of 44").
struct Checkpoint {
  nlohmann::json key, state;
  std::string summary, when;
};

void write_checkpoint(const std::filesystem::path& dir, const nlohmann::json& key, const nlohmann::json& state,
                      const std::string& summary);
std::optional<Checkpoint> read_checkpoint(const std::filesystem::path& dir);
void remove_checkpoint(const std::filesystem::path& dir);

// Where a step's files go: its own folder, or (tests, scripts) a temporary one removed afterwards.
class StepFolder {
 public:
  explicit StepFolder(const std::filesystem::path& out_dir);
  ~StepFolder();
  StepFolder(const StepFolder&) = delete;
  StepFolder& operator=(const StepFolder&) = delete;
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
  bool temporary_ = false;
};

}  // namespace qlab::labs
