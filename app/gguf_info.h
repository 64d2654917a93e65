#pragma once
// `qlab info FILE.gguf`: what a GGUF file holds (used by cmd_info for GGUF files).
#include <filesystem>

namespace qlab::app {

// Whether `qlab info` should read this argument as a GGUF file (magic "GGUF", or a .gguf name).
bool is_gguf_info_arg(const std::filesystem::path& p);
int print_gguf_info(const std::filesystem::path& path, bool json);

}  // namespace qlab::app
