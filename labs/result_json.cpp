#include "labs/result_json.h"

#include <cmath>
#include <limits>

#include "engine/core/error.h"

namespace qlab::labs {

using nlohmann::json;

namespace {

json num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

json nums(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(num(x));
  return a;
}

// Reads a block's fields with the block's index in every error.
class Reader {
 public:
  Reader(const json& j, std::size_t index) : j_(j), index_(index) {}

  const json& field(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail("saved result: block {} has no '{}'", index_, key);
    return *it;
  }
  std::string str(const char* key) const {
    const json& v = field(key);
    if (!v.is_string()) fail("saved result: block {} field '{}' is not text", index_, key);
    return v.get<std::string>();
  }
  double number(const json& v, const char* key) const {
    if (v.is_number()) return v.get<double>();
    if (v == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (v == "inf") return std::numeric_limits<double>::infinity();
    if (v == "-inf") return -std::numeric_limits<double>::infinity();
    fail("saved result: block {} field '{}' holds a value that is not a number", index_, key);
  }
  double number(const char* key) const { return number(field(key), key); }
  std::vector<double> numbers(const json& v, const char* key) const {
    if (!v.is_array()) fail("saved result: block {} field '{}' is not a list", index_, key);
    std::vector<double> out;
    for (const auto& x : v) out.push_back(number(x, key));
    return out;
  }
  std::vector<double> numbers(const char* key) const { return numbers(field(key), key); }
  std::vector<std::string> strings(const json& v, const char* key) const {
    if (!v.is_array()) fail("saved result: block {} field '{}' is not a list", index_, key);
    std::vector<std::string> out;
    for (const auto& x : v) {
      if (!x.is_string()) fail("saved result: block {} field '{}' holds a value that is not text", index_, key);
      out.push_back(x.get<std::string>());
    }
    return out;
  }
  std::vector<std::string> strings(const char* key) const { return strings(field(key), key); }
  bool flag(const char* key) const {
    const json& v = field(key);
    if (!v.is_boolean()) fail("saved result: block {} field '{}' is not true or false", index_, key);
    return v.get<bool>();
  }
  const json& list(const char* key) const {
    const json& v = field(key);
    if (!v.is_array()) fail("saved result: block {} field '{}' is not a list", index_, key);
    return v;
  }

 private:
  const json& j_;
  std::size_t index_;
};

struct ToJson {
  json operator()(const Text& t) const { return {{"kind", "text"}, {"body", t.body}}; }
  json operator()(const Table& t) const {
    return {{"kind", "table"}, {"title", t.title}, {"header", t.header}, {"rows", t.rows}, {"right_align", t.right_align}};
  }
  json operator()(const LineChart& c) const {
    json series = json::array();
    for (const auto& s : c.series) series.push_back({{"name", s.name}, {"x", nums(s.x)}, {"y", nums(s.y)}});
    return {{"kind", "line_chart"}, {"title", c.title}, {"x_label", c.x_label}, {"y_label", c.y_label},
            {"series", series}, {"log_y", c.log_y}};
  }
  json operator()(const Histogram& h) const {
    return {{"kind", "histogram"}, {"title", h.title}, {"x_label", h.x_label}, {"lo", num(h.lo)}, {"hi", num(h.hi)},
            {"counts", nums(h.counts)}};
  }
  json operator()(const BarChart& c) const {
    return {{"kind", "bar_chart"}, {"title", c.title}, {"unit", c.unit}, {"labels", c.labels}, {"values", nums(c.values)}};
  }
  json operator()(const NumberLine& n) const {
    json values = json::array();
    for (const auto& v : n.values) values.push_back(nums(v));
    return {{"kind", "number_line"}, {"title", n.title}, {"lo", num(n.lo)}, {"hi", num(n.hi)}, {"names", n.names},
            {"values", values}};
  }
};

Block block_from_json(const json& j, std::size_t index) {
  if (!j.is_object()) fail("saved result: block {} is not an object", index);
  const Reader r(j, index);
  const std::string kind = r.str("kind");
  if (kind == "text") return Text{r.str("body")};
  if (kind == "table") {
    Table t;
    t.title = r.str("title");
    t.header = r.strings("header");
    for (const auto& row : r.list("rows")) t.rows.push_back(r.strings(row, "rows"));
    for (const auto& b : r.list("right_align")) {
      if (!b.is_boolean()) fail("saved result: block {} field 'right_align' holds a value that is not true or false", index);
      t.right_align.push_back(b.get<bool>());
    }
    return t;
  }
  if (kind == "line_chart") {
    LineChart c;
    c.title = r.str("title");
    c.x_label = r.str("x_label");
    c.y_label = r.str("y_label");
    c.log_y = r.flag("log_y");
    for (const auto& s : r.list("series")) {
      const Reader rs(s, index);
      c.series.push_back(Series{rs.str("name"), rs.numbers("x"), rs.numbers("y")});
    }
    return c;
  }
  if (kind == "histogram") {
    Histogram h;
    h.title = r.str("title");
    h.x_label = r.str("x_label");
    h.lo = r.number("lo");
    h.hi = r.number("hi");
    h.counts = r.numbers("counts");
    return h;
  }
  if (kind == "bar_chart") {
    BarChart c;
    c.title = r.str("title");
    c.unit = r.str("unit");
    c.labels = r.strings("labels");
    c.values = r.numbers("values");
    return c;
  }
  if (kind == "number_line") {
    NumberLine n;
    n.title = r.str("title");
    n.lo = r.number("lo");
    n.hi = r.number("hi");
    n.names = r.strings("names");
    for (const auto& v : r.list("values")) n.values.push_back(r.numbers(v, "values"));
    return n;
  }
  fail("saved result: block {} is of an unknown kind '{}'", index, kind);
}

}  // namespace

json blocks_to_json(const std::vector<Block>& blocks) {
  json a = json::array();
  for (const auto& b : blocks) a.push_back(std::visit(ToJson{}, b));
  return a;
}

std::vector<Block> blocks_from_json(const json& j) {
  if (!j.is_array()) fail("saved result: 'blocks' is not a list");
  std::vector<Block> out;
  for (std::size_t i = 0; i < j.size(); ++i) out.push_back(block_from_json(j[i], i));
  return out;
}

}  // namespace qlab::labs
