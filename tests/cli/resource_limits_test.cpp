// The real qlab binary under resource limits (issue 12, "what CI must check"): a memory cap, thread
// creation failing, a limit on processes, a disk that fills up mid-write. Whatever the limit, qlab ends with a one-line error (or
// does the job in less) and never hangs: each run is under `timeout`, and 124 fails the test.
//
// The memory cap is RLIMIT_DATA (`ulimit -d`: the private writable memory, what allocations take),
// not RLIMIT_AS: a build with the CUDA backend maps about 700 MB of cuBLAS before main, and under
// an address-space cap that small OpenBLAS retries its buffer allocation forever. Thread creation
// fails under RLIMIT_AS (`ulimit -v`) with many threads, each wanting an 8 MiB stack. Sanitizer builds reserve terabytes of
// address space and cannot run under such a cap: these tests skip there.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/qlab_run.h"
#include "tests/folder_files.h"
#include "tests/sanitizer_build.h"

namespace {

namespace fs = std::filesystem;
using qlab::testing::slurp;

struct Limited {
  int code = -1;  // exit status; 124 when it had to be killed; 128 + N for signal N
  std::string out, err;
};

class ResourceLimits : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override {
    if (qlab::testing::kSanitizerBuild) GTEST_SKIP() << "a sanitizer reserves more address space than any cap";
    dir = qlab::testing::scratch_dir("qlab-limits");
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  // `qlab ARGS` in a shell whose limits are set by `ulimits` (e.g. "ulimit -v 1000000"), killed
  // after 60 s.
  Limited run(const std::string& ulimits, const std::string& args) {
    const std::string cmd = "cd '" + dir.string() + "' && " + ulimits + " && timeout -k 5 60 '" + QLAB_BINARY +
                            "' " + args + " > .stdout 2> .stderr";
    const int status = std::system(cmd.c_str());
    Limited r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(dir / ".stdout");
    r.err = slurp(dir / ".stderr");
    return r;
  }
};

// The private memory a run may take: 1 GB, far below what the commands below would ask for unbounded.
constexpr const char* kMemoryCap = "ulimit -d 1000000";

// No hang, no death by signal, and a failure says so in one error line (after at most the one
// warning that fewer threads started).
void expect_clean_end(const Limited& r) {
  EXPECT_NE(r.code, 124) << "hung under the limit";
  EXPECT_LT(r.code, 128) << "killed by signal " << r.code - 128 << ": " << r.err;
  if (r.code != 0) {
    ASSERT_FALSE(r.err.empty());
    ASSERT_EQ(r.err.back(), '\n') << r.err;
    std::string err = r.err;
    if (err.find("threads started") != std::string::npos && err.find(": warning: ") < err.find('\n'))
      err.erase(0, err.find('\n') + 1);
    EXPECT_EQ(err.find('\n'), err.size() - 1) << "not one line: " << r.err;
    EXPECT_NE(err.find(": error: "), std::string::npos) << r.err;
  }
}

TEST_F(ResourceLimits, AllocationBeyondTheCapIsAOneLineError) {
  // 2^31 floats asked for on purpose: 8 GiB
  const Limited r = run(kMemoryCap, "quantize-tensor --format int8-ch --synthetic gaussian --rows 16777216 --cols 128");
  expect_clean_end(r);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("out of memory"), std::string::npos) << r.err;
}

// generate -n 1048576 used to allocate the KV cache for a million positions up front.
TEST_F(ResourceLimits, LongGenerateFitsUnderTheCap) {
  const Limited r = run(kMemoryCap, "generate builtin --prompt 'The sum of' -n 1048576 --threads 2");
  expect_clean_end(r);
  EXPECT_EQ(r.code, 0) << r.err;
}

// A token file of a million ids: refused before the KV cache and logits are sized from it.
TEST_F(ResourceLimits, HugeTokenFileIsRefusedBeforeItIsSized) {
  {
    std::ofstream t(dir / "t.txt");
    for (int i = 0; i < 1000000; ++i) t << (i % 700) << ' ';
  }
  const Limited r = run(kMemoryCap, "logits builtin --tokens t.txt --out o.bin --threads 2");
  expect_clean_end(r);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("max_position_embeddings"), std::string::npos) << r.err;
}

// A disk that fills up mid-write, as a file-size cap: with SIGXFSZ ignored, a write past `ulimit -f`
// fails (EFBIG) as a write to a full disk fails (ENOSPC), through the same error path. Every command
// that writes a model or a file ends in one error line saying which write failed, exit 1, and leaves
// nothing behind: no output and no staging folder (the folder holds only the source model after).
TEST_F(ResourceLimits, DiskFullMidWriteLeavesNothing) {
  ASSERT_EQ(run("true", "synth-model --out m --preset tiny").code, 0);
  const std::string builtin = qlab::testing::quoted(fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin");
  const std::string runs[] = {
      "quantize m --method fp8 --out q",                                        // the streaming exporter
      "quantize " + builtin + " --method rtn --format int4-g32 --export gptq --out q",  // the integer exporter
      "gguf " + builtin + " --type q8_0 --out b.gguf",                          // the GGUF writer
      "synth-model --out s --preset tiny",                                      // the checkpoint writer
  };
  for (const std::string& args : runs) {
    SCOPED_TRACE(args);
    // 100 blocks (51 or 102 KB, as the shell counts them): below every output here (>= 300 KB)
    const Limited r = run("trap '' XFSZ && ulimit -f 100", args);
    expect_clean_end(r);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("write failed"), std::string::npos) << r.err;
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string()[0] != '.') left.push_back(e.path().filename().string());
    EXPECT_EQ(left, std::vector<std::string>{"m"});
  }
}

// GPTQ whose checkpoint cannot be written (the disk fills up once every layer is quantized): one error
// line that says where the quantized layers are kept; with room again, --resume writes the checkpoint
// without quantizing again, and it equals a clean run's byte for byte.
TEST_F(ResourceLimits, GptqKeepsItsLayersWhenTheCheckpointCannotBeWritten) {
  const std::string args = "quantize " + qlab::testing::quoted(fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin") +
                           " --method gptq --format int4-g32 --samples 16 --out ";
  // 250 blocks (125 or 250 KB, as the shell counts them): above a layer's file (about 75 KB), below the
  // checkpoint (about 350 KB)
  const Limited r = run("trap '' XFSZ && ulimit -f 250", args + "q");
  expect_clean_end(r);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("write failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("4 quantized layers are kept"), std::string::npos) << r.err;
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string()[0] != '.') left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"q.qlab-layers"});
  const Limited resumed = run("true", args + "q --resume --json");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("\"resumed_layers\": 4"), std::string::npos) << resumed.out;
  ASSERT_EQ(run("true", args + "ref").code, 0);
  EXPECT_EQ(qlab::testing::folder_files(dir / "q"), qlab::testing::folder_files(dir / "ref"));
  EXPECT_FALSE(fs::exists(dir / "q.qlab-layers"));
}

// Thread creation failing (each of 1024 threads wants an 8 MiB stack the cap does not allow): the
// pool runs on the threads that started (issue 12 item 2).
TEST_F(ResourceLimits, ThreadsThatCannotStartEndInAnErrorOrFewerThreads) {
  const Limited r = run("ulimit -v 3000000", "ppl builtin --ctx 32 --threads 1024");
  expect_clean_end(r);
}

// A limit on processes (as a container's pids limit): RLIMIT_NPROC counts threads too. It does not
// bind root, so this runs only as another user.
TEST_F(ResourceLimits, PidsLimitEndsInAnErrorOrFewerThreads) {
  if (::geteuid() == 0) GTEST_SKIP() << "RLIMIT_NPROC does not bind root";
  const Limited r = run("ulimit -u $(( $(ps -L -u \"$(id -u)\" -o lwp= | wc -l) + 4 ))", "ppl builtin --ctx 32 --threads 64");
  expect_clean_end(r);
}

}  // namespace
