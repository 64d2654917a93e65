#pragma once
// Shared by the suite's tests: the built-in model, its held-out text as llama.cpp's protocol tokenizes it,
// scratch folders, and the message a test gives when a generated fixture is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/eval/perplexity.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"

namespace qlab::testing {

inline std::filesystem::path builtin_dir() { return std::filesystem::path(QLAB_SOURCE_DIR) / "assets/builtin"; }
inline std::filesystem::path fixtures() { return std::filesystem::path(QLAB_SOURCE_DIR) / "tests/fixtures"; }

inline const model::Model& builtin_model() {
  static const model::Model m = model::Model::load(builtin_dir());
  return m;
}

struct BuiltinText {
  std::vector<std::int32_t> tokens;
  eval::PplOptions opt;
};

// eval.txt tokenized whole with BOS first; context 128 (the model's), BOS on every chunk.
inline const BuiltinText& builtin_text() {
  static const BuiltinText t = [] {
    BuiltinText b;
    const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
    b.tokens = tok.encode(read_file(builtin_dir() / "eval.txt"), true);
    b.opt.n_ctx = 128;
    b.opt.bos = tok.bos_id();
    return b;
  }();
  return t;
}

inline std::filesystem::path scratch(const std::string& prefix) {
  auto d = std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace qlab::testing
