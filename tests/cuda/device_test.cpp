// Choosing the device and its faults: auto takes a usable GPU and says where; without one, auto is
// the CPU (quietly when there is no GPU at all) and --device cuda is a one-line error with the
// reason; running out of GPU memory is an Error naming the size, after which the backend still works.
#include <gtest/gtest.h>

#include <string>

#include "cuda_test_util.h"
#include "engine/core/error.h"
#include "engine/model/forward.h"

namespace qlab::model {
namespace {

TEST(Device, AutoPicksTheGpuOrSaysWhyNot) {
  const auto& d = cuda::probe();
  const BackendChoice c = make_backend(Device::Auto);
  EXPECT_EQ(c.gpu, d.usable);
  if (d.usable) {
    EXPECT_EQ(c.where.rfind("cuda: ", 0), 0u) << c.where;
    EXPECT_NE(c.where.find(d.name), std::string::npos);
  } else {
    EXPECT_EQ(c.backend, &cpu_backend());
    EXPECT_EQ(c.fallback.empty(), d.no_device) << c.fallback;
    try {
      make_backend(Device::Cuda);
      ADD_FAILURE() << "--device cuda without a usable GPU must fail";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(d.reason), std::string::npos) << msg;
      EXPECT_NE(msg.find("--device cpu"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(make_backend(Device::Cpu).backend, &cpu_backend());
}

TEST(Device, OutOfMemoryIsAClearErrorAndTheBackendCarriesOn) {
  QLAB_REQUIRE_GPU();
  const Model m = Model::load(qlab::testing::fixture("models/llama"));
  // A KV cache of far more bytes than any GPU has (2 layers x 2 x 32 x capacity floats).
  try {
    KVCache huge(m.config(), std::int64_t{1} << 40, 0, qlab::testing::gpu());
    ADD_FAILURE() << "a " << (std::int64_t{1} << 40) << "-token KV cache must not fit";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of GPU memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MiB"), std::string::npos) << msg;
  }
  const std::vector<std::int32_t> tokens = {1, 2, 3, 4, 5};
  const auto V = static_cast<std::size_t>(m.vocab_size());
  EXPECT_LE(qlab::testing::max_row_rel_error(forward_all(m, tokens, qlab::testing::gpu()), forward_all(m, tokens), V),
            1e-4);
}

// A model whose weights do not all fit: with the weights evicted as memory runs short, a pass still
// gives the right logits (the weight cache re-uploads what it dropped).
TEST(Device, EvictedWeightsAreUploadedAgain) {
  QLAB_REQUIRE_GPU();
  const Model m = Model::load(qlab::testing::fixture("models/llama"));
  const std::vector<std::int32_t> tokens = {3, 1, 4, 1, 5, 9, 2, 6};
  const auto V = static_cast<std::size_t>(m.vocab_size());
  const auto want = forward_all(m, tokens);
  const auto first = forward_all(m, tokens, qlab::testing::gpu());
  const auto uploads = cuda::weight_stats().uploads;
  // Fill the GPU with buffers until an allocation evicts weights (at most all the free memory).
  std::vector<std::shared_ptr<float>> hog;
  const std::int64_t chunk = std::int64_t{1} << 28;  // 1 GiB of floats
  try {
    while (cuda::weight_stats().resident_bytes > 0 && hog.size() < 512) hog.push_back(qlab::testing::gpu().alloc(chunk));
  } catch (const Error&) {
    // out of memory with nothing left to evict: the weights are gone either way
  }
  hog.clear();
  const auto again = forward_all(m, tokens, qlab::testing::gpu());
  EXPECT_GT(cuda::weight_stats().uploads, uploads);
  EXPECT_LE(qlab::testing::max_row_rel_error(again, want, V), 1e-4);
  EXPECT_LE(qlab::testing::max_row_rel_error(first, want, V), 1e-4);
}

}  // namespace
}  // namespace qlab::model
