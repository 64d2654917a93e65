// A memory-mapped input truncated while it is read (issue 12 item 9): the read gets zeros instead of
// SIGBUS, the damage is reported as an Error naming the file at the next check, and SIGBUS that is
// not about a listed mapping still has its usual effect.
#include "engine/core/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/core/progress.h"
#include "tests/sanitizer_build.h"

namespace qlab {
namespace {

namespace fs = std::filesystem;

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("qlab-mapped-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  }
  void TearDown() override { fs::remove_all(dir); }
  // A file of n pages, every byte 7.
  fs::path pages(std::size_t n) {
    const fs::path p = dir / "weights.bin";
    std::ofstream(p, std::ios::binary) << std::string(n * page, '\7');
    return p;
  }
  fs::path dir;
  std::size_t page = 4096;
};

TEST_F(MappedFileTest, TruncatedFileReadsAsZerosAndIsReported) {
  const fs::path p = pages(4);
  MappedFile m(p);
  ASSERT_EQ(m.bytes().size(), 4 * page);
  const volatile unsigned char* b = reinterpret_cast<const volatile unsigned char*>(m.bytes().data());
  EXPECT_EQ(b[0], 7);
  EXPECT_TRUE(m.intact());
  EXPECT_NO_THROW(check_mapped_inputs());

  fs::resize_file(p, page);      // another program cuts the file to one page
  EXPECT_EQ(b[0], 7);            // what is still in the file reads as before
  EXPECT_EQ(b[3 * page + 5], 0);  // past the new end: zeros, not SIGBUS
  EXPECT_FALSE(m.intact());
  try {
    check_mapped_inputs();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("could no longer be read"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.check_intact(), Error);
  // every long job's cancel point notices it
  EXPECT_THROW(check_cancel(std::stop_token{}), Error);
}

TEST_F(MappedFileTest, FaultOnAWorkerThreadIsCaughtToo) {
  const fs::path p = pages(8);
  MappedFile m(p);
  fs::resize_file(p, 0);
  long sum = 0;
  std::thread t([&] {
    const unsigned char* b = reinterpret_cast<const unsigned char*>(m.bytes().data());
    for (std::size_t i = 0; i < m.bytes().size(); i += 512) sum += b[i];
  });
  t.join();
  EXPECT_EQ(sum, 0);
  EXPECT_FALSE(m.intact());
}

TEST_F(MappedFileTest, DamageIsForgottenWithTheMapping) {
  const fs::path p = pages(2);
  {
    MappedFile m(p);
    fs::resize_file(p, 0);
    EXPECT_EQ(static_cast<const volatile unsigned char*>(
                  reinterpret_cast<const unsigned char*>(m.bytes().data()))[page],
              0);
    EXPECT_THROW(check_mapped_inputs(), Error);
  }
  EXPECT_NO_THROW(check_mapped_inputs());  // a later job on other files is not blamed
  std::ofstream(p, std::ios::binary) << std::string(page, '\1');
  MappedFile again(p);
  EXPECT_TRUE(again.intact());
}

TEST_F(MappedFileTest, FifoAndFolderAreRefusedWithoutBlocking) {
  const fs::path fifo = dir / "model.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(MappedFile{fifo}, Error);
  EXPECT_THROW(MappedFile{dir}, Error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

// The handler takes only faults inside listed mappings: any other SIGBUS ends the process as it
// would without qlab's handler.
TEST_F(MappedFileTest, OtherSigbusStillEndsTheProcess) {
  if (qlab::testing::kSanitizerBuild) GTEST_SKIP() << "a sanitizer's SIGBUS handler reports the signal instead";
  const fs::path p = pages(1);
  MappedFile m(p);  // the handler is installed
  EXPECT_EXIT(::raise(SIGBUS), ::testing::KilledBySignal(SIGBUS), "");
  // a fault in a mapping of our own that MappedFile does not list
  EXPECT_EXIT(
      {
        const int fd = ::open(p.c_str(), O_RDONLY);
        void* q = ::mmap(nullptr, 2 * page, PROT_READ, MAP_PRIVATE, fd, 0);
        ::ftruncate(::open(p.c_str(), O_WRONLY), 0);
        std::_Exit(static_cast<const volatile unsigned char*>(q)[page] + 10);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace qlab
