#pragma once
// What the model-running commands share: the MODEL argument, token-id files, a stderr progress bar
// (app/eta_progress.h).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "app/eta_progress.h"

namespace qlab::app {

// Where the built-in model lives: assets/builtin (QLAB_ASSETS_DIR overrides the assets folder).
std::filesystem::path builtin_model_dir();

// An HF model folder, "builtin" (assets/builtin; QLAB_ASSETS_DIR overrides the assets folder), or a
// Hugging Face repo id ("meta-llama/Llama-3.1-8B") found in the Hugging Face cache. Error when none
// is there, saying where it looked.
std::filesystem::path resolve_model_arg(const std::string& arg);

// The Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub (huggingface_hub's own order; empty values count as unset).
std::filesystem::path hf_hub_cache();

// Whether arg has the shape of a repo id: "org/name" (one slash, no leading '.', '/' or '~').
bool looks_like_repo_id(const std::string& arg);

// The snapshot folder of a repo id in the cache: models--org--name/refs/<revision> names a commit,
// whose files are under snapshots/<commit>/. "org/name@rev" picks a branch, tag or commit (default
// main). Error naming the cache folder and what is missing, and how to download the model.
std::filesystem::path find_hf_snapshot(const std::string& repo_id, const std::filesystem::path& cache);

// Whitespace-separated non-negative integers; Error naming the file and the first bad word.
std::vector<std::int32_t> read_token_file(const std::filesystem::path& path);

}  // namespace qlab::app
