#pragma once
// Writing files so that nothing the user had is lost or half-written, and so that an output path
// never destroys what it names. The one place qlab writes a file; the policy, by what the path is:
//
//   does not exist        created atomically: a temporary file beside it (O_CREAT|O_EXCL|O_NOFOLLOW),
//                         written, fsynced and closed (each result checked), renamed into place, and
//                         the folder fsynced
//   a regular file        replaced the same atomic way; the new file keeps the old one's permission
//                         bits (a 0600 file stays 0600) and, when qlab runs as root, its owner
//   a symbolic link       followed: the file it points to (through any chain of links) is replaced or
//                         created as above and the link itself stays, so a link into a dotfiles
//                         repository keeps receiving the updates
//   a character device    streamed to directly, with no temporary and no rename: /dev/null discards,
//   or a FIFO (pipe)      /dev/stdout and pipes receive the bytes. A FIFO with no reader is an Error
//                         at once, not a hang. Such a write is not atomic (there is nothing to replace)
//   a folder, a socket,   refused with an Error; so is an empty name
//   a block device
//
// After an error the path is as it was (the old file, or nothing) and the temporary is removed,
// with one exception that is reported: when only the final fsync of the folder fails, the new
// file is in place but may not survive a power loss.
#include <filesystem>
#include <functional>
#include <ostream>
#include <string_view>

#include "engine/core/input_file.h"  // read_file, kept beside its writing counterpart for callers

namespace qlab {

// Calls write(out) on a stream to the destination (see the policy above). On any failure,
// including an exception from write, an Error naming the file is thrown (write's own exception is
// rethrown as it is).
void write_file_atomic(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write);

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace qlab
