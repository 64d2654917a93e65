#include "engine/serve/server.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "engine/core/error.h"
#include "engine/serve/generation.h"
#include "engine/serve/openai_protocol.h"

namespace qlab::serve {

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void send_error(httplib::Response& res, int status, const std::string& type, const std::string& param,
                const std::string& message) {
  res.status = status;
  res.set_content(error_json(message, type, param).dump(), "application/json");
}

std::int64_t model_context(const io::ModelConfig& c) {
  std::int64_t n = c.max_position_embeddings > 0 ? c.max_position_embeddings : std::int64_t{1} << 30;
  if (c.sliding_window > 0) n = std::min<std::int64_t>(n, c.sliding_window);
  return n;
}

}  // namespace

struct Server::Impl {
  const model::Model& model;
  const io::Tokenizer& tok;
  std::optional<ChatTemplate> chat;
  ServeOptions opt;
  httplib::Server http;
  std::timed_mutex busy;  // held by the generation in flight
  std::atomic<bool> stopping{false};
  // run() and stop() meet under this lock: a stop() that comes before run() has started listening
  // must not be lost (httplib's stop() does nothing until the server runs).
  std::mutex run_lock;
  std::atomic<bool> run_entered{false}, run_done{false};
  std::atomic<std::uint64_t> next_id{1};
  std::int64_t created = unix_now();

  Impl(const model::Model& m, const io::Tokenizer& t, std::optional<ChatTemplate> c, ServeOptions o)
      : model(m), tok(t), chat(std::move(c)), opt(std::move(o)) {
    http.new_task_queue = [n = opt.http_threads] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
    // SO_REUSEADDR only (a restart may reuse a port in TIME_WAIT); httplib's default adds SO_REUSEPORT,
    // which would let a second server share a port another one is serving on.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    });
    http.set_read_timeout(opt.io_timeout_s, 0);
    http.set_write_timeout(opt.io_timeout_s, 0);
    http.set_payload_max_length(8u << 20);
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(models_json(opt.model_name, created).dump(), "application/json");
    });
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, false); });
    http.Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, true); });
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      const std::string message = res.status == 413 ? "the request body is larger than 8 MiB"
                                  : res.status == 404 ? fmt::format("no route {} {}", req.method, req.path)
                                                      : fmt::format("HTTP {}", res.status);
      res.set_content(error_json(message, res.status == 404 ? "not_found_error" : "invalid_request_error", "").dump(),
                      "application/json");
    });
  }

  void handle(const httplib::Request& req, httplib::Response& res, bool is_chat) {
    try {
      CompletionRequest r = parse_request(req.body, is_chat);
      if (r.model != opt.model_name)
        throw RequestError(404, "invalid_request_error", "model",
                           fmt::format("The model `{}` does not exist: this server serves `{}`", r.model, opt.model_name));
      std::string prompt_text = r.prompt;
      bool add_bos = true;
      if (is_chat) {
        if (!chat)
          throw RequestError(400, "invalid_request_error", "messages",
                             "this model has no chat template qlab renders: use /v1/completions, or start the server with "
                             "--chat-template NAME");
        try {
          prompt_text = chat->render(r.messages);
        } catch (const RequestError&) {
          throw;
        } catch (const Error& e) {
          throw RequestError(400, "invalid_request_error", "messages", e.what());
        }
        add_bos = chat->bos.empty();  // the template writes BOS itself when the tokenizer has one
      }
      const std::vector<std::int32_t> ids = tok.encode(prompt_text, add_bos);
      if (ids.empty()) throw RequestError(400, "invalid_request_error", is_chat ? "messages" : "prompt", "the prompt encodes to no tokens");
      const std::int64_t ctx = model_context(model.config());
      const auto n_prompt = static_cast<std::int64_t>(ids.size());
      const std::int64_t want = r.max_tokens ? *r.max_tokens : ctx - n_prompt;
      if (n_prompt + want > ctx || want < 0)
        throw RequestError(400, "invalid_request_error", is_chat ? "messages" : "prompt",
                           fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                                       "({} in the {}, {} for the completion). Please reduce the length of the {} or the "
                                       "completion.",
                                       ctx, n_prompt + std::max<std::int64_t>(want, 0), n_prompt,
                                       is_chat ? "messages" : "prompt", std::max<std::int64_t>(want, 0),
                                       is_chat ? "messages" : "prompt"));
      GenerationParams gp;
      gp.max_tokens = static_cast<int>(want);
      gp.sampling.temperature = r.temperature;
      gp.sampling.top_p = r.top_p;
      gp.sampling.top_k = r.top_k;
      gp.seed = r.seed ? *r.seed : next_id.load();
      gp.stop = r.stop;
      gp.ignore_eos = r.ignore_eos;
      gp.backend = opt.backend;
      auto lock = std::make_shared<std::unique_lock<std::timed_mutex>>(busy, std::defer_lock);
      if (!lock->try_lock_for(std::chrono::duration<double>(opt.queue_timeout_s)))
        throw RequestError(503, "server_error", "",
                           fmt::format("the server is busy: no generation slot within {:.0f} s; try again", opt.queue_timeout_s));
      const std::string id = fmt::format("{}-{}", is_chat ? "chatcmpl" : "cmpl", next_id++);
      if (!r.stream) {
        const GenerationResult g = generate_text(model, tok, ids, gp, [this](std::string_view) { return !stopping.load(); });
        const Usage u{g.prompt_tokens, g.completion_tokens};
        const auto j = is_chat ? chat_json(id, unix_now(), opt.model_name, g.text, g.finish_reason, u)
                               : completion_json(id, unix_now(), opt.model_name, g.text, g.finish_reason, u);
        res.set_content(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
        return;
      }
      // Streaming: the generation runs inside the content provider, holding the lock until it ends.
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, lock, ids, gp, id, is_chat, usage = r.include_usage](std::size_t, httplib::DataSink& sink) {
            auto send = [&](const std::string& s) { return sink.is_writable() && sink.write(s.data(), s.size()); };
            const std::int64_t t = unix_now();
            const std::string role = "assistant";
            bool open = !is_chat || send(sse_event(chat_chunk_json(id, t, opt.model_name, &role, nullptr, "")));
            GenerationResult g;
            try {
              g = generate_text(model, tok, ids, gp, [&](std::string_view piece) {
                if (!open || stopping.load()) return false;
                const std::string text(piece);
                open = send(sse_event(is_chat ? chat_chunk_json(id, t, opt.model_name, nullptr, &text, "")
                                              : completion_chunk_json(id, t, opt.model_name, text, "")));
                return open;
              });
            } catch (const std::exception& e) {
              if (open) send(sse_event(error_json(e.what(), "server_error", "")));
              lock->unlock();
              return false;
            }
            lock->unlock();  // the next request may start while this one's last events go out
            if (g.finish_reason == "cancelled") return false;  // the client went away: close
            const Usage u{g.prompt_tokens, g.completion_tokens};
            const std::string empty;
            const bool sent = send(sse_event(is_chat ? chat_chunk_json(id, t, opt.model_name, nullptr, nullptr, g.finish_reason)
                                                     : completion_chunk_json(id, t, opt.model_name, empty, g.finish_reason))) &&
                              (!usage || send(sse_event(usage_chunk_json(id, t, opt.model_name, is_chat, u)))) &&
                              send(std::string(kSseDone));
            if (sent) sink.done();
            return sent;  // false closes the connection; true after done() ends the response
          });
    } catch (const RequestError& e) {
      send_error(res, e.status, e.type, e.param, e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, "server_error", "", e.what());
    }
  }
};

Server::Server(const model::Model& m, const io::Tokenizer& tok, std::optional<ChatTemplate> chat, ServeOptions opt)
    : impl_(std::make_unique<Impl>(m, tok, std::move(chat), std::move(opt))) {}

Server::~Server() { stop(); }

int Server::bind() {
  Impl& s = *impl_;
  if (s.opt.port == 0) {
    const int port = s.http.bind_to_any_port(s.opt.host);
    if (port < 0) fail("cannot listen on {} (no free port)", s.opt.host);
    s.opt.port = port;
    return port;
  }
  if (!s.http.bind_to_port(s.opt.host, s.opt.port))
    fail("cannot listen on {}:{}: the port is in use or not permitted; choose another with --port", s.opt.host,
         s.opt.port);
  return s.opt.port;
}

void Server::run() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.run_lock);
    if (s.stopping) return;
    s.run_entered = true;
  }
  s.http.listen_after_bind();
  s.run_done = true;
}

void Server::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.run_lock);
    s.stopping = true;
  }
  // run() has either returned at once or entered listening: wait until httplib says it runs (or
  // listening ended), so its stop() takes effect.
  if (s.run_entered)
    while (!s.http.is_running() && !s.run_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.http.stop();
}

}  // namespace qlab::serve
