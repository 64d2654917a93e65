#pragma once
// What the model-running commands share: the MODEL argument, token-id files, a stderr progress bar.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/progress.h"

namespace qlab::app {

// Where the built-in model lives: assets/builtin (QLAB_ASSETS_DIR overrides the assets folder).
std::filesystem::path builtin_model_dir();

// An HF model folder, or "builtin": assets/builtin (QLAB_ASSETS_DIR overrides the assets folder).
// Error when the folder is missing, saying where it looked.
std::filesystem::path resolve_model_arg(const std::string& arg);

// Whitespace-separated non-negative integers; Error naming the file and the first bad word.
std::vector<std::int32_t> read_token_file(const std::filesystem::path& path);

// A one-line progress bar on stderr, drawn only when stderr is a terminal.
class StderrProgress : public Progress {
 public:
  void report(double fraction, std::string_view label) override;
  ~StderrProgress() override;

 private:
  bool drawn_ = false;
};

}  // namespace qlab::app
