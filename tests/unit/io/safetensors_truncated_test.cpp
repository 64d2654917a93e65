// A weights file truncated while qlab has it mapped (issue 12 item 9): the store reads zeros past the
// cut instead of dying by SIGBUS, and check_intact names the damage (the forward pass over such a
// file: tests/unit/model/truncated_weights_test.cpp).
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/core/progress.h"
#include "engine/io/safetensors.h"
#include "engine/io/synth_model.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

TEST(SafetensorsTruncated, StoreReportsWhichFile) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  spec.dtype = DType::F32;
  write_synth_model(dir / "m", spec, Progress::none());
  const TensorStore store = TensorStore::open(dir / "m");
  EXPECT_NO_THROW(store.check_intact());
  std::filesystem::resize_file(dir / "m" / "model.safetensors", 4096);
  const std::vector<float> v = to_f32(store.at("model.norm.weight"));  // the last tensor: past the cut
  for (float x : v) EXPECT_EQ(x, 0.0f);
  EXPECT_THROW(store.check_intact(), Error);
}

}  // namespace
}  // namespace qlab::io
