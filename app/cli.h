#pragma once
// The command-line contract shared by every subcommand.
//   Command     a subcommand: its words ("formats encode"), summary, options, and run function
//   Args        what the user passed, with typed getters that raise UsageError on bad values
//   Registrar   a static object in a cmd_*.cpp file that adds its command to the table
// Every command gets --help, --json and --threads N for free. Exit codes: 0 ok, 1 error, 2 usage.
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace qlab::app {

// Bad command line: printed with a pointer to --help, exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Option {
  std::string name;        // "format" for --format
  std::string value_name;  // "F"; empty for a flag that takes no value
  std::string help;
};

class Args {
 public:
  bool json() const { return has("json"); }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  std::string require(const std::string& name) const;  // UsageError if missing
  long long get_int(const std::string& name, long long fallback, long long min_value,
                    long long max_value) const;
  double get_double(const std::string& name, double fallback) const;  // finite numbers only
  const std::vector<std::string>& positional() const { return positional_; }
  // Every value an option was given, in order (an option that may repeat: --tensor-type A --tensor-type B).
  std::vector<std::string> get_all(const std::string& name) const {
    auto it = all_.find(name);
    return it == all_.end() ? std::vector<std::string>{} : it->second;
  }

  // used by the parser
  void set(const std::string& name, std::string value) {
    all_[name].push_back(value);
    values_[name] = std::move(value);
  }
  void add_positional(std::string v) { positional_.push_back(std::move(v)); }

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_;
  std::vector<std::string> positional_;
};

struct Command {
  std::string name;      // one or more words: "memory", "formats encode"
  std::string summary;   // one line for `qlab --help`
  std::string usage;     // synopsis after "qlab NAME", e.g. "--format F [--no-saturate]"
  std::vector<Option> options;
  std::string details;   // optional paragraph shown by --help
  std::size_t min_positional = 0, max_positional = 0;
  std::function<int(const Args&)> run;  // returns the exit code; throws qlab::Error or UsageError
};

void register_command(Command c);
const std::vector<Command>& commands();
const std::vector<Option>& common_options();  // --help, --json, --threads: every command has them

struct Registrar {
  explicit Registrar(Command c) { register_command(std::move(c)); }
};

// The registered command named by the leading words (the longest match), and how many words its
// name took; nullptr when none matches.
const Command* find_command(const std::vector<std::string>& words, std::size_t& used);

// The options and arguments after the command's name. UsageError for an unknown option, a missing
// value, a flag given a value, or the wrong number of arguments (not checked when --help is given).
Args parse_args(const Command& c, const std::vector<std::string>& words);

// Runs the program: finds the command, parses, catches errors. Returns the exit code.
int run_main(int argc, char** argv);

// Prints a JSON value to stdout (pretty, trailing newline).
void print_json(const std::string& dumped);

}  // namespace qlab::app
