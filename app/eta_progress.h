#pragma once
// Progress for the long conversions (gguf, imatrix): a bar with elapsed time and ETA on stderr when
// it is a terminal, and Ctrl-C as a cancel. While an InterruptCancels is alive, SIGINT and SIGTERM
// set a flag instead of killing qlab; the next report() throws Cancelled, so the job unwinds and
// removes what it was writing (an interrupted job leaves no partial file).
#include <chrono>
#include <string_view>

#include "engine/core/progress.h"

namespace qlab::app {

class InterruptCancels {
 public:
  InterruptCancels();
  ~InterruptCancels();
  InterruptCancels(const InterruptCancels&) = delete;
  InterruptCancels& operator=(const InterruptCancels&) = delete;
  static bool requested();
};

class EtaProgress : public Progress {
 public:
  // Throws Cancelled when an interrupt arrived since the last call.
  void report(double fraction, std::string_view label) override;
  ~EtaProgress() override;

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool drawn_ = false;
};

}  // namespace qlab::app
