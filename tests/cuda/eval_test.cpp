// Perplexity and KL-divergence computed on the device (log-softmax and NLL in kernels; only the
// per-token numbers come back) equal the CPU's to 1e-4 relative: the llama.cpp protocol with
// several windows per pass, the sliding-window protocol, and KLD against a packed quantized twin.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "cuda_test_util.h"
#include "engine/eval/perplexity.h"
#include "engine/formats/format_lookup.h"
#include "engine/quant/rtn.h"

namespace qlab::eval {
namespace {

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

TEST(EvalOnGpu, PerplexityEqualsTheCpu) {
  QLAB_REQUIRE_GPU();
  const model::Model m = model::Model::load(qlab::testing::fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(qlab::testing::fixture("models/llama/ppl_tokens.txt"));
  for (const std::int64_t stride : {std::int64_t{0}, std::int64_t{24}}) {
    PplOptions opt;
    opt.n_ctx = 64;
    opt.stride = stride;
    opt.bos = stride ? std::nullopt : std::optional<std::int32_t>(1);
    const PplResult cpu = perplexity(m, tokens, opt);
    opt.backend = &qlab::testing::gpu();
    const PplResult gpu = perplexity(m, tokens, opt);
    ASSERT_EQ(gpu.nll.count, cpu.nll.count);
    ASSERT_EQ(gpu.running_ppl.size(), cpu.running_ppl.size());
    EXPECT_LE(rel(gpu.nll.ppl(), cpu.nll.ppl()), 1e-4) << "stride " << stride;
    double worst = 0;
    for (std::size_t i = 0; i < cpu.running_ppl.size(); ++i)
      worst = std::max(worst, rel(gpu.running_ppl[i], cpu.running_ppl[i]));
    EXPECT_LE(worst, 1e-4);
    std::printf("ppl stride %ld: cpu %.6f gpu %.6f (rel %.2e, worst running %.2e, %ld tokens)\n",
                static_cast<long>(stride), cpu.nll.ppl(), gpu.nll.ppl(), rel(gpu.nll.ppl(), cpu.nll.ppl()), worst,
                static_cast<long>(cpu.nll.count));
  }
}

// A vocabulary far wider than the kernels' 256 threads, on a synthetic model.
TEST(EvalOnGpu, KlDivergenceEqualsTheCpu) {
  QLAB_REQUIRE_GPU();
  const model::Model base =
      model::Model::load(qlab::testing::synth("hd64_bf16", qlab::testing::shape(2, 512, 8, 2, 1024, 3000), io::DType::BF16));
  model::Model test = base;
  quant::fake_quantize_model(test, formats::block_format("int4-g32"), {}, Progress::none(), false, true);
  std::mt19937 rng(12);
  std::uniform_int_distribution<std::int32_t> d(0, base.vocab_size() - 1);
  std::vector<std::int32_t> tokens(700);
  for (auto& t : tokens) t = d(rng);
  PplOptions opt;
  opt.n_ctx = 128;
  opt.bos = 1;
  const KldResult cpu = kl_divergence(base, test, tokens, opt);
  opt.backend = &qlab::testing::gpu();
  const KldResult gpu = kl_divergence(base, test, tokens, opt);
  ASSERT_EQ(gpu.kld.size(), cpu.kld.size());
  EXPECT_LE(rel(gpu.mean_kld(), cpu.mean_kld()), 1e-4);
  EXPECT_LE(rel(gpu.base.nll.ppl(), cpu.base.nll.ppl()), 1e-4);
  EXPECT_LE(rel(gpu.test.nll.ppl(), cpu.test.nll.ppl()), 1e-4);
  double worst_kld = 0, worst_dp = 0;
  for (std::size_t i = 0; i < cpu.kld.size(); ++i) {
    worst_kld = std::max(worst_kld, std::fabs(gpu.kld[i] - cpu.kld[i]) / std::max(cpu.mean_kld(), 1e-12));
    worst_dp = std::max(worst_dp, std::fabs(gpu.delta_p[i] - cpu.delta_p[i]));
  }
  EXPECT_LE(worst_kld, 1e-3);
  EXPECT_LE(worst_dp, 1e-6);
  // Argmax agreement can differ only on a near tie; none in this data.
  EXPECT_EQ(gpu.same_top, cpu.same_top);
  std::printf("kld: cpu %.6e gpu %.6e (rel %.2e; worst token %.2e of the mean; dp %.1e); same top %ld/%zu\n",
              cpu.mean_kld(), gpu.mean_kld(), rel(gpu.mean_kld(), cpu.mean_kld()), worst_kld, worst_dp,
              static_cast<long>(gpu.same_top), gpu.kld.size());
}

}  // namespace
}  // namespace qlab::eval
