#include "engine/core/atomic_file.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

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

// ---- the output-path policy (issue 12 item 1) ------------------------------------------------

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st;
}

// A character device to write to: a null device made in the scratch folder where the system allows
// it (root), else /dev/null itself, which the policy only opens and writes (never replaces).
fs::path null_device(const fs::path& dir) {
  const fs::path made = dir / "null";
  if (::mknod(made.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) return made;
  return "/dev/null";
}

TEST_F(AtomicFile, SymlinkIsWrittenThroughAndStaysALink) {
  write_file_atomic(dir / "target.json", "old");
  fs::create_symlink("target.json", dir / "link.json");  // relative, as dotfile managers make them
  write_file_atomic(dir / "link.json", "new");
  EXPECT_TRUE(fs::is_symlink(dir / "link.json"));
  EXPECT_EQ(read_file(dir / "target.json"), "new");
}

TEST_F(AtomicFile, ChainOfLinksAndADanglingLinkReachTheirFile) {
  fs::create_directories(dir / "real");
  fs::create_symlink(dir / "real" / "f.bin", dir / "a");  // dangling: the file is created there
  fs::create_symlink(dir / "a", dir / "b");
  write_file_atomic(dir / "b", "through two links");
  EXPECT_TRUE(fs::is_symlink(dir / "a"));
  EXPECT_TRUE(fs::is_symlink(dir / "b"));
  EXPECT_EQ(read_file(dir / "real" / "f.bin"), "through two links");
}

TEST_F(AtomicFile, CharacterDeviceIsStreamedToAndNeverReplaced) {
  const fs::path dev = null_device(dir);
  const struct stat before = stat_of(dev);
  write_file_atomic(dev, std::string(200000, 'x'));
  const struct stat after = stat_of(dev);
  EXPECT_TRUE(S_ISCHR(after.st_mode));
  EXPECT_EQ(after.st_rdev, before.st_rdev);
  EXPECT_EQ(after.st_ino, before.st_ino);
  for (const auto& e : fs::directory_iterator(dev.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(dev.filename().string() + ".tmp-"), std::string::npos) << e.path();
}

TEST_F(AtomicFile, WriteErrorOnADeviceIsReported) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  try {
    write_file_atomic("/dev/full", std::string(100000, 'x'));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full: write failed"), std::string::npos) << e.what();
  }
}

TEST_F(AtomicFile, FifoWithAReaderGetsTheBytes) {
  const fs::path fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] {
    const int fd = ::open(fifo.c_str(), O_RDONLY);
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
  });
  // the reader must have the FIFO open first, or the write (rightly) finds nobody reading
  for (int i = 0; i < 500; ++i) {
    try {
      write_file_atomic(fifo, std::string(300000, 'p'));
      break;
    } catch (const Error& e) {
      ASSERT_NE(std::string(e.what()).find("nobody reads"), std::string::npos) << e.what();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  reader.join();
  EXPECT_EQ(got, std::string(300000, 'p'));
  EXPECT_TRUE(fs::is_fifo(fifo));
}

TEST_F(AtomicFile, FifoWithNoReaderIsAnErrorAtOnceNotAHang) {
  const fs::path fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    write_file_atomic(fifo, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nobody reads"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(fs::is_fifo(fifo));
}

TEST_F(AtomicFile, FolderSocketAndEmptyNameAreRefused) {
  fs::create_directories(dir / "sub");
  EXPECT_THROW(write_file_atomic(dir / "sub", "x"), Error);
  EXPECT_TRUE(fs::is_directory(dir / "sub"));
  EXPECT_THROW(write_file_atomic("", "x"), Error);

  const fs::path sock = dir / "s";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.string().size(), sizeof addr.sun_path);
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  try {
    write_file_atomic(sock, "x");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a socket"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_socket(sock));
  ::close(fd);
}

TEST_F(AtomicFile, ReplacedFileKeepsItsPermissionBits) {
  const fs::path p = dir / "progress.json";
  write_file_atomic(p, "old");
  ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
  write_file_atomic(p, "new");
  EXPECT_EQ(stat_of(p).st_mode & 07777, 0600u);
  ASSERT_EQ(::chmod(p.c_str(), 0640), 0);
  write_file_atomic(p, "newer");
  EXPECT_EQ(stat_of(p).st_mode & 07777, 0640u);
}

TEST_F(AtomicFile, RootKeepsTheOwnerOfAReplacedFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the case of `sudo qlab`)";
  const fs::path p = dir / "theirs.json";
  write_file_atomic(p, "old");
  ASSERT_EQ(::chown(p.c_str(), 4321, 4322), 0);
  write_file_atomic(p, "new");
  EXPECT_EQ(stat_of(p).st_uid, 4321u);
  EXPECT_EQ(stat_of(p).st_gid, 4322u);
}

// ---- inputs (items 6, 10, 13) -------------------------------------------------------------

TEST_F(AtomicFile, ReadingRefusesWhatIsNotARegularFileWithoutBlocking) {
  const fs::path fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_directories(dir / "folder");
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& [p, kind] : std::vector<std::pair<fs::path, std::string>>{
           {fifo, "named pipe"}, {dir / "folder", "folder"}, {null_device(dir), "character device"}}) {
    try {
      read_file(p);
      ADD_FAILURE() << p << " was read";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(kind), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(AtomicFile, ReadingFollowsLinksAndRefusesWhatIsTooLarge) {
  write_file_atomic(dir / "f", "12345");
  fs::create_symlink(dir / "f", dir / "l");
  EXPECT_EQ(read_file(dir / "l"), "12345");
  EXPECT_EQ(read_file(dir / "f", 5), "12345");
  try {
    read_file(dir / "f", 4);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the 4"), std::string::npos) << e.what();
  }
  try {
    read_file(dir / "absent");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
  }
}

}  // namespace qlab
