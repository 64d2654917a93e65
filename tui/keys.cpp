#include "tui/keys.h"

namespace qlab::tui {

const std::vector<KeyBinding>& key_table() {
  // Order matters twice: the first binding of a key in a context wins, and the status line shows
  // the briefs in this order as far as the width allows (most useful first).
  static const std::vector<KeyBinding> t = {
      {{'?', key::F1}, Action::Help, "?", "this help", Everywhere, "help"},
      {{'q'}, Action::Back, "q", "back (quit on the home screen)", Everywhere, "back"},
      {{key::Enter}, Action::Open, "Enter", "open the lab / run the step / close a dialog / next question", Everywhere, "open/run"},
      {{'r'}, Action::Run, "r", "run the selected step", LabScreen, "run"},
      {{key::Esc}, Action::Cancel, "Esc", "cancel the running job / close", Everywhere, "cancel"},
      {{key::Tab}, Action::NextPane, "Tab", "next pane", AnyScreen, "pane"},
      {{'x'}, Action::Tick, "x", "tick or untick the milestone by hand", AnyScreen, "tick"},
      {{'i'}, Action::Hint, "i", "show or hide the step's hint", LabScreen, "hint"},
      {{'s'}, Action::Settings, "s", "the step's settings: format, text, chunks... (saved with your progress)", LabScreen,
       "settings"},
      {{'p'}, Action::Path, "p", "next study path (quick, standard, deep dive)", Home, "path"},
      {{'w'}, Action::Glossary, "w", "words: glossary and plain-language notes", AnyScreen, "words"},
      {{'c'}, Action::Quiz, "c", "check yourself: the prerequisite quiz", Home, "quiz"},
      {{'d'}, Action::Diagnostics, "d", "diagnostics: terminal, locale, files", AnyScreen, "diag"},
      {{'m'}, Action::Module, "m", "the module: its introduction and the corrections to it", AnyScreen, "module"},
      {{'1', '2', '3', '4'}, Action::Answer, "1-4", "choose an answer", QuizScreen, "answer"},
      {{key::Up, 'k'}, Action::Up, "↑/k", "move up", Everywhere, ""},
      {{key::Down, 'j'}, Action::Down, "↓/j", "move down", Everywhere, ""},
      {{key::Left, 'h'}, Action::Left, "←/h", "left pane / previous", Everywhere, ""},
      {{key::Right, 'l'}, Action::Right, "→/l", "right pane / next", Everywhere, ""},
      {{key::PageUp}, Action::PageUp, "PgUp", "page up", Everywhere, ""},
      {{key::PageDown, ' '}, Action::PageDown, "PgDn/Space", "page down", LabScreen | OverlayCtx, ""},
      {{key::Home, 'g'}, Action::Top, "g/Home", "go to the top", Everywhere, ""},
      {{key::End, 'G'}, Action::Bottom, "G/End", "go to the bottom", Everywhere, ""},
      {{key::BackTab}, Action::PrevPane, "S-Tab", "previous pane", AnyScreen, ""},
      {{key::CtrlL}, Action::Redraw, "^L", "redraw the screen", Everywhere, ""},
      {{key::Backspace}, Action::Default, "Bksp", "settings: put the selected one back to its default", OverlayCtx, ""},
  };
  return t;
}

Action action_for(int k, unsigned context) {
  for (const auto& b : key_table()) {
    if (!(b.contexts & context)) continue;
    for (int bk : b.keys)
      if (bk == k) return b.action;
  }
  return Action::None;
}

std::string status_line(unsigned context, int width) {
  std::string out;
  int used = 0;
  for (const auto& b : key_table()) {
    if (b.brief.empty() || !(b.contexts & context)) continue;
    std::string item = b.label + " " + b.brief;
    int w = 0;
    for (unsigned char c : item)
      if ((c & 0xC0) != 0x80) ++w;
    if (used + w + (out.empty() ? 0 : 2) > width) break;
    if (!out.empty()) {
      out += "  ";
      used += 2;
    }
    out += item;
    used += w;
  }
  return out;
}

std::string key_label(Action a, unsigned context) {
  for (const auto& b : key_table())
    if (b.action == a && (b.contexts & context)) return b.label;
  return "?";
}

}  // namespace qlab::tui
