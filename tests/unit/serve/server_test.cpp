// qlab serve on loopback, driven by an HTTP client and by bench serve's own client: the endpoints,
// streaming, and bad input (unknown model, too long, malformed, a port in use, a client that leaves
// mid-stream, a server that streams garbage, one that never answers, an address with no server).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/io/tokenizer.h"
#include "engine/model/generate.h"
#include "engine/serve/server.h"
#include "engine/serve/serve_bench.h"
#include "engine/serve/sse.h"

namespace qlab::serve {
namespace {

const std::filesystem::path kBuiltin = std::filesystem::path(QLAB_SOURCE_DIR) / "assets" / "builtin";

struct Running {
  model::Model model = model::Model::load(kBuiltin);
  io::Tokenizer tok = io::Tokenizer::load(kBuiltin);
  std::unique_ptr<Server> server;
  std::thread thread;
  int port = 0;
  explicit Running(std::optional<ChatTemplate> chat = std::nullopt) {
    ServeOptions opt;
    opt.port = 0;
    opt.model_name = "builtin";
    server = std::make_unique<Server>(model, tok, chat, opt);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~Running() {
    server->stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    return c;
  }
};

ChatTemplate chatml() {
  ChatTemplate t;
  t.family = ChatFamily::ChatML;
  return t;
}

nlohmann::json post(const Running& s, const std::string& path, const nlohmann::json& body, int* status = nullptr) {
  auto c = s.client();
  const auto r = c.Post(path, body.dump(), "application/json");
  if (!r) throw std::runtime_error("no response");
  if (status) *status = r->status;
  return nlohmann::json::parse(r->body);
}

TEST(Serve, CompletionEqualsTheRuntimesGreedyContinuation) {
  Running s;
  auto c = s.client();
  const auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(nlohmann::json::parse(models->body)["data"][0]["id"], "builtin");
  const std::string prompt = "The sum of 12 and 30 is";
  int status = 0;
  const auto j = post(s, "/v1/completions", {{"model", "builtin"}, {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}}, &status);
  ASSERT_EQ(status, 200) << j.dump();
  model::GenerateOptions g;
  g.max_new_tokens = 12;
  const auto ids = model::generate(s.model, s.tok.encode(prompt, true), g);
  std::vector<std::int32_t> text_ids;
  for (auto id : ids)
    if (id != s.model.config().eos_token_id) text_ids.push_back(id);
    else break;
  EXPECT_EQ(j["choices"][0]["text"], s.tok.decode(text_ids, true));
  EXPECT_EQ(j["usage"]["completion_tokens"], static_cast<int>(text_ids.size()));
  EXPECT_EQ(j["usage"]["prompt_tokens"], static_cast<int>(s.tok.encode(prompt, true).size()));
}

TEST(Serve, StreamCarriesTheSameTextThenUsageThenDone) {
  Running s(chatml());
  const nlohmann::json body = {{"model", "builtin"}, {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
                               {"max_tokens", 10}, {"temperature", 0}, {"ignore_eos", true}};
  const auto whole = post(s, "/v1/chat/completions", body);
  auto streamed = body;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  auto c = s.client();
  const auto r = c.Post("/v1/chat/completions", streamed.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  SseParser p;
  std::vector<std::string> ev;
  p.feed(r->body, ev);
  ASSERT_GE(ev.size(), 4u);
  EXPECT_EQ(ev.back(), "[DONE]");
  std::string text;
  for (std::size_t i = 0; i + 1 < ev.size(); ++i) {
    const auto j = nlohmann::json::parse(ev[i]);
    if (j.contains("usage")) {
      EXPECT_EQ(j["usage"]["completion_tokens"], 10);
      continue;
    }
    const auto& d = j["choices"][0]["delta"];
    if (i == 0) {
      EXPECT_EQ(d["role"], "assistant");
    }
    if (d.contains("content")) text += d["content"].get<std::string>();
  }
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");
}

TEST(Serve, BadInputGetsOpenAIErrorsAndTheServerCarriesOn) {
  Running s;
  int status = 0;
  auto j = post(s, "/v1/completions", {{"model", "gpt-9"}, {"prompt", "x"}}, &status);
  EXPECT_EQ(status, 404);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("gpt-9"), std::string::npos);
  j = post(s, "/v1/completions", {{"model", "builtin"}, {"prompt", "x"}, {"max_tokens", 1000}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("maximum context length is 128"), std::string::npos);
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "word ";
  j = post(s, "/v1/completions", {{"model", "builtin"}, {"prompt", long_prompt}, {"max_tokens", 1}}, &status);
  EXPECT_EQ(status, 400);
  j = post(s, "/v1/chat/completions", {{"model", "builtin"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}, &status);
  EXPECT_EQ(status, 400);  // no chat template
  EXPECT_EQ(j["error"]["param"], "messages");
  auto c = s.client();
  auto r = c.Post("/v1/completions", "{oops", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = c.Post("/v1/nothing", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = c.Post("/v1/completions", std::string(9u << 20, 'x'), "application/json");
  if (r) {
    EXPECT_EQ(r->status, 413);  // the server may also just close a body that large
  }
  j = post(s, "/v1/completions", {{"model", "builtin"}, {"prompt", "still here"}, {"max_tokens", 2}}, &status);
  EXPECT_EQ(status, 200);
}

TEST(Serve, APortInUseIsRefusedByName) {
  Running s;
  ServeOptions opt;
  opt.port = s.port;
  opt.model_name = "builtin";
  Server second(s.model, s.tok, std::nullopt, opt);
  try {
    second.bind();
    FAIL() << "bound a port in use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

TEST(Serve, AClientLeavingMidStreamDoesNotStopTheServer) {
  Running s;
  for (int round = 0; round < 3; ++round) {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.set_header("Content-Type", "application/json");
    req.body = nlohmann::json{{"model", "builtin"}, {"prompt", "Once"}, {"max_tokens", 100}, {"stream", true},
                              {"ignore_eos", true}}
                   .dump();
    int seen = 0;
    req.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) { return ++seen < 2; };
    auto c = s.client();
    const auto r = c.send(req);
    EXPECT_FALSE(r);  // we hung up
    EXPECT_EQ(r.error(), httplib::Error::Canceled);
  }
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  post(s, "/v1/completions", {{"model", "builtin"}, {"prompt", "next"}, {"max_tokens", 3}}, &status);
  EXPECT_EQ(status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(BenchServe, MeasuresQlabServeAtEachConcurrency) {
  Running s(chatml());
  ServeBenchOptions opt;
  opt.url = s.url();
  opt.model = "builtin";
  opt.concurrency = {1, 3};
  opt.requests_per_level = 3;
  opt.max_tokens = 8;
  const auto r = bench_serve(opt, Progress::none(), {});
  ASSERT_EQ(r.levels.size(), 2u);
  EXPECT_EQ(r.served_models, std::vector<std::string>{"builtin"});
  for (const auto& L : r.levels) {
    EXPECT_EQ(L.failed, 0) << L.first_error;
    EXPECT_GT(L.output_tokens_per_s, 0);
    EXPECT_GT(L.ttft_p50_ms, 0);
    EXPECT_LE(L.ttft_p50_ms, L.ttft_p99_ms);
    EXPECT_GT(L.mean_output_tokens, 0);
    EXPECT_LE(L.mean_output_tokens, 8);
  }
  opt.model = "other";
  EXPECT_THROW(bench_serve(opt, Progress::none(), {}), Error);  // a model the server does not serve
}

// A server that speaks HTTP but streams what it should not.
struct FakeServer {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  FakeServer() {
    http.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"m","object":"model"}]})", "application/json");
    });
    http.Post("/v1/chat/completions", [](const httplib::Request& req, httplib::Response& res) {
      const auto body = nlohmann::json::parse(req.body);
      const std::string content = body["messages"][0]["content"];
      std::string events;
      if (content == "garbage") events = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {not json at all\n\n";
      if (content == "cut") events = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
      if (content == "slow") std::this_thread::sleep_for(std::chrono::seconds(3));
      res.set_content(events, "text/event-stream");
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
  }
  ~FakeServer() {
    http.stop();
    thread.join();
  }
};

TEST(BenchServe, MalformedCutShortAndSilentServersFailWithAMessage) {
  FakeServer f;
  ServeBenchOptions opt;
  opt.url = "http://127.0.0.1:" + std::to_string(f.port) + "/v1";
  opt.model = "m";
  opt.read_timeout_s = 1;
  auto t = timed_request(opt, "garbage");
  EXPECT_NE(t.error.find("malformed event"), std::string::npos) << t.error;
  t = timed_request(opt, "cut");
  EXPECT_NE(t.error.find("ended before"), std::string::npos) << t.error;
  const auto t0 = std::chrono::steady_clock::now();
  t = timed_request(opt, "slow");  // answers after 3 s; the client waits 1 s
  EXPECT_FALSE(t.error.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2800));
  opt.prompts = {"garbage"};
  opt.concurrency = {2};
  try {
    bench_serve(opt, Progress::none(), {});
    FAIL() << "a server streaming garbage passed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed"), std::string::npos) << e.what();
  }
}

TEST(BenchServe, AnAddressWithNoServerIsReportedQuickly) {
  // A port that was free a moment ago: bound by a socket of our own, then closed.
  int free_port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    free_port = ntohs(a.sin_port);
    ::close(fd);
  }
  ServeBenchOptions opt;
  opt.url = "http://127.0.0.1:" + std::to_string(free_port) + "/v1";
  opt.model = "m";
  const auto t0 = std::chrono::steady_clock::now();
  try {
    bench_serve(opt, Progress::none(), {});
    FAIL() << "no error for a closed port";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no server answers"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
  opt.url = "ftp://example";
  EXPECT_THROW(bench_serve(opt, Progress::none(), {}), Error);
}

}  // namespace
}  // namespace qlab::serve
