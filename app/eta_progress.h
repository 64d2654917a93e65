#pragma once
// The commands' progress on stderr:
//   StderrProgress    a one-line bar with the elapsed time and an ETA (from the fraction done so far),
//                     drawn only when stderr is a terminal
//   EtaProgress       the same, with Ctrl-C as a cancel for the long conversions (gguf, imatrix): while
//                     an InterruptCancels is alive, SIGINT and SIGTERM set a flag instead of killing
//                     qlab; the next report() throws Cancelled, so the job unwinds and removes what it
//                     was writing (an interrupted job leaves no partial file). Commands that stop on a
//                     signal themselves (app/signal_stop.h) use StderrProgress.
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

class StderrProgress : public Progress {
 public:
  void report(double fraction, std::string_view label) override;
  ~StderrProgress() override;

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool drawn_ = false;
};

class EtaProgress : public StderrProgress {
 public:
  // Throws Cancelled when an interrupt arrived since the last call.
  void report(double fraction, std::string_view label) override;
};

}  // namespace qlab::app
