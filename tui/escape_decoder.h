#pragma once
// Escape sequences curses could not decode, turned into the tutor's keys -- or into nothing.
//
// curses decodes the sequences its terminal description lists. TERM=vt100 lists no PageUp,
// PageDown, Home or End, so pressing them hands the program ESC '[' '6' '~' as four characters:
// read naively, the ESC cancels the running job and the rest are stray keys. Over a slow ssh link
// an arrow key's sequence can also arrive split, its ESC alone and the rest a moment later.
// The decoder:
//   - reads CSI (ESC [ ... final) and SS3 (ESC O x) sequences and maps the known ones (arrows,
//     Home/End, PageUp/PageDown, Shift+Tab, F1); an unknown sequence becomes no key at all
//   - treats an ESC as a key only when nothing followed it within kLoneEscS
//   - drops the rest of a sequence that arrives within kLateRestS after such a lone ESC (the ESC
//     itself was already taken as Esc; what matters is that the rest does not become keys)
// Times are seconds from any fixed origin (the terminal layer passes a steady clock); tests pass
// their own.
#include <vector>

namespace qlab::tui {

class EscapeDecoder {
 public:
  static constexpr double kLoneEscS = 0.05;
  static constexpr double kLateRestS = 0.3;

  // One character as curses returned it (not a KEY_* code); the tutor keys it completes (none while
  // a sequence is open). Characters outside sequences come back through the same mapping as before.
  std::vector<int> feed(int ch, double now);
  // Called when no input is waiting: an ESC nothing followed for kLoneEscS becomes key::Esc.
  std::vector<int> idle(double now);
  // True while an ESC waits to be resolved (the caller polls again soon instead of sleeping).
  bool pending() const { return state_ != State::Ground; }

 private:
  enum class State { Ground, Esc, Csi, Ss3 };
  State state_ = State::Ground;
  bool swallow_ = false;        // the sequence being read follows a lone ESC already taken as Esc
  double esc_at_ = 0, lone_esc_at_ = -1;
  std::vector<int> params_;     // CSI numeric parameters
  int cur_ = -1;                // the parameter being read, -1 none
};

// A plain character (Enter, Tab, Backspace, printable) as a tutor key.
int map_plain_char(int ch);

}  // namespace qlab::tui
