#pragma once
// The learner's progress: $XDG_DATA_HOME/qlab/progress.json (default ~/.local/share/qlab/), schema 1.
//   {"schema": 1, "app_version": "...",
//    "milestones": {"m1": {"done": true, "when": "2026-01-02T03:04:05Z", "how": "completed"}},
//    "last": {"lab": "lab01", "step": "lab01.properties"},
//    "results": {"lab01.sqnr": {"when": "...", "model": "built-in", ...numbers}},
//    "settings": {"path": "standard"}}
// Unknown keys are kept on rewrite (a newer qlab's data survives an older one).
//
// Changes are recorded as operations and applied, under an flock on "<file>.lock", to the file as
// it is on disk at that moment; so two sessions never lose each other's ticks. Saves are atomic
// (temporary file, fsync, rename, fsync the folder): after a crash the file is the old or the new one.
// A file that does not parse (or is not an object with an integer schema) is moved aside to
// "<file>.corrupt-<time>" and a fresh one starts. A file with some entries that cannot be read (a
// milestone whose "done" is "yes") keeps the rest: the original is copied aside byte for byte and
// the file rewritten without those entries. The learner is told through notices() either way.
// Reading takes no lock and needs no write access (a read-only folder, another user's lock file);
// the lock (flock on "<file>.lock", given up after a timeout) guards changes. The path may be a
// symbolic link: the file it points to is read, replaced and set aside, and the link stays. A path
// that is not a regular file (a FIFO, a device, a folder) is an Error and is never replaced.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qlab::labs {

struct MilestoneState {
  bool done = false;
  std::string when;  // ISO 8601 UTC
  std::string how;   // "completed" (the lab's job finished) or "ticked" (by hand)
};

class ProgressFile {
 public:
  explicit ProgressFile(std::filesystem::path path);

  // $XDG_DATA_HOME/qlab/progress.json; an empty or relative XDG_DATA_HOME counts as unset
  // (XDG Base Directory spec), then $HOME/.local/share. Error if neither is usable.
  static std::filesystem::path default_path();

  const std::filesystem::path& path() const { return path_; }

  // Reads the file (creating nothing). Call before using the views below.
  void load();

  // Recorded changes; visible in the views at once, written by save().
  void set_milestone(const std::string& id, bool done, const std::string& how);
  void set_last(const std::string& lab, const std::string& step);
  void set_result(const std::string& step_id, const nlohmann::json& record);
  void set_setting(const std::string& key, const nlohmann::json& value);  // "settings": {key: value}
  void reset();

  // Lock, re-read, apply the recorded changes, write atomically, unlock. Nothing is written when
  // nothing changed. Error (naming the file) when the file cannot be written.
  void save();

  // How long save() waits for another session's lock before it fails (default 10 s).
  void set_lock_timeout(std::chrono::milliseconds t) { lock_timeout_ = t; }

  bool has_unsaved_changes() const { return !ops_.empty(); }
  bool read_only() const { return read_only_; }
  const nlohmann::json& data() const { return data_; }
  std::optional<MilestoneState> milestone(const std::string& id) const;
  // The step's recorded result; nullptr when none (or when what is there is not an object).
  const nlohmann::json* result(const std::string& step_id) const;

  // Messages for the learner (file moved aside, file not writable, ...); taking them clears them.
  std::vector<std::string> take_notices();

  // Exposed for tests: the schema check applied to what is read from disk ("" when fine).
  static std::string check_schema(const nlohmann::json& j);

 private:
  struct Op {
    enum Kind { Milestone, Last, Result, Setting, Reset } kind;
    std::string a, b;
    bool done = false;
    nlohmann::json value;
  };
  // The file as it is now (a fresh object if absent or moved aside). An unreadable part is set aside
  // under the lock (taken here unless `locked`), or, when that cannot be done, left and the
  // session made read-only.
  nlohmann::json read_disk(bool locked);
  void remove_stale_temporaries() const;
  void check_kind() const;  // Error unless the path is missing or a regular file
  void apply(nlohmann::json& j, const Op& op) const;

  std::filesystem::path path_;
  nlohmann::json data_;   // disk state at the last load/save with ops_ applied
  std::vector<Op> ops_;
  std::vector<std::string> notices_;
  bool read_only_ = false;
  std::chrono::milliseconds lock_timeout_{10000};
};

// A text field of a recorded result ("when", "model"): "?" when absent or not a string (a file
// edited by hand may hold anything there).
std::string result_text(const nlohmann::json& record, const char* key);

// Current time as "YYYY-MM-DDTHH:MM:SSZ".
std::string utc_now_iso();

}  // namespace qlab::labs
