#pragma once
// Typed settings a step declares and the learner changes on screen: a format, a group size, a number
// of chunks, a text file... The step declares each with its kind, default and limits; the words
// (label, help, what the default means) live in content/ under the step's "params".
// Values travel as strings (what the learner typed, what the progress file keeps) and are checked by
// validate_param() before a job sees them; resolve_params() fills in the defaults.
//   Param          one declared setting
//   ParamValues    id -> value as text
//   nudge_param    the next or previous value for the ← → keys (choices cycle, integers double/halve)
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qlab::labs {

enum class ParamKind { Choice, Integer, File };

struct Param {
  std::string id;                     // "format"; content and the progress file use it
  ParamKind kind = ParamKind::Choice;
  std::string default_value;          // Integer: decimal; File: "" (the step's own text, see content)
  std::vector<std::string> choices;   // Choice: the accepted values, in display order
  std::int64_t min = 0, max = 0;      // Integer: inclusive bounds
};

using ParamValues = std::map<std::string, std::string>;

// "" when `value` is acceptable for `p`, else one line for the learner saying why and what is allowed.
std::string validate_param(const Param& p, const std::string& value);

// Every declared parameter with its chosen value, or the default when none was chosen. Chosen values
// for ids the step does not declare are dropped (a setting from an older qlab). Error naming the
// parameter when a chosen value does not validate.
ParamValues resolve_params(const std::vector<Param>& declared, const ParamValues& chosen);

// The value after `value` (dir > 0) or before it (dir < 0): choices cycle, integers double or halve
// inside [min, max] (0, when allowed, sits below min of the doubling range), files do not move.
std::string nudge_param(const Param& p, const std::string& value, int dir);

// A leading "~/" replaced by $HOME/ (what a learner types for a file in the home folder).
std::string expand_home(const std::string& path);

}  // namespace qlab::labs
