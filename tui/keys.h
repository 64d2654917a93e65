#pragma once
// The one key table: it drives key handling, the status line and the help overlay, so the three
// cannot disagree. Key codes are the tutor's own (the terminal layer maps curses codes onto them);
// no letter command sits on h/j/k/l, which always move like the arrows.
#include <string>
#include <vector>

namespace qlab::tui {

namespace key {
constexpr int Up = 0x110000, Down = Up + 1, Left = Up + 2, Right = Up + 3, PageUp = Up + 4, PageDown = Up + 5,
              Home = Up + 6, End = Up + 7, Enter = Up + 8, Esc = Up + 9, Tab = Up + 10, BackTab = Up + 11,
              Backspace = Up + 12, Resize = Up + 13, CtrlL = Up + 14, F1 = Up + 15;
}  // namespace key

enum class Action {
  None, Up, Down, Left, Right, PageUp, PageDown, Top, Bottom, NextPane, PrevPane,
  Open, Run, Back, Cancel, Help, Glossary, Quiz, Diagnostics, Path, Tick, Hint, Redraw, Answer, Settings, Module,
  Default
};

// Where a binding applies (bit set).
enum Context : unsigned {
  Home = 1u << 0, LabScreen = 1u << 1, OverlayCtx = 1u << 2, QuizScreen = 1u << 3, AnyScreen = Home | LabScreen,
  Everywhere = Home | LabScreen | OverlayCtx | QuizScreen
};

struct KeyBinding {
  std::vector<int> keys;
  Action action;
  std::string label;  // how the status line and help write the keys: "↑↓/jk"
  std::string help;   // what it does (help overlay)
  unsigned contexts;
  std::string brief;  // a word or two for the status line; empty: not on the status line
};

const std::vector<KeyBinding>& key_table();
Action action_for(int key, unsigned context);
// "keys valid here" for the status line, as many as fit in width.
std::string status_line(unsigned context, int width);
// Key label for an action in a context ("r"), for texts such as "press r to run".
std::string key_label(Action a, unsigned context);

}  // namespace qlab::tui
