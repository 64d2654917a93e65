#pragma once
// The results of `bench infer` (engine/bench/infer_bench.h) as lab blocks, shared by lab 8 and the
// CLI (which prints the same blocks as text):
//   infer_table      one row per variant: bytes per token, prompt and decode tok/s (mean +- sd),
//                    achieved GB/s, efficiency, the bound here and the Spark's projected bound
//   roofline_chart   decode tok/s against bytes per token, log-log, with the measured bandwidth's
//                    line and the Spark's (projected); `extra` adds points of other series (lab 8
//                    adds the module's claimed Spark figures)
#include <vector>

#include "engine/bench/infer_bench.h"
#include "labs/result.h"

namespace qlab::labs {

Table infer_table(const bench::InferBenchResult& r);
Text ceilings_text(const bench::InferBenchResult& r);
LineChart roofline_chart(const bench::InferBenchResult& r, const std::vector<Series>& extra = {});

// "2.20 GB", "636 MB": bytes for a table cell.
std::string bytes_text(double bytes);

}  // namespace qlab::labs
