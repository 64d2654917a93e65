#pragma once
// Every way GPTQ makes a Linear's groups, for the tests that hold a solver to the host path (the loop
// solver in CI, the GPU's in tests/cuda): a group per block, several groups inside a block, groups
// spanning blocks with a short last block, per-row parameters, act-order with groups made in the loop
// or fixed (static), and the reference implementation's parameter rule.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/formats/format_lookup.h"
#include "engine/quant/gptq.h"

namespace qlab::testing {

struct GptqCase {
  const char* format;
  std::int64_t block = 128;
  bool act_order = false, static_groups = false;
  quant::IntGroupRule rule = quant::IntGroupRule::Format;

  quant::GptqOptions options() const {
    quant::GptqOptions o = quant::gptq_options_for(formats::block_format(format));
    o.block_size = block;
    o.act_order = act_order;
    o.static_groups = static_groups;
    o.rule = rule;
    return o;
  }
  std::string label() const {
    return std::string(format) + (act_order ? " act-order" : "") + (static_groups ? " static" : "") + " block " +
           std::to_string(block) + (rule == quant::IntGroupRule::GptqReference ? " reference rule" : "");
  }
};

inline std::vector<GptqCase> gptq_cases() {
  using quant::IntGroupRule;
  return {{"int4-g128"},
          {"int4-g32"},
          {"int4-g128", 48},
          {"int3-ch"},
          {"int4-g64-sym", 128, true},
          {"int4-g32", 128, true, true},
          {"int8-g128", 100, false, false, IntGroupRule::GptqReference},
          {"int2-g64", 256, true, false, IntGroupRule::GptqReference}};
}

}  // namespace qlab::testing
