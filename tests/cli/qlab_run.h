#pragma once
// Running the real qlab binary from the CLI tests: a scratch folder per test, and `qlab ARGS` with
// text on standard input, capturing stdout, stderr and the exit status.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/temp_dir.h"

namespace qlab::testing {

struct QlabRun {
  int code = -1;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A path in single quotes for a shell command line (appended piecewise: GCC 12 warns falsely,
// -Wrestrict, on "'" + str).
inline std::string quoted(const std::filesystem::path& p) {
  std::string s(1, '\'');
  s += p.string();
  s += '\'';
  return s;
}

// An empty folder named for the running test (prefix-pid-test), created fresh.
// Removed when the test program exits (a fixture may remove its own sooner), so runs leave no folders.
inline std::filesystem::path scratch_dir(const std::string& prefix) {
  auto d = std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  qlab::testing::remove_at_exit(d);
  return d;
}

// Runs `qlab ARGS` with `dir` as the working folder; stdin_text goes to standard input. With
// timeout_s, qlab is killed after that many seconds and the status is 124 (a hang made visible).
inline QlabRun run_qlab(const std::filesystem::path& dir, const std::string& args,
                        const std::string& stdin_text = "", int timeout_s = 0) {
  {
    std::ofstream(dir / ".stdin", std::ios::binary) << stdin_text;
  }
  const std::string limit = timeout_s > 0 ? "timeout -k 5 " + std::to_string(timeout_s) + " " : "";
  const std::string cmd = "cd '" + dir.string() + "' && " + limit + "'" + QLAB_BINARY + "' " + args +
                          " < .stdin > .stdout 2> .stderr";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir / ".stdout"), slurp(dir / ".stderr")};
}

}  // namespace qlab::testing
