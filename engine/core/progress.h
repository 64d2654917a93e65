#pragma once
// Progress reporting and cancellation for long engine jobs.
// Every long job takes a Progress& and a std::stop_token; the tutor's job runner draws the
// bar, the CLI prints one, tests pass Progress::none().
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"

namespace qlab {

class Progress {
 public:
  virtual ~Progress() = default;
  // fraction in [0, 1]; label is a few words ("layer 3/22", "chunk 12/40").
  virtual void report(double fraction, std::string_view label) = 0;
  static Progress& none();
};

// A stretch [lo, hi] of a parent's bar for one part of a job: the part's fractions are mapped into it,
// and its labels passed on (or replaced by `label` when one is given).
class ProgressPart final : public Progress {
 public:
  ProgressPart(Progress& parent, double lo, double hi, std::string label = {})
      : parent_(parent), lo_(lo), hi_(hi), label_(std::move(label)) {}
  void report(double fraction, std::string_view label) override {
    parent_.report(lo_ + (hi_ - lo_) * fraction, label_.empty() ? label : std::string_view(label_));
  }

 private:
  Progress& parent_;
  double lo_, hi_;
  std::string label_;
};

// Thrown by check_cancel() when the stop token has been requested; callers unwind cleanly.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

// The points where a long job can stop: a cancel request (Cancelled), or a memory-mapped input
// that was truncated under the job (Error naming the file; see mapped_file.h), whose bytes read
// since are zeros.
inline void check_cancel(const std::stop_token& stop) {
  if (stop.stop_requested()) throw Cancelled();
  check_mapped_inputs();
}

}  // namespace qlab
