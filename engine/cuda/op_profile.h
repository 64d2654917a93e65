#pragma once
// GPU time per backend operation, for finding where a pass's time goes where no profiler is
// installed (the Spark's users rarely have Nsight): with QLAB_CUDA_PROFILE=1 in the environment,
// the CUDA backend records an event on its stream as each operation starts, and at exit prints to
// stderr, per operation, the GPU time from its start to the next operation's start, its count, and
// the host's time between the same two calls. Off (the default), mark() is one branch.
//   mark(label)    the operation `label` (a string literal) starts now on the stream
//   settle()       after a synchronisation: turns the events recorded so far into times
// The GPU time of a label includes any idle gap before the next operation's kernels start, so a
// host that cannot keep up shows as the GPU's sum exceeding its busy time; comparing the GPU and
// host columns says which side sets the pace.
#include <cuda_runtime.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace qlab::cuda {

class OpProfile {
 public:
  OpProfile();
  ~OpProfile();  // prints the table when enabled
  bool on() const { return on_; }
  void mark(const char* label, cudaStream_t s) {
    if (on_) record(label, s);
  }
  void settle() {
    if (on_) collect();
  }

 private:
  struct Mark {
    const char* label;
    cudaEvent_t ev;
    std::chrono::steady_clock::time_point host;
  };
  struct Sum {
    double gpu_ms = 0, host_ms = 0;
    long count = 0;
  };
  void record(const char* label, cudaStream_t s);
  void collect();
  bool on_ = false;
  std::vector<Mark> marks_;
  std::vector<cudaEvent_t> spare_;
  std::map<std::string, Sum> sums_;
};

}  // namespace qlab::cuda
