#include "app/cli.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "engine/core/terminal_text.h"
#include "engine/core/threads.h"

namespace qlab::app {

const std::vector<Option>& common_options() {
  static const std::vector<Option> o = {
      {"help", "", "show this help and exit"},
      {"json", "", "print machine-readable JSON instead of text"},
      {"threads", "N", "worker threads (default: QLAB_THREADS or all cores)"},
  };
  return o;
}

namespace {

std::vector<Command>& table() {
  static std::vector<Command> t;
  return t;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}


void print_command_help(const Command& c) {
  fmt::print("usage: qlab {} {}\n\n{}\n", c.name, c.usage, c.summary);
  if (!c.details.empty()) fmt::print("\n{}\n", c.details);
  fmt::print("\noptions:\n");
  auto show = [](const Option& o) {
    std::string left = "--" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    fmt::print("  {:<24} {}\n", left, o.help);
  };
  for (const auto& o : c.options) show(o);
  for (const auto& o : common_options()) show(o);
}

void print_global_help() {
  fmt::print(
      "qlab {} — a terminal tutor for LLM quantization, on a real quantization engine\n\n"
      "usage: qlab [--model DIR] [--device D]   open the tutor\n"
      "       qlab COMMAND [options]             run one engine job (add --help for its options)\n\n"
      "commands:\n",
      QLAB_VERSION);
  std::vector<const Command*> sorted;
  for (const auto& c : table())
    if (!c.name.empty() && c.name != "tutor") sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(), [](auto a, auto b) { return a->name < b->name; });
  for (const auto* c : sorted) fmt::print("  {:<22} {}\n", c->name, c->summary);
  fmt::print(
      "\nevery command takes --help, --json and --threads N; exit status 0 ok, 1 error, 2 usage\n");
}

const Option* find_option(const Command& c, const std::string& name) {
  for (const auto& o : c.options)
    if (o.name == name) return &o;
  for (const auto& o : common_options())
    if (o.name == name) return &o;
  return nullptr;
}

Args parse_options(const Command& c, const std::vector<std::string>& words) {
  Args a;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() > 2 && w.rfind("--", 0) == 0) {
      std::string name = w.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      const Option* o = find_option(c, name);
      if (!o) throw UsageError(fmt::format("unknown option --{}", name));
      if (o->value_name.empty()) {
        if (inline_value) throw UsageError(fmt::format("--{} takes no value", name));
        a.set(name, "1");
      } else {
        if (!inline_value) {
          if (i + 1 >= words.size()) throw UsageError(fmt::format("--{} needs a value ({})", name, o->value_name));
          value = words[++i];
        }
        a.set(name, value);
      }
    } else if (w == "-n" || w == "-o" || w == "-p") {
      // short aliases used by the contract: -n N (generate, bench infer), -o FILE, -p N (bench infer)
      std::string name = (w == "-n") ? "n" : w == "-p" ? "p" : "out";
      if (!find_option(c, name)) throw UsageError(fmt::format("unknown option {}", w));
      if (i + 1 >= words.size()) throw UsageError(fmt::format("{} needs a value", w));
      a.set(name, words[++i]);
    } else if (w.size() > 1 && w[0] == '-' && !(w[1] >= '0' && w[1] <= '9') && w[1] != '.') {
      throw UsageError(fmt::format("unknown option {}", w));
    } else {
      a.add_positional(w);
    }
  }
  return a;
}

}  // namespace

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = all_values_.find(name);
  return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  auto v = get(name);
  return v ? *v : fallback;
}

std::string Args::require(const std::string& name) const {
  auto v = get(name);
  if (!v) throw UsageError(fmt::format("--{} is required", name));
  return *v;
}

long long Args::get_int(const std::string& name, long long fallback, long long lo, long long hi) const {
  auto v = get(name);
  if (!v) return fallback;
  long long x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size())
    throw UsageError(fmt::format("--{} expects a whole number, got '{}'", name, *v));
  if (x < lo || x > hi)
    throw UsageError(fmt::format("--{} must be between {} and {}, got {}", name, lo, hi, x));
  return x;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  double x = 0;
  try {
    std::size_t used = 0;
    x = std::stod(*v, &used);
    if (used != v->size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw UsageError(fmt::format("--{} expects a number, got '{}'", name, *v));
  }
  // No option means anything by nan or inf; letting them through turns a typo into nonsense output.
  if (!std::isfinite(x)) throw UsageError(fmt::format("--{} expects a finite number, got '{}'", name, *v));
  return x;
}

Args parse_args(const Command& c, const std::vector<std::string>& words) {
  Args a = parse_options(c, words);
  if (a.has("help")) return a;
  if (a.positional().size() < c.min_positional || a.positional().size() > c.max_positional) {
    if (c.max_positional == 0) throw UsageError(fmt::format("unexpected argument '{}'", a.positional().front()));
    throw UsageError(fmt::format("expected {} argument{}: {}",
                                 c.min_positional == c.max_positional
                                     ? std::to_string(c.min_positional)
                                     : fmt::format("{} to {}", c.min_positional, c.max_positional),
                                 c.max_positional == 1 ? "" : "s", c.usage));
  }
  return a;
}

const Command* find_command(const std::vector<std::string>& words, std::size_t& used) {
  const Command* cmd = nullptr;
  used = 0;
  // longest command name that matches the leading words
  for (const auto& c : table()) {
    auto cw = split_words(c.name);
    if (cw.empty() || cw.size() > words.size() || cw.size() <= used) continue;
    if (std::equal(cw.begin(), cw.end(), words.begin())) {
      cmd = &c;
      used = cw.size();
    }
  }
  return cmd;
}

void register_command(Command c) { table().push_back(std::move(c)); }
const std::vector<Command>& commands() { return table(); }

void print_json(const std::string& dumped) {
  std::fwrite(dumped.data(), 1, dumped.size(), stdout);
  std::fputc('\n', stdout);
}

int run_main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  const Command* cmd = nullptr;
  std::size_t used = 0;
  if (words.empty() || (words[0].rfind("--", 0) == 0 && words[0] != "--help" && words[0] != "--version")) {
    for (const auto& c : table())
      if (c.name == "tutor") cmd = &c;
    if (!cmd) {
      print_global_help();
      return words.empty() ? 0 : 2;
    }
  } else if (words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_global_help();
    return 0;
  } else if (words[0] == "--version") {
    fmt::print("qlab {}\n", QLAB_VERSION);
    return 0;
  } else {
    cmd = find_command(words, used);
    if (!cmd) {
      // a group word alone ("qlab formats") lists its subcommands
      bool group = false;
      for (const auto& c : table()) {
        auto cw = split_words(c.name);
        if (cw.size() > 1 && cw[0] == words[0]) {
          if (!group) fmt::print(stderr, "qlab {}: choose one of:\n", words[0]);
          group = true;
          fmt::print(stderr, "  qlab {:<20} {}\n", c.name, c.summary);
        }
      }
      if (!group) fmt::print(stderr, "qlab: unknown command '{}' (see qlab --help)\n", terminal_safe(words[0]));
      return 2;
    }
  }
  std::vector<std::string> rest(words.begin() + static_cast<long>(used), words.end());
  // Messages may quote what the user or a file gave: printed with control characters escaped, so
  // they stay one line and cannot drive the terminal.
  const auto say = [&](const char* what, const std::string& message) {
    fmt::print(stderr, "qlab {}: {}{}\n", cmd->name, what, terminal_safe(message));
  };
  try {
    Args a = parse_args(*cmd, rest);
    if (a.has("help")) {
      print_command_help(*cmd);
      return 0;
    }
    if (a.positional().size() < cmd->min_positional || a.positional().size() > cmd->max_positional) {
      if (cmd->max_positional == 0)
        throw UsageError(fmt::format("unexpected argument '{}'", a.positional().front()));
      throw UsageError(fmt::format("expected {} argument{}: {}",
                                   cmd->min_positional == cmd->max_positional
                                       ? std::to_string(cmd->min_positional)
                                       : fmt::format("{} to {}", cmd->min_positional, cmd->max_positional),
                                   cmd->max_positional == 1 ? "" : "s", cmd->usage));
    }
    const int threads = set_thread_count(static_cast<int>(a.get_int("threads", 0, 1, kMaxThreads)));
    if (const ThreadStartReport r = thread_start_report(); r.running < r.requested)
      fmt::print(stderr, "qlab {}: warning: {} of {} threads started ({}: the process limit, ulimit -u or a "
                 "container's pids limit); running on {}\n", cmd->name, r.running, r.requested, r.error, threads);
    const int code = cmd->run(a);
    check_mapped_inputs();  // a model file truncated under a job that has no cancel point after it
    return code;
  } catch (const UsageError& e) {
    fmt::print(stderr, "qlab {}: {} (see qlab {} --help)\n", cmd->name, terminal_safe(e.what()), cmd->name);
    return 2;
  } catch (const Error& e) {
    say("error: ", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    say("error: ", "out of memory");
    return 1;
  } catch (const std::exception& e) {
    say("error: ", e.what());
    return 1;
  }
}

}  // namespace qlab::app
