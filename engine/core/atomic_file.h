#pragma once
// Writing files so that nothing the user had is lost or half-written:
// write to a temporary file beside the target, fsync, rename over the target, fsync the folder.
#include <filesystem>
#include <functional>
#include <ostream>
#include <span>
#include <string_view>

namespace qlab {

// Calls write(out) on a stream to a temporary file, then replaces `path` atomically.
// On any failure (including an exception from write) the temporary is removed, `path` is
// untouched, and an Error naming the file is thrown.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write);

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Reads a whole file; Error naming the file if it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace qlab
