#pragma once
// One table of every character the widgets draw, in three sets decided once at start:
//   Unicode  UTF-8 locale on a capable terminal: box drawing, eighth blocks, dots
//   Linux    the Linux console: box drawing and full blocks (console fonts lack the rest)
//   Ascii    anything else (C/POSIX locale, vt100): + - | # * .
// Widgets ask this table and never embed characters; checkboxes stay "[x]"/"[ ]" in every set so the
// meaning never rests on a glyph alone.
#include <string>
#include <string_view>

namespace qlab::tui {

enum class GlyphSet { Unicode, Linux, Ascii };

struct Glyphs {
  GlyphSet set;
  const char* name;
  char32_t h, v, tl, tr, bl, br;   // box frame
  char32_t hbar[9];                // horizontal bar: 0..8 eighths of a cell
  char32_t vbar[9];                // vertical bar (histogram): 0..8 eighths
  char32_t marks[4];               // line-chart markers per series
  char32_t tick;                   // number-line mark
  char32_t axis;                   // number-line axis
  char32_t ellipsis;
  char32_t bullet;                 // current step / selection marker
  char32_t bar_empty;              // unfilled part of a progress bar
};

const Glyphs& glyphs(GlyphSet s);

// The set for a locale codeset ("UTF-8"), a TERM value, and the user's override ("", "ascii", "unicode").
GlyphSet pick_glyph_set(std::string_view codeset, std::string_view term, std::string_view force);

// Whether a locale name asks for UTF-8 ("en_US.UTF-8", "de_DE.utf8", "C.UTF-8"), case aside.
bool names_utf8(std::string_view locale_name);

}  // namespace qlab::tui
