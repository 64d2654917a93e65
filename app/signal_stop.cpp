#include "app/signal_stop.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace qlab::app {

namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
volatile std::sig_atomic_t g_signal = 0;
struct sigaction g_previous[3];

extern "C" void on_stop_signal(int sig) {
  g_signal = sig;
  // A second one is not waited for: the default action ends the process.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
}

}  // namespace

SignalStop::SignalStop(std::string notice) : notice_(std::move(notice)) {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &g_previous[i]);
  // The handler only records the signal; this thread turns it into the stop request (stop_source is
  // not async-signal-safe). 20 ms is far below the time between two cancel checks of a job.
  watcher_ = std::jthread([this](std::stop_token st) {
    while (!st.stop_requested()) {
      if (g_signal != 0) {
        if (!notice_.empty()) std::fprintf(stderr, "\n%s\n", notice_.c_str());
        source_.request_stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

SignalStop::~SignalStop() {
  watcher_.request_stop();
  watcher_.join();
  if (g_signal == 0)
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &g_previous[i], nullptr);
}

int SignalStop::signal() const { return g_signal; }

void SignalStop::end_as_signalled() const {
  const int sig = g_signal;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
  std::_Exit(128 + sig);  // a signal whose default action did not end the process
}

}  // namespace qlab::app
