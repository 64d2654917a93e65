// The OpenAI JSON qlab serve reads and writes, the event-stream parser the benchmark reads with, and
// the small pieces of generation and statistics, each alone (no sockets).
#include <gtest/gtest.h>

#include "engine/serve/generation.h"
#include "engine/serve/openai_protocol.h"
#include "engine/serve/serve_bench.h"
#include "engine/serve/sse.h"

namespace qlab::serve {
namespace {

TEST(Protocol, ParsesCompletionAndChatRequests) {
  const auto c = parse_request(R"({"model":"m","prompt":"hi","max_tokens":5,"temperature":0,"stream":true,
      "stream_options":{"include_usage":true},"stop":["\n","END"],"seed":3,"ignore_eos":true})", false);
  EXPECT_EQ(c.model, "m");
  EXPECT_EQ(c.prompt, "hi");
  EXPECT_EQ(*c.max_tokens, 5);
  EXPECT_EQ(c.temperature, 0);
  EXPECT_TRUE(c.stream && c.include_usage && c.ignore_eos);
  EXPECT_EQ(c.stop.size(), 2u);
  EXPECT_EQ(*c.seed, 3u);
  EXPECT_EQ(*parse_request(R"({"model":"m","prompt":["one"]})", false).max_tokens, 16);  // OpenAI's default
  const auto ch = parse_request(R"({"model":"m","messages":[{"role":"system","content":"s"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_completion_tokens":7})", true);
  ASSERT_EQ(ch.messages.size(), 2u);
  EXPECT_EQ(ch.messages[1].content, "ab");
  EXPECT_EQ(*ch.max_tokens, 7);
  EXPECT_FALSE(parse_request(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", true).max_tokens);
}

TEST(Protocol, BadRequestsNameTheField) {
  struct Case {
    const char* body;
    bool chat;
    const char* param;
  };
  for (const Case& c : {Case{"{not json", false, ""}, Case{"[1]", false, ""}, Case{R"({"prompt":"x"})", false, "model"},
                        Case{R"({"model":"m"})", false, "prompt"}, Case{R"({"model":"m","prompt":["a","b"]})", false, "prompt"},
                        Case{R"({"model":"m","prompt":"x","max_tokens":-1})", false, "max_tokens"},
                        Case{R"({"model":"m","prompt":"x","max_tokens":2.5})", false, "max_tokens"},
                        Case{R"({"model":"m","prompt":"x","temperature":3})", false, "temperature"},
                        Case{R"({"model":"m","prompt":"x","n":2})", false, "n"},
                        Case{R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})", false, "stop"},
                        Case{R"({"model":"m","prompt":"x","stream":"yes"})", false, "stream"},
                        Case{R"({"model":"m","messages":[]})", true, "messages"},
                        Case{R"({"model":"m","messages":[{"content":"x"}]})", true, "messages[0]"},
                        Case{R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", true,
                             "messages[0].content"}}) {
    try {
      parse_request(c.body, c.chat);
      ADD_FAILURE() << "accepted: " << c.body;
    } catch (const RequestError& e) {
      EXPECT_EQ(e.status, 400) << c.body;
      EXPECT_EQ(e.param, c.param) << c.body;
    }
  }
}

TEST(Protocol, ResponsesHaveOpenAIsShape) {
  const auto j = completion_json("cmpl-1", 7, "m", "text", "length", {3, 2});
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "text");
  EXPECT_EQ(j["usage"]["total_tokens"], 5);
  const std::string role = "assistant";
  const auto first = chat_chunk_json("c", 7, "m", &role, nullptr, "");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(error_json("no", "invalid_request_error", "model")["error"]["param"], "model");
  EXPECT_EQ(sse_event(nlohmann::json{{"a", 1}}), "data: {\"a\":1}\n\n");
}

TEST(Sse, EventsSplitAnywhereCommentsAndCrlf) {
  const std::string stream = ": keep-alive\r\ndata: {\"x\":1}\r\n\r\nevent: message\ndata: line1\ndata:line2\n\nid: 3\n\ndata: [DONE]\n\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, stream.size()}) {
    SseParser p;
    std::vector<std::string> ev;
    for (std::size_t i = 0; i < stream.size(); i += step) p.feed(std::string_view(stream).substr(i, step), ev);
    ASSERT_EQ(ev.size(), 3u) << step;
    EXPECT_EQ(ev[0], "{\"x\":1}");
    EXPECT_EQ(ev[1], "line1\nline2");
    EXPECT_EQ(ev[2], "[DONE]");
    EXPECT_FALSE(p.pending());
  }
  SseParser cut;
  std::vector<std::string> ev;
  cut.feed("data: {\"x\":", ev);
  EXPECT_TRUE(ev.empty());
  EXPECT_TRUE(cut.pending());
}

TEST(Stats, PercentilesInterpolateLikeNumpy) {
  // numpy.percentile([1, 2, 3, 4], 50) = 2.5; 99 -> 3.97; a single value is every percentile
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 99), 3.97, 1e-12);
  EXPECT_EQ(percentile({7}, 99), 7);
  EXPECT_EQ(percentile({}, 50), 0);
}

TEST(Generation, StopStringsAreHeldBackUntilTheyCannotMatch) {
  EXPECT_EQ(stop_prefix_overlap("hello EN", {"END"}), 2u);
  EXPECT_EQ(stop_prefix_overlap("hello E", {"END", "E!"}), 1u);
  EXPECT_EQ(stop_prefix_overlap("hello", {"END"}), 0u);
  EXPECT_EQ(stop_prefix_overlap("abc", {}), 0u);
}

}  // namespace
}  // namespace qlab::serve
