#pragma once
// A step's result blocks as JSON and back, so a finished step reopened after a restart shows what
// it drew (tables, charts, notes) rather than "press r to run". Every block is an object with a
// "kind" ("text", "table", "line_chart", "histogram", "bar_chart", "number_line") and its fields
// under the names result.h gives them. Numbers that JSON cannot hold (NaN, +-inf: a NaN loss, an
// exact format's infinite SQNR) are written as the strings "nan", "inf", "-inf".
#include <vector>

#include <nlohmann/json.hpp>

#include "labs/result.h"

namespace qlab::labs {

nlohmann::json blocks_to_json(const std::vector<Block>& blocks);
// Error naming the block and field when the JSON is not what blocks_to_json writes.
std::vector<Block> blocks_from_json(const nlohmann::json& j);

}  // namespace qlab::labs
