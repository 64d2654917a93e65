#include "engine/serve/serve_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/serve/sse.h"

namespace qlab::serve {

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct Endpoint {
  std::string origin;  // scheme://host:port
  std::string prefix;  // "/v1"
};

Endpoint parse_url(const std::string& url) {
  static const std::regex re(R"(^(https?://[^/\s]+)(/[^\s]*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, re))
    fail("'{}' is not an http(s) URL such as http://127.0.0.1:8080/v1", url);
  Endpoint e{m[1].str(), m[2].matched ? m[2].str() : "/v1"};
  while (!e.prefix.empty() && e.prefix.back() == '/') e.prefix.pop_back();
  return e;
}

std::unique_ptr<httplib::Client> client_for(const Endpoint& e, const ServeBenchOptions& opt) {
  auto c = std::make_unique<httplib::Client>(e.origin);
  const auto secs = [](double s) { return std::chrono::microseconds(static_cast<std::int64_t>(s * 1e6)); };
  c->set_connection_timeout(secs(opt.connect_timeout_s));
  c->set_read_timeout(secs(opt.read_timeout_s));
  c->set_write_timeout(secs(opt.read_timeout_s));
  c->set_keep_alive(false);
  return c;
}

std::string http_error_text(const httplib::Result& r) {
  switch (r.error()) {
    case httplib::Error::Connection: return "connection refused or unreachable";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "no answer in time, or the connection closed";
    case httplib::Error::Write: return "the request could not be sent";
    default: return httplib::to_string(r.error());
  }
}

// The server's own words from an OpenAI-style error body, else the body's start.
std::string server_message(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return body.substr(0, 200);
}

const char* kDefaultPrompt = "Explain in two sentences why decoding speed is limited by memory bandwidth.";

}  // namespace

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p / 100 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

RequestTiming timed_request(const ServeBenchOptions& opt, const std::string& prompt) {
  const Endpoint ep = parse_url(opt.url);
  auto cli = client_for(ep, opt);
  nlohmann::json body = {{"model", opt.model},
                         {"max_tokens", opt.max_tokens},
                         {"temperature", 0},
                         {"stream", true},
                         {"stream_options", {{"include_usage", true}}}};
  if (opt.chat) body["messages"] = {{{"role", "user"}, {"content", prompt}}};
  else body["prompt"] = prompt;
  httplib::Request req;
  req.method = "POST";
  req.path = ep.prefix + (opt.chat ? "/chat/completions" : "/completions");
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  req.body = body.dump();

  RequestTiming t;
  SseParser parser;
  std::vector<std::string> events;
  int status = 0, chunks = 0, usage_tokens = -1;
  bool done = false, finished = false;
  std::string error_body;
  const auto t0 = clock_type::now();
  double last = 0;
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t len, std::uint64_t, std::uint64_t) {
    if (status != 200) {
      error_body.append(data, len);
      return error_body.size() < 65536;
    }
    parser.feed(std::string_view(data, len), events);
    for (const auto& ev : events) {
      if (ev == "[DONE]") {
        done = true;
        continue;
      }
      const auto j = nlohmann::json::parse(ev, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        t.error = fmt::format("malformed event from the server (not JSON): '{}'", ev.substr(0, 80));
        return false;
      }
      if (j.contains("error")) {
        t.error = "the server sent an error event: " + server_message(ev);
        return false;
      }
      if (j.contains("usage") && j["usage"].is_object() && j["usage"].contains("completion_tokens"))
        usage_tokens = j["usage"]["completion_tokens"].get<int>();
      if (!j.contains("choices") || !j["choices"].is_array()) {
        t.error = fmt::format("malformed event from the server (no choices): '{}'", ev.substr(0, 80));
        return false;
      }
      for (const auto& c : j["choices"]) {
        std::string text;
        if (c.contains("text") && c["text"].is_string()) text = c["text"].get<std::string>();
        if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content") &&
            c["delta"]["content"].is_string())
          text = c["delta"]["content"].get<std::string>();
        if (c.contains("finish_reason") && !c["finish_reason"].is_null()) finished = true;
        if (text.empty()) continue;
        const double now = seconds_since(t0);
        if (chunks == 0) t.ttft_s = now;
        else t.itl_s.push_back(now - last);
        last = now;
        ++chunks;
      }
    }
    events.clear();
    return true;
  };
  const httplib::Result res = cli->send(req);
  t.latency_s = seconds_since(t0);
  if (!t.error.empty()) return t;
  if (!res) {
    t.error = fmt::format("no answer from {}: {}", opt.url, http_error_text(res));
    return t;
  }
  if (status != 200) {
    t.error = fmt::format("HTTP {}: {}", status, server_message(error_body.empty() ? res->body : error_body));
    return t;
  }
  if (!done && !finished) {
    t.error = "the stream ended before the server said it was done (no finish_reason, no [DONE])";
    return t;
  }
  t.output_tokens = usage_tokens >= 0 ? usage_tokens : chunks;
  if (chunks == 0) t.error = "the server streamed no text";
  return t;
}

ServeBenchResult bench_serve(const ServeBenchOptions& opt, Progress& progress, std::stop_token stop) {
  const Endpoint ep = parse_url(opt.url);
  ServeBenchResult r;
  r.url = opt.url;
  r.model = opt.model;
  {  // Preflight: is anything there, and does it serve the model? (a short wait: listing models is quick)
    auto cli = client_for(ep, opt);
    cli->set_read_timeout(std::chrono::seconds(10));
    const auto res = cli->Get(ep.prefix + "/models");
    if (!res)
      fail("no server answers at {} ({}): start it first (for example qlab serve MODEL --port 8080) or "
           "check the address",
           opt.url, http_error_text(res));
    if (res->status == 200) {
      const auto j = nlohmann::json::parse(res->body, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("data") && j["data"].is_array())
        for (const auto& m : j["data"])
          if (m.is_object() && m.contains("id") && m["id"].is_string()) r.served_models.push_back(m["id"].get<std::string>());
      if (!r.served_models.empty() &&
          std::find(r.served_models.begin(), r.served_models.end(), opt.model) == r.served_models.end())
        fail("the server at {} does not serve model '{}'; it serves: {}", opt.url, opt.model,
             fmt::join(r.served_models, ", "));
    }
  }
  const std::vector<std::string> prompts = opt.prompts.empty() ? std::vector<std::string>{kDefaultPrompt} : opt.prompts;
  for (std::size_t li = 0; li < opt.concurrency.size(); ++li) {
    check_cancel(stop);
    const int c = opt.concurrency[li];
    const int n = opt.requests_per_level > 0 ? opt.requests_per_level : std::max(4, 2 * c);
    progress.report(static_cast<double>(li) / static_cast<double>(opt.concurrency.size()),
                    fmt::format("concurrency {}: {} requests", c, n));
    std::vector<RequestTiming> timings(static_cast<std::size_t>(n));
    std::atomic<int> next{0};
    const auto t0 = clock_type::now();
    std::vector<std::jthread> workers;
    for (int w = 0; w < c; ++w)
      workers.emplace_back([&] {
        for (int i; (i = next++) < n;) {
          if (stop.stop_requested()) return;
          timings[static_cast<std::size_t>(i)] = timed_request(opt, prompts[static_cast<std::size_t>(i) % prompts.size()]);
        }
      });
    workers.clear();  // joins
    check_cancel(stop);
    LevelResult L;
    L.concurrency = c;
    L.requests = n;
    L.wall_s = seconds_since(t0);
    std::vector<double> ttft, itl;
    double tokens = 0;
    for (const auto& t : timings) {
      if (!t.error.empty()) {
        ++L.failed;
        if (L.first_error.empty()) L.first_error = t.error;
        continue;
      }
      ttft.push_back(t.ttft_s * 1e3);
      for (double d : t.itl_s) itl.push_back(d * 1e3);
      tokens += t.output_tokens;
    }
    if (L.failed == n) fail("every request at concurrency {} failed; the first: {}", c, L.first_error);
    L.ttft_p50_ms = percentile(ttft, 50);
    L.ttft_p99_ms = percentile(ttft, 99);
    L.itl_p50_ms = percentile(itl, 50);
    L.itl_p99_ms = percentile(itl, 99);
    L.output_tokens_per_s = tokens / L.wall_s;
    L.requests_per_s = static_cast<double>(n - L.failed) / L.wall_s;
    L.mean_output_tokens = tokens / static_cast<double>(n - L.failed);
    r.levels.push_back(L);
  }
  progress.report(1.0, "done");
  return r;
}

}  // namespace qlab::serve
