#pragma once
// `qlab bench serve`: an OpenAI-compatible server under load, as `vllm bench serve` and
// `trtllm-bench` report it. For each concurrency level, that many clients send streaming requests
// back to back (prompts taken in turn) and every token's arrival is timed:
//   TTFT     time to first token: request sent -> first non-empty text chunk
//   ITL      inter-token latency: between consecutive text chunks
//   output   tokens / s over the level's wall time (the server's usage count when it sends one,
//            else one token per text chunk)
// p50 / p99 by linear interpolation between order statistics (numpy's default).
// Errors: a server that does not answer (connection refused or timed out) or does not serve the
// model is reported before any load is sent; a malformed event, an HTTP error or a stream cut short
// fails that request with a message, and a level whose requests all fail ends the run with the
// first message. Every wait is bounded (connect_timeout_s, read_timeout_s).
#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/bench/stats.h"
#include "engine/core/progress.h"

namespace qlab::serve {

struct ServeBenchOptions {
  std::string url;                       // http://HOST:PORT/v1
  std::string model;
  std::vector<int> concurrency{1, 4, 16};
  std::vector<std::string> prompts;      // sent in turn; empty: a built-in short prompt
  int requests_per_level = 0;            // 0: 2 x concurrency, at least 4
  int max_tokens = 64;
  bool chat = true;                      // /chat/completions (else /completions)
  double connect_timeout_s = 5;
  double read_timeout_s = 120;
};

struct RequestTiming {
  double ttft_s = 0, latency_s = 0;
  std::vector<double> itl_s;
  int output_tokens = 0;
  std::string error;  // empty: succeeded
};

struct LevelResult {
  int concurrency = 0, requests = 0, failed = 0;
  double wall_s = 0;
  double ttft_p50_ms = 0, ttft_p99_ms = 0, itl_p50_ms = 0, itl_p99_ms = 0;
  double output_tokens_per_s = 0, requests_per_s = 0, mean_output_tokens = 0;
  std::string first_error;
};

struct ServeBenchResult {
  std::string url, model;
  std::vector<std::string> served_models;  // what /models listed
  std::vector<LevelResult> levels;
};

ServeBenchResult bench_serve(const ServeBenchOptions& opt, Progress& progress, std::stop_token stop);

// One streaming request (the unit bench_serve times), exposed for the tests.
RequestTiming timed_request(const ServeBenchOptions& opt, const std::string& prompt);

// The p-th percentile (0..100) of values, linear between order statistics; 0 for none.
double percentile(std::vector<double> values, double p);

}  // namespace qlab::serve
