// A model whose weights file is truncated while qlab runs it (issue 12 item 9): the forward pass
// finishes on zeros instead of dying by SIGBUS, and the damage is an Error naming the file, from
// the cancel point every long job polls and from the CLI's final check.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/core/mapped_file.h"
#include "engine/core/progress.h"
#include "engine/io/synth_model.h"
#include "engine/model/forward.h"
#include "engine/model/model.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

TEST(SafetensorsTruncated, ForwardPassOnACutFileEndsInAnErrorNamingIt) {
  ScratchDir dir;
  SynthSpec spec;
  spec.config = synth_preset("tiny");
  spec.dtype = DType::F32;
  write_synth_model(dir / "m", spec, Progress::none());
  const auto weights = dir / "m" / "model.safetensors";

  const model::Model m = model::Model::load(dir / "m");
  const std::vector<std::int32_t> tokens = {1, 2, 3, 4};
  EXPECT_NO_THROW(check_mapped_inputs());
  std::filesystem::resize_file(weights, std::filesystem::file_size(weights) / 4);  // another program cuts it
  const std::vector<float> logits = model::forward_all(m, tokens);  // no SIGBUS
  EXPECT_EQ(logits.size(), tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  try {
    check_mapped_inputs();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(weights.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_cancel(std::stop_token{}), Error);
}

}  // namespace
}  // namespace qlab::io
