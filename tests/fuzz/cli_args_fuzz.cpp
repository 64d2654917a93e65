// libFuzzer target for the command-line parser, over the real table of every registered command
// (the cmd_*.cpp files are linked in; nothing is run). The input is an argument vector: words
// separated by NUL bytes, at most 64 of them. Properties checked beyond "no crash":
//   - finding the command and parsing its options fail only with UsageError;
//   - a parsed command line round-trips: its options written back as --name=value (or --name for a
//     flag) and its arguments, parsed again, give the same options and arguments;
//   - every typed getter, over every option given a value, returns or throws UsageError;
//   - a usage error as the CLI prints it (terminal_safe) is one line with no control character.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/cli.h"
#include "engine/core/terminal_text.h"

namespace {

using qlab::app::Args;
using qlab::app::Command;
using qlab::app::Option;
using qlab::app::UsageError;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_printed(const std::string& message) {
  const std::string shown = qlab::terminal_safe(message);
  for (unsigned char c : shown) check(c >= 0x20 && c != 0x7f);
}

std::vector<const Option*> all_options(const Command& c) {
  std::vector<const Option*> out;
  for (const auto& o : c.options) out.push_back(&o);
  for (const auto& o : qlab::app::common_options()) out.push_back(&o);
  return out;
}

bool same(const Args& a, const Args& b, const Command& c) {
  for (const Option* o : all_options(c))
    if (a.get(o->name) != b.get(o->name)) return false;
  return a.positional() == b.positional();
}

void exercise_getters(const Args& a, const Command& c) {
  for (const Option* o : all_options(c)) {
    if (o->value_name.empty() || !a.has(o->name)) continue;
    try {
      (void)a.get_int(o->name, 0, LLONG_MIN, LLONG_MAX);
    } catch (const UsageError& e) {
      check_printed(e.what());
    }
    try {
      (void)a.get_int(o->name, 0, 1, 1024);
    } catch (const UsageError& e) {
      check_printed(e.what());
    }
    try {
      (void)a.get_double(o->name, 0.0);
    } catch (const UsageError& e) {
      check_printed(e.what());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      if (words.size() == 64) break;
      words.emplace_back();
    } else {
      words.back() += static_cast<char>(data[i]);
    }
  }
  std::size_t used = 0;
  const Command* c = qlab::app::find_command(words, used);
  if (!c) return 0;
  check(used >= 1 && used <= words.size());
  const std::vector<std::string> rest(words.begin() + static_cast<long>(used), words.end());
  Args a;
  try {
    a = qlab::app::parse_args(*c, rest);
  } catch (const UsageError& e) {
    check_printed(e.what());
    return 0;
  }
  // Written back in the canonical form and parsed again: the same command line.
  std::vector<std::string> again;
  for (const Option* o : all_options(*c)) {
    if (!a.has(o->name)) continue;
    again.push_back(o->value_name.empty() ? "--" + o->name : "--" + o->name + "=" + *a.get(o->name));
  }
  for (const auto& p : a.positional()) again.push_back(p);
  Args b;
  try {
    b = qlab::app::parse_args(*c, again);
  } catch (const UsageError&) {
    std::abort();
  }
  check(same(a, b, *c));
  exercise_getters(a, *c);
  return 0;
}
