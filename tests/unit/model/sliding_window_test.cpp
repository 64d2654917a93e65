// Models with sliding-window attention: exact inside the window (it equals full causal attention
// there, so transformers' logits still apply), a clear error past it rather than wrong logits.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/model/forward.h"
#include "engine/model/model.h"

namespace fs = std::filesystem;

namespace qlab::model {
namespace {

const fs::path kMistral = fs::path(QLAB_SOURCE_DIR) / "tests/fixtures/models/mistral";

fs::path with_window(int window) {
  fs::path dir = fs::temp_directory_path() / ("qlab-window-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(kMistral / "model.safetensors", dir / "model.safetensors");
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(kMistral / "config.json"));
  cfg["sliding_window"] = window;
  std::ofstream(dir / "config.json") << cfg.dump(2);
  return dir;
}

std::vector<std::int32_t> fixture_tokens() {
  std::ifstream in(kMistral / "tokens.txt");
  std::vector<std::int32_t> ids;
  for (int id; in >> id;) ids.push_back(id);
  return ids;
}

TEST(SlidingWindow, InsideTheWindowMatchesTransformersAndPastItIsAnError) {
  const fs::path dir = with_window(16);
  const Model m = Model::load(dir);
  const auto tokens = fixture_tokens();
  ASSERT_GE(tokens.size(), 17u);
  const int V = m.config().vocab_size;

  // the first 16 positions: logits as transformers computed them (causal: later tokens do not matter)
  std::ifstream lf(kMistral / "logits.bin", std::ios::binary);
  std::vector<float> want(16 * static_cast<std::size_t>(V));
  lf.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * 4));
  ASSERT_TRUE(lf);
  const std::vector<std::int32_t> head(tokens.begin(), tokens.begin() + 16);
  const auto got = forward_all(m, head);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t row = 0; row < 16; ++row) {
    float scale = 0, err = 0;
    for (int v = 0; v < V; ++v) {
      const std::size_t i = row * static_cast<std::size_t>(V) + static_cast<std::size_t>(v);
      scale = std::max(scale, std::abs(want[i]));
      err = std::max(err, std::abs(got[i] - want[i]));
    }
    EXPECT_LE(err, 1e-4f * scale) << "row " << row;
  }

  const std::vector<std::int32_t> over(tokens.begin(), tokens.begin() + 17);
  try {
    forward_all(m, over);
    FAIL() << "17 tokens past a 16-token window were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sliding window of 16"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qlab::model
