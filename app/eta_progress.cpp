#include "app/eta_progress.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace qlab::app {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
struct sigaction g_old_int, g_old_term;

extern "C" void on_interrupt(int) { g_interrupted = 1; }

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

InterruptCancels::InterruptCancels() {
  g_interrupted = 0;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptCancels::~InterruptCancels() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool InterruptCancels::requested() { return g_interrupted != 0; }

void StderrProgress::report(double fraction, std::string_view label) {
  if (!::isatty(STDERR_FILENO)) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string eta = fraction > 0.01 ? clock_text(elapsed * (1 - fraction) / fraction) : std::string("-:--");
  const int width = 24, filled = static_cast<int>(fraction * width + 0.5);
  fmt::print(stderr, "\r[{}{}] {:3.0f}% {} ETA {} {:<40.40}", std::string(static_cast<std::size_t>(filled), '#'),
             std::string(static_cast<std::size_t>(width - filled), ' '), fraction * 100, clock_text(elapsed), eta, label);
  std::fflush(stderr);
  drawn_ = true;
}

StderrProgress::~StderrProgress() {
  if (drawn_) fmt::print(stderr, "\r{:100}\r", "");
}

void EtaProgress::report(double fraction, std::string_view label) {
  if (InterruptCancels::requested()) throw Cancelled();
  StderrProgress::report(fraction, label);
}

}  // namespace qlab::app
