#include "engine/core/threads.h"

#include <atomic>
#include <numeric>
#include <thread>
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

// Batches in quick succession (as a forward pass issues them) reuse the pool's state; every one
// must still cover its range exactly once and return only when all of it is done.
TEST(Threads, BackToBackBatchesEachCoverTheirRange) {
  std::vector<int> hits(257);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n = 1 + static_cast<std::size_t>(round % 257);
    parallel_for(n, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) ++hits[i];
    });
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "round " << round << " index " << i;
    for (std::size_t i = 0; i < n; ++i) hits[i] = 0;
  }
}

// Two threads outside the pool may call parallel_for at once; their batches must not mix.
TEST(Threads, CallersOnTwoThreadsDoNotMix) {
  auto work = [](long* out) {
    for (int round = 0; round < 300; ++round) {
      std::atomic<long> sum{0};
      parallel_for(1000, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) sum.fetch_add(static_cast<long>(i));
      });
      if (sum.load() != 999L * 1000L / 2) {
        *out = sum.load();
        return;
      }
    }
    *out = 999L * 1000L / 2;
  };
  long a = 0, b = 0;
  std::thread t1(work, &a), t2(work, &b);
  t1.join();
  t2.join();
  EXPECT_EQ(a, 999L * 1000L / 2);
  EXPECT_EQ(b, 999L * 1000L / 2);
}

// Work below the hand-off threshold runs on the calling thread; work well above it is split.
TEST(Threads, SmallWorkRunsInlineLargeWorkSplits) {
  ASSERT_GT(thread_count(), 1);
  const auto caller = std::this_thread::get_id();
  const std::size_t n = 100;
  std::atomic<int> chunks{0}, elsewhere{0};
  auto body = [&](std::size_t, std::size_t) {
    chunks.fetch_add(1);
    if (std::this_thread::get_id() != caller) elsewhere.fetch_add(1);
  };
  parallel_for(n, body, grain_for_work(kMinChunkWork / static_cast<double>(n) / 2));  // half a chunk in all
  EXPECT_EQ(chunks.load(), 1);
  EXPECT_EQ(elsewhere.load(), 0);
  chunks = 0;
  parallel_for(n, body, grain_for_work(kMinChunkWork));  // one chunk's worth per item
  EXPECT_GT(chunks.load(), 1);
}

}  // namespace qlab
