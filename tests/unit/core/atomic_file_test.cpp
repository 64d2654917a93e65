#include "engine/core/atomic_file.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace fs = std::filesystem;

namespace qlab {

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("qlab-atomic-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(AtomicFile, ReplacesContent) {
  auto p = dir / "a.txt";
  write_file_atomic(p, "old");
  write_file_atomic(p, "new content");
  EXPECT_EQ(read_file(p), "new content");
}

TEST_F(AtomicFile, FailedWriteKeepsOldFileAndLeavesNoTemporary) {
  auto p = dir / "a.txt";
  write_file_atomic(p, "old");
  EXPECT_THROW(write_file_atomic(p, [](std::ostream& out) {
                 out << "half";
                 throw Error("writer failed");
               }),
               Error);
  EXPECT_EQ(read_file(p), "old");
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++n;
  EXPECT_EQ(n, 1);
}

TEST_F(AtomicFile, MissingFolderIsAClearError) {
  try {
    write_file_atomic(dir / "nope" / "a.txt", "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

}  // namespace qlab
