#pragma once
// The terminal layer: starts ncurses (wide build), feeds the App keys, resizes and ticks, and copies
// the App's grid to the screen. Handles the lost terminal (SIGHUP, EIO/EBADF/hang-up on input),
// SIGTERM/SIGINT, and leaves the terminal as it found it (mouse off, cursor on) on every exit path.
#include <string>

#include "tui/app.h"

namespace qlab::tui {

struct TerminalOptions {
  std::string glyphs;  // "", "ascii" or "unicode"
  bool no_color = false;
  const char* first_frame_file = nullptr;  // when set: write the wall-clock time (ns) of the first frame
};

// Fills the terminal facts that do not need curses (TERM, locale, codeset, NO_COLOR, LINES/COLUMNS).
// Calls setlocale(LC_ALL, "").
TerminalInfo probe_terminal(const TerminalOptions& opt);

// Runs the tutor until the learner quits or the terminal goes away. Returns the exit code.
int run_terminal(AppEnv env, const TerminalOptions& opt);

}  // namespace qlab::tui
