#include "engine/cuda/op_profile.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace qlab::cuda {

OpProfile::OpProfile() {
  const char* e = std::getenv("QLAB_CUDA_PROFILE");
  on_ = e != nullptr && std::string_view(e) != "" && std::string_view(e) != "0";
}

void OpProfile::record(const char* label, cudaStream_t s) {
  cudaEvent_t ev = nullptr;
  if (!spare_.empty()) {
    ev = spare_.back();
    spare_.pop_back();
  } else if (cudaEventCreate(&ev) != cudaSuccess) {
    return;  // profiling must never fail a run
  }
  cudaEventRecord(ev, s);
  marks_.push_back({label, ev, std::chrono::steady_clock::now()});
}

// Every mark but the last has a successor: its interval is complete once the successor's event has
// happened. The last stays as the start of the next interval.
void OpProfile::collect() {
  if (marks_.size() < 2) return;
  if (cudaEventSynchronize(marks_.back().ev) != cudaSuccess) return;
  for (std::size_t i = 0; i + 1 < marks_.size(); ++i) {
    float ms = 0;
    cudaEventElapsedTime(&ms, marks_[i].ev, marks_[i + 1].ev);
    Sum& s = sums_[marks_[i].label];
    s.gpu_ms += ms;
    s.host_ms += std::chrono::duration<double, std::milli>(marks_[i + 1].host - marks_[i].host).count();
    ++s.count;
    spare_.push_back(marks_[i].ev);
  }
  marks_.erase(marks_.begin(), marks_.end() - 1);
}

OpProfile::~OpProfile() {
  if (!on_ || sums_.empty()) return;
  std::vector<std::pair<std::string, Sum>> rows(sums_.begin(), sums_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.gpu_ms > b.second.gpu_ms; });
  double gpu = 0, host = 0;
  for (const auto& r : rows) {
    gpu += r.second.gpu_ms;
    host += r.second.host_ms;
  }
  std::fprintf(stderr, "%s", fmt::format("\nGPU time per operation (QLAB_CUDA_PROFILE): {:.1f} ms on the GPU, {:.1f} ms on the host\n", gpu, host).c_str());
  std::fprintf(stderr, "%s", fmt::format("{:<28} {:>10} {:>7} {:>10} {:>10} {:>10}\n", "operation", "count", "GPU %", "GPU ms", "GPU us/op", "host us/op").c_str());
  for (const auto& [label, s] : rows)
    std::fprintf(stderr, "%s",
                 fmt::format("{:<28} {:>10} {:>6.1f}% {:>10.2f} {:>10.2f} {:>10.2f}\n", label, s.count,
                             100.0 * s.gpu_ms / std::max(gpu, 1e-9), s.gpu_ms, 1e3 * s.gpu_ms / s.count,
                             1e3 * s.host_ms / s.count)
                     .c_str());
}

}  // namespace qlab::cuda
