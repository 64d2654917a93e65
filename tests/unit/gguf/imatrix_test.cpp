// Importance matrices made by the real llama-imatrix (tests/fixtures/gguf/imatrix_real.gguf and
// .dat, the same run saved in both formats): both read; the GGUF one is rewritten byte for byte;
// the legacy values are exactly llama-imatrix's (sum / count) * ncall of the GGUF sums; the
// weights llama-quantize takes from each agree. (That those weights are llama-quantize's own is
// shown byte-exactly by the imatrix cases of llama_cpp_files_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/gguf/imatrix_file.h"
#include "gguf_fixtures.h"

namespace {

namespace fs = std::filesystem;
using namespace qlab::gguf;
using namespace qlab::gguf::testing;

TEST(Imatrix, ReadsLlamaImatrixGguf) {
  const Imatrix m = read_imatrix(fixture("imatrix_real.gguf"));
  EXPECT_FALSE(m.legacy);
  EXPECT_EQ(m.chunk_size, 64u);
  EXPECT_EQ(m.chunk_count, 6u);
  ASSERT_EQ(m.datasets.size(), 1u);
  EXPECT_GE(m.entries.size(), 16u * 7u);  // q k v o gate up down of 16 layers
  const ImatrixEntry& e = m.entries.at("blk.0.ffn_down.weight");
  EXPECT_EQ(e.columns, 512);
  EXPECT_EQ(e.matrices(), 1);
  EXPECT_EQ(e.counts[0], 6.0f * 64.0f);  // every token of 6 chunks of 64
  EXPECT_EQ(m.entries.at("blk.3.attn_q.weight").columns, 256);
  for (float s : e.sums) EXPECT_GE(s, 0.0f);
}

TEST(Imatrix, WritesTheGgufFormatByteForByte) {
  const Imatrix m = read_imatrix(fixture("imatrix_real.gguf"));
  const fs::path tmp = fs::temp_directory_path() / ("qlab_imatrix_" + std::to_string(::getpid()) + ".gguf");
  write_imatrix(tmp, m);
  EXPECT_TRUE(qlab::read_file(tmp) == qlab::read_file(fixture("imatrix_real.gguf")));
  const Imatrix back = read_imatrix(tmp);
  EXPECT_EQ(back.entries.size(), m.entries.size());
  fs::remove(tmp);
}

TEST(Imatrix, LegacyDatHoldsTheSameRun) {
  const Imatrix g = read_imatrix(fixture("imatrix_real.gguf"));
  const Imatrix d = read_imatrix(fixture("imatrix_real.dat"));
  EXPECT_TRUE(d.legacy);
  EXPECT_EQ(d.chunk_count, 6u);
  ASSERT_EQ(d.datasets.size(), 1u);
  EXPECT_EQ(d.datasets[0], g.datasets[0]);
  ASSERT_EQ(d.entries.size(), g.entries.size());
  const auto wg = importance_weights(g), wd = importance_weights(d);
  for (const auto& [name, ge] : g.entries) {
    SCOPED_TRACE(name);
    const ImatrixEntry& de = d.entries.at(name);
    ASSERT_EQ(de.sums.size(), ge.sums.size());
    // llama-imatrix: ncall = ceil(count / chunk_size); stored value = (sum / count) * ncall.
    const float count = ge.counts[0];
    const auto ncall = static_cast<std::int32_t>((static_cast<std::int64_t>(count) + g.chunk_size - 1) / g.chunk_size);
    EXPECT_EQ(de.counts[0], static_cast<float>(ncall));
    for (std::size_t i = 0; i < ge.sums.size(); ++i) {
      EXPECT_EQ(de.sums[i], (ge.sums[i] / count) * static_cast<float>(ncall)) << i;
      EXPECT_NEAR(wd.at(name)[i], wg.at(name)[i], 1e-6f * wg.at(name)[i] + 1e-30f) << i;
    }
  }
}

TEST(Imatrix, RefusesBrokenFiles) {
  const fs::path tmp = fs::temp_directory_path() / ("qlab_imatrix_bad_" + std::to_string(::getpid()));
  auto refused = [&](const std::string& bytes, const std::string& fragment) {
    qlab::write_file_atomic(tmp, bytes);
    try {
      (void)read_imatrix(tmp);
      ADD_FAILURE() << "accepted: " << fragment;
    } catch (const qlab::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  auto i32 = [](std::int32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  refused(i32(0), "legacy imatrix with 0 entries");
  refused(i32(1) + i32(1 << 30), "a name of 1073741824 bytes does not fit");
  refused(i32(1) + i32(1) + "w" + i32(1) + i32(1 << 28), "has 268435456 values, which do not fit");
  refused(i32(1) + i32(1) + "w" + i32(1), "truncated legacy imatrix");
  fs::remove(tmp);
}

}  // namespace
