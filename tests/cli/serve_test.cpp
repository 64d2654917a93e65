// `qlab serve` and `qlab bench serve` through the real binary: the server started as a learner starts
// it, measured by bench serve, refused a second time on the same port, stopped by SIGTERM; bench
// serve against an address where nothing listens.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/qlab_run.h"

extern char** environ;

namespace qlab::testing {
namespace {

// A loopback port nothing listens on a moment ago (bound by a socket of our own, then closed).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// `qlab serve builtin --port P` in the background, its output in `dir`; stopped with SIGTERM.
struct ServeProcess {
  pid_t pid = -1;
  ServeProcess(const std::filesystem::path& dir, int port) {
    const std::string out = (dir / "serve.out").string(), err = (dir / "serve.err").string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const std::string port_text = std::to_string(port);
    std::string bin = QLAB_BINARY, cmd = "serve", model = "builtin", flag = "--port";
    char* argv[] = {bin.data(), cmd.data(), model.data(), flag.data(), const_cast<char*>(port_text.c_str()), nullptr};
    if (posix_spawn(&pid, QLAB_BINARY, &fa, nullptr, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  // The exit status after SIGTERM, or -1 when it did not end within `limit`.
  int stop(std::chrono::seconds limit = std::chrono::seconds(10)) {
    if (pid <= 0) return -1;
    ::kill(pid, SIGTERM);
    const auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() - t0 > limit) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        pid = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ~ServeProcess() { stop(); }
};

TEST(ServeCli, BenchServeMeasuresQlabServeAndASecondServerIsRefused) {
  const auto dir = scratch_dir("qlab-serve");
  const int port = free_port();
  ASSERT_GT(port, 0);
  ServeProcess server(dir, port);
  ASSERT_GT(server.pid, 0);
  const auto t0 = std::chrono::steady_clock::now();
  while (!accepts(port)) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30)) << slurp(dir / "serve.err");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  const QlabRun bench = run_qlab(dir, "bench serve --url " + url +
                                          " --model builtin --completions --concurrency 1,2 --requests 2 --max-tokens 4 --json");
  ASSERT_EQ(bench.code, 0) << bench.err;
  const auto j = nlohmann::json::parse(bench.out);
  ASSERT_EQ(j["levels"].size(), 2u);
  for (const auto& level : j["levels"]) {
    EXPECT_EQ(level["failed"], 0) << level.dump();
    EXPECT_GT(level["output_tokens_per_s"].get<double>(), 0);
    EXPECT_LE(level["mean_output_tokens"].get<double>(), 4);
  }
  const QlabRun unknown = run_qlab(dir, "bench serve --url " + url + " --model gpt-9");
  EXPECT_NE(unknown.code, 0);
  EXPECT_NE(unknown.err.find("does not serve model 'gpt-9'"), std::string::npos) << unknown.err;

  const QlabRun second = run_qlab(dir, "serve builtin --port " + std::to_string(port));
  EXPECT_NE(second.code, 0);
  EXPECT_NE(second.err.find("in use"), std::string::npos) << second.err;
  EXPECT_EQ(server.stop(), 0) << slurp(dir / "serve.err");
  EXPECT_NE(slurp(dir / "serve.out").find("serving"), std::string::npos);
}

TEST(ServeCli, BenchServeWithNoServerSaysSoQuickly) {
  const auto dir = scratch_dir("qlab-serve");
  const auto t0 = std::chrono::steady_clock::now();
  const QlabRun r = run_qlab(dir, "bench serve --url http://127.0.0.1:" + std::to_string(free_port()) + "/v1 --model m");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("no server answers"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  const QlabRun bad = run_qlab(dir, "bench serve --url localhost:8080 --model m");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("is not an http(s) URL"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace qlab::testing
