#pragma once
// `qlab serve`: a small OpenAI-compatible HTTP server over qlab's runtime (cpp-httplib).
//   GET  /v1/models              the one model served
//   POST /v1/completions         a prompt's continuation; "stream": true sends server-sent events
//   POST /v1/chat/completions    messages rendered with the model's chat template (chat_template.h)
//   GET  /health                 "ok" once the model is loaded
// One generation runs at a time (the CPU's cores serve one request's products); the others wait for
// it, each at most `queue_timeout_s`, then get 503. Bad input gets an OpenAI-style error body and
// the server carries on: unknown model (404), malformed JSON or fields (400), a request longer than
// the context (400, context_length_exceeded), a body over 8 MiB (413). A client that goes away in
// the middle of a stream stops its generation at the next token; reads and writes time out after
// `io_timeout_s`, so no client holds a connection thread forever.
#include <memory>
#include <optional>
#include <string>

#include "engine/io/tokenizer.h"
#include "engine/model/backend.h"
#include "engine/model/model.h"
#include "engine/serve/chat_template.h"

namespace qlab::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: any free port (tests)
  std::string model_name;         // the id /v1/models reports and requests must name
  int http_threads = 32;          // connections handled at once (the rest wait to be accepted)
  double queue_timeout_s = 300;   // longest wait for the model before 503
  int io_timeout_s = 30;          // socket read / write timeout
  model::Backend* backend = nullptr;  // where generations run (nullptr: the CPU)
};

class Server {
 public:
  Server(const model::Model& m, const io::Tokenizer& tok, std::optional<ChatTemplate> chat, ServeOptions opt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port (the one chosen when opt.port is 0). Error naming
  // host and port when it cannot (in use, not permitted).
  int bind();
  // Serves until stop(); bind() first.
  void run();
  // Stops run() (from any thread); generations in flight end at their next token.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qlab::serve
