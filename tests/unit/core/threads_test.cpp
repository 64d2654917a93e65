#include "engine/core/threads.h"

#include <atomic>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace qlab {

TEST(Threads, ParallelForCoversEveryIndexOnce) {
  set_thread_count(4);
  std::vector<std::atomic<int>> hits(10007);
  parallel_for(hits.size(), [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(Threads, NestedParallelForRunsInline) {
  std::atomic<long> sum{0};
  parallel_for(8, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i)
      parallel_for(100, [&](std::size_t b2, std::size_t e2) {
        for (std::size_t j = b2; j < e2; ++j) sum.fetch_add(static_cast<long>(j));
      });
  });
  EXPECT_EQ(sum.load(), 8L * 4950L);
}

TEST(Threads, ExceptionsReachTheCaller) {
  EXPECT_THROW(parallel_for(1000, [](std::size_t b, std::size_t) {
                 if (b > 0) throw Error("boom");
               }),
               Error);
  // the pool still works afterwards
  std::atomic<int> n{0};
  parallel_for(64, [&](std::size_t b, std::size_t e) { n.fetch_add(static_cast<int>(e - b)); });
  EXPECT_EQ(n.load(), 64);
}

}  // namespace qlab
