#pragma once
// What a lab step's job hands back: a list of blocks the tutor draws top to bottom, plus the numbers
// worth keeping in the progress file. Plain data; the tui draws it, tests read it.
//   Text, Table, LineChart, Histogram, BarChart, NumberLine   the block kinds
//   StepResult                                                 blocks + record (JSON) + outcome
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace qlab::labs {

struct Text {
  std::string body;
};

struct Table {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> right_align;  // per column; empty = numbers detected by the widget
  bool sortable = false;          // the tutor lets the learner sort it by any column
};

struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;
  bool log_x = false;
};

// Counts over equal-width bins on [lo, hi].
struct Histogram {
  std::string title, x_label;
  double lo = 0, hi = 0;
  std::vector<double> counts;
};

struct BarChart {
  std::string title, unit;
  std::vector<std::string> labels;
  std::vector<double> values;
};

// Representable values of a format, drawn as marks on [lo, hi] (one line per format).
struct NumberLine {
  std::string title;
  double lo = 0, hi = 0;
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;
};

using Block = std::variant<Text, Table, LineChart, Histogram, BarChart, NumberLine>;

enum class Outcome { Done, NotAvailable, Cancelled, Failed };

struct StepResult {
  Outcome outcome = Outcome::Done;
  std::vector<Block> blocks;
  nlohmann::json record = nlohmann::json::object();  // measured numbers to keep (progress file)
  std::string message;  // for NotAvailable / Failed / Cancelled: one line for the learner
};

}  // namespace qlab::labs
