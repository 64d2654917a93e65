// Special files for every path argument of the real qlab binary (issue 12 items 1, 10, 13): a FIFO,
// a character device, a symbolic link and a folder given where a file (or a model folder) is
// expected, as an input and as an output. Inputs must be regular files: anything else is a
// one-line error at once, never a hang. Outputs follow atomic_file.h's policy: links are written
// through, devices and pipes streamed to and never replaced, folders refused.
//
// Each command runs under `timeout`, so a hang fails the test (status 124) instead of stopping the
// suite. The character device is a null device made in the scratch folder when the system allows
// it (root), else /dev/null itself, which the policy only opens and writes.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/qlab_run.h"

namespace {

namespace fs = std::filesystem;
using qlab::testing::quoted;
using qlab::testing::QlabRun;
using qlab::testing::slurp;

enum class Kind { Fifo, Device, Link, Folder };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Fifo: return "fifo";
    case Kind::Device: return "device";
    case Kind::Link: return "link";
    case Kind::Folder: return "folder";
  }
  return "?";
}
// The words an error about such a file must use.
const char* kind_words(Kind k) {
  switch (k) {
    case Kind::Fifo: return "named pipe";
    case Kind::Device: return "character device";
    case Kind::Folder: return "folder";
    case Kind::Link: return "";
  }
  return "?";
}
constexpr Kind kKinds[] = {Kind::Fifo, Kind::Device, Kind::Link, Kind::Folder};

class SpecialFiles : public ::testing::Test {
 protected:
  fs::path dir;
  fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  void SetUp() override {
    dir = qlab::testing::scratch_dir("qlab-special");
    std::ofstream(dir / "tokens.txt") << "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n";
    std::ofstream(dir / "tensor.f32", std::ios::binary) << std::string(2 * 32 * 4, '\0');
  }
  void TearDown() override { fs::remove_all(dir); }

  // `qlab ARGS` in the scratch folder, killed after 30 s (status 124 then).
  QlabRun qlab(const std::string& args, const std::string& stdin_text = "") {
    return qlab::testing::run_qlab(dir, args + " --threads 2", stdin_text, 30);
  }

  // Makes `p` a file of the given kind; a link points at `link_to`. Returns the device actually
  // used (the made one, or /dev/null) for Kind::Device.
  fs::path make(Kind k, const fs::path& p, const fs::path& link_to = {}) {
    switch (k) {
      case Kind::Fifo: EXPECT_EQ(::mkfifo(p.c_str(), 0600), 0) << p; return p;
      case Kind::Device:
        if (::mknod(p.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) return p;
        return "/dev/null";
      case Kind::Link: fs::create_symlink(link_to, p); return p;
      case Kind::Folder: fs::create_directories(p); return p;
    }
    return p;
  }

  // A model folder with every file a link to the built-in one's, except `special` (made of kind k).
  fs::path model_with(const std::string& special, Kind k, const std::string& tag) {
    const fs::path m = dir / ("model-" + special + "-" + tag + "-" + kind_name(k));
    fs::create_directories(m);
    for (const auto& e : fs::directory_iterator(builtin)) {
      const std::string name = e.path().filename().string();
      if (name == special) continue;
      fs::create_symlink(e.path(), m / name);
    }
    const fs::path made = make(k, m / special, builtin / special);
    if (k == Kind::Device && made != m / special) return {};  // /dev/null cannot sit inside a folder
    return m;
  }
};

void expect_refused(const QlabRun& r, Kind k, const std::string& names) {
  EXPECT_NE(r.code, 124) << "hung: " << r.err;
  EXPECT_EQ(r.code, 1) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(kind_words(k)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(names), std::string::npos) << r.err;
}

// ---- file inputs ------------------------------------------------------------------------------

TEST_F(SpecialFiles, FileInputs) {
  struct Input {
    std::string name, args_before, args_after;  // the command is args_before + PATH + args_after
    fs::path link_to;
  };
  const std::vector<Input> inputs = {
      {"logits_tokens", "logits builtin --out out.bin --tokens ", "", dir / "tokens.txt"},
      {"ppl_tokens", "ppl builtin --ctx 8 --tokens ", "", dir / "tokens.txt"},
      {"ppl_text", "ppl builtin --text ", "", builtin / "eval.txt"},
      {"quantize_in", "quantize-tensor --format int8-ch --rows 2 --cols 32 --in ", "", dir / "tensor.f32"},
      {"progress_show", "progress show --progress ", "", {}},
      {"progress_export", "progress export --progress ", "", {}},
      {"progress_reset", "progress reset --yes --progress ", "", {}},
  };
  std::ofstream(dir / "progress.json") << R"({"schema": 1, "milestones": {}})";
  for (const Input& in : inputs)
    for (Kind k : kKinds) {
      SCOPED_TRACE(in.name + " " + kind_name(k));
      const fs::path target = in.link_to.empty() ? dir / "progress.json" : in.link_to;
      const fs::path p = make(k, dir / (in.name + "-" + kind_name(k)), target);
      const QlabRun r = qlab(in.args_before + quoted(p) + in.args_after);
      if (k == Kind::Link) {
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_TRUE(fs::is_symlink(p));
      } else {
        expect_refused(r, k, p.string());
      }
      if (k == Kind::Device) {
        struct stat st {};
        ASSERT_EQ(::stat(p.c_str(), &st), 0);
        EXPECT_TRUE(S_ISCHR(st.st_mode)) << p << " was replaced";
        fs::path lock = p;
        lock += ".lock";
        EXPECT_FALSE(fs::exists(lock)) << "a lock file was made beside " << p;
      }
      if (k == Kind::Fifo) {
        EXPECT_TRUE(fs::is_fifo(p));
      }
    }
}

// ---- the model folder and what is in it -------------------------------------------------------

TEST_F(SpecialFiles, ModelFolderItself) {
  for (Kind k : kKinds) {
    SCOPED_TRACE(kind_name(k));
    const fs::path p = make(k, dir / (std::string("model-") + kind_name(k)), builtin);
    const QlabRun r = qlab("logits " + quoted(p) + " --tokens tokens.txt --out out.bin");
    if (k == Kind::Link) {
      EXPECT_EQ(r.code, 0) << r.err;
    } else if (k == Kind::Folder) {  // an empty folder: no config.json in it
      EXPECT_EQ(r.code, 1) << r.err;
      EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
    } else {
      EXPECT_EQ(r.code, 1) << r.err;
      EXPECT_NE(r.err.find("is not a folder"), std::string::npos) << r.err;
    }
  }
}

TEST_F(SpecialFiles, FilesInsideTheModelFolder) {
  struct Inside {
    std::string file, command;  // command: "logits", "info" or "generate"
  };
  const std::vector<Inside> files = {{"config.json", "info"},
                                     {"model.safetensors", "info"},
                                     {"model.safetensors", "logits"},
                                     {"tokenizer.json", "generate"},
                                     {"eval.txt", "ppl"}};
  for (const Inside& f : files)
    for (Kind k : kKinds) {
      SCOPED_TRACE(f.file + " " + f.command + " " + kind_name(k));
      const fs::path m = model_with(f.file, k, f.command);
      if (m.empty()) continue;  // no device could be made inside a folder here
      std::string args = f.command + " " + quoted(m);
      if (f.command == "logits") args += " --tokens tokens.txt --out out.bin";
      if (f.command == "generate") args += " --prompt hi -n 2";
      if (f.command == "ppl") args += " --ctx 16 --text " + quoted(m / "eval.txt");
      const QlabRun r = qlab(args);
      if (k == Kind::Link) {
        EXPECT_EQ(r.code, 0) << r.err;
      } else {
        expect_refused(r, k, (m / f.file).string());
      }
      fs::remove_all(m);
    }
}

// ---- outputs ----------------------------------------------------------------------------------

TEST_F(SpecialFiles, FileOutputs) {
  struct Output {
    std::string name, args_before;  // the command is args_before + PATH
    std::size_t bytes;              // what it writes
  };
  const std::vector<Output> outputs = {
      {"logits_out", "logits builtin --tokens tokens.txt --out ", 20 * 768 * 4},
      {"dequant_out", "quantize-tensor --format int8-ch --rows 2 --cols 32 --in tensor.f32 --dequant-out ", 2 * 32 * 4},
  };
  for (const Output& o : outputs)
    for (Kind k : kKinds) {
      SCOPED_TRACE(o.name + " " + kind_name(k));
      const fs::path target = dir / (o.name + "-target.bin");
      const fs::path p = make(k, dir / (o.name + "-" + kind_name(k)), target);
      if (k == Kind::Fifo) {
        // nobody reads: an error at once
        QlabRun r = qlab(o.args_before + quoted(p));
        EXPECT_NE(r.code, 124) << "hung";
        EXPECT_EQ(r.code, 1) << r.err;
        EXPECT_NE(r.err.find("nobody reads"), std::string::npos) << r.err;
        // a reader: the bytes arrive through the pipe. The test holds both ends open first, so
        // qlab finds a reader at once and the reader sees the end only when the test lets go.
        const int rfd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK);
        const int wfd = ::open(p.c_str(), O_WRONLY | O_NONBLOCK);
        ASSERT_GE(rfd, 0);
        ASSERT_GE(wfd, 0);
        ::fcntl(rfd, F_SETFL, 0);
        std::string got;
        std::thread reader([&] {
          char buf[65536];
          for (ssize_t n; (n = ::read(rfd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
        });
        r = qlab(o.args_before + quoted(p));
        ::close(wfd);
        reader.join();
        ::close(rfd);
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(got.size(), o.bytes);
        EXPECT_TRUE(fs::is_fifo(p));
        continue;
      }
      const QlabRun r = qlab(o.args_before + quoted(p));
      switch (k) {
        case Kind::Device: {
          EXPECT_EQ(r.code, 0) << r.err;
          struct stat st {};
          ASSERT_EQ(::stat(p.c_str(), &st), 0);
          EXPECT_TRUE(S_ISCHR(st.st_mode)) << p << " was replaced by a regular file";
          break;
        }
        case Kind::Link:
          EXPECT_EQ(r.code, 0) << r.err;
          EXPECT_TRUE(fs::is_symlink(p)) << "the link was replaced";
          EXPECT_EQ(fs::file_size(target), o.bytes);
          break;
        case Kind::Folder:
          expect_refused(r, k, p.string());
          EXPECT_TRUE(fs::is_directory(p));
          break;
        case Kind::Fifo: break;
      }
    }
}

TEST_F(SpecialFiles, EmptyOutputNameIsNamedAsSuch) {
  const QlabRun r = qlab("logits builtin --tokens tokens.txt --out ''");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("output file name is empty"), std::string::npos) << r.err;
}

// synth-model --out DIR: a link to an empty folder is written through (the model lands in the
// folder the link names and the link stays); anything but a missing path or an empty folder is
// refused at once.
TEST_F(SpecialFiles, SynthModelOut) {
  for (Kind k : kKinds) {
    SCOPED_TRACE(kind_name(k));
    const fs::path target = dir / (std::string("synth-target-") + kind_name(k));
    if (k == Kind::Link) fs::create_directories(target);
    const fs::path p = make(k, dir / (std::string("synth-") + kind_name(k)), target);
    const QlabRun r = qlab("synth-model --preset tiny --out " + quoted(p));
    if (k == Kind::Link) {
      EXPECT_EQ(r.code, 0) << r.err;
      EXPECT_TRUE(fs::is_symlink(p));
      EXPECT_TRUE(fs::exists(target / "config.json"));
    } else if (k == Kind::Folder) {
      EXPECT_EQ(r.code, 0) << r.err;  // an empty folder is a fine place for a model
      EXPECT_TRUE(fs::exists(p / "config.json"));
    } else {
      EXPECT_EQ(r.code, 1) << r.err;
      EXPECT_NE(r.err.find("not an empty folder"), std::string::npos) << r.err;
    }
  }
}

// train --out DIR and --resume DIR: a link to a folder is followed; a FIFO or a device is refused at
// once (before any training), not turned into a "cannot create directories" from deep inside.
TEST_F(SpecialFiles, TrainFolders) {
  const std::string train = "train --preset tiny --steps 1 --no-eval ";
  ASSERT_EQ(qlab(train + "--out ckpt").code, 0);
  for (Kind k : kKinds) {
    SCOPED_TRACE(kind_name(k));
    const fs::path target = dir / (std::string("out-target-") + kind_name(k));
    if (k == Kind::Link) fs::create_directories(target);
    const fs::path out = make(k, dir / (std::string("out-") + kind_name(k)), target);
    QlabRun r = qlab(train + "--out " + quoted(out));
    if (k == Kind::Link || k == Kind::Folder) {
      EXPECT_EQ(r.code, 0) << r.err;
      EXPECT_TRUE(fs::exists((k == Kind::Link ? target : out) / "trainer_state.json"));
      if (k == Kind::Link) {
        EXPECT_TRUE(fs::is_symlink(out));
      }
    } else {
      EXPECT_NE(r.code, 124) << "hung";
      EXPECT_EQ(r.code, 1) << r.err;
      EXPECT_NE(r.err.find(out.string()), std::string::npos) << r.err;
    }
    const fs::path resume = make(k, dir / (std::string("resume-") + kind_name(k)), dir / "ckpt");
    r = qlab("train --no-eval --steps 2 --out " + quoted(dir / (std::string("resumed-") + kind_name(k))) +
             " --resume " + quoted(resume));
    if (k == Kind::Link) {
      EXPECT_EQ(r.code, 0) << r.err;
    } else {
      EXPECT_NE(r.code, 124) << "hung";
      EXPECT_EQ(r.code, 1) << r.err;
      EXPECT_NE(r.err.find(resume.string()), std::string::npos) << r.err;
    }
  }
}

}  // namespace
