#pragma once
// An advisory lock on a folder (flock on an open descriptor of it), held by a run that writes in it: the
// kernel drops it however the process ends (SIGKILL, a crash), so a folder nobody holds belongs to a run
// that is gone.
//   try_lock_folder   the descriptor holding the lock, or -1 when another process holds it or the path
//                     cannot be opened as a folder (a symbolic link is not followed); close() releases
#include <filesystem>

namespace qlab {

int try_lock_folder(const std::filesystem::path& dir);

}  // namespace qlab
