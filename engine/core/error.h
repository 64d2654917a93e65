#pragma once
// qlab::Error — the one exception the engine throws.
// Its message is written for the user: what failed, on which file/tensor/key, and what to do.
// The CLI prints it on one line and exits 1; the tutor shows it in a dialog and carries on.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace qlab {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// fail("cannot open {}: {}", path, why) — throw an Error built with fmt.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace qlab
