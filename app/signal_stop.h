#pragma once
// SIGINT, SIGTERM and SIGHUP turned into a stop request, for commands whose job must clean up
// after itself when interrupted (synth-model's and quantize's staging folder, train's last step and
// checkpoint). While a SignalStop lives, the first
// such signal requests stop on token(); the job unwinds at its next check_cancel, cleaning up on
// the way, and the command then calls end_as_signalled() so the shell sees the usual status (128 +
// the signal). A second signal ends the process at once (the default action comes back).
#include <stop_token>
#include <string>
#include <thread>

namespace qlab::app {

class SignalStop {
 public:
  // `notice`, when given, goes to stderr as the stop is requested (what the command does before it ends).
  explicit SignalStop(std::string notice = {});
  ~SignalStop();
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  int signal() const;  // the signal that came, 0 if none
  // Restores the default action of the signal that came and raises it: does not return.
  [[noreturn]] void end_as_signalled() const;

 private:
  std::stop_source source_;
  std::string notice_;
  std::jthread watcher_;
};

}  // namespace qlab::app
