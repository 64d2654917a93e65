#include "tui/glyphs.h"

namespace qlab::tui {

const Glyphs& glyphs(GlyphSet s) {
  static const Glyphs unicode{GlyphSet::Unicode, "unicode",
                              U'─', U'│', U'┌', U'┐', U'└', U'┘',
                              {U' ', U'▏', U'▎', U'▍', U'▌', U'▋', U'▊', U'▉', U'█'},
                              {U' ', U'▁', U'▂', U'▃', U'▄', U'▅', U'▆', U'▇', U'█'},
                              {U'●', U'○', U'◆', U'×'},
                              U'│', U'─', U'…', U'▶', U'░'};
  // Console fonts carry box drawing and the full/half blocks, not the eighths or geometric shapes.
  static const Glyphs linux_console{GlyphSet::Linux, "linux-console",
                                    U'─', U'│', U'┌', U'┐', U'└', U'┘',
                                    {U' ', U' ', U' ', U' ', U'▌', U'▌', U'▌', U'▌', U'█'},
                                    {U' ', U' ', U' ', U' ', U'▄', U'▄', U'▄', U'▄', U'█'},
                                    {U'*', U'+', U'o', U'x'},
                                    U'|', U'─', U'~', U'>', U'░'};
  static const Glyphs ascii{GlyphSet::Ascii, "ascii",
                            U'-', U'|', U'+', U'+', U'+', U'+',
                            {U' ', U' ', U' ', U' ', U'=', U'=', U'=', U'=', U'#'},
                            {U' ', U' ', U'.', U'.', U':', U':', U'|', U'|', U'#'},
                            {U'*', U'+', U'o', U'x'},
                            U'|', U'-', U'~', U'>', U'.'};
  switch (s) {
    case GlyphSet::Unicode: return unicode;
    case GlyphSet::Linux: return linux_console;
    case GlyphSet::Ascii: return ascii;
  }
  return ascii;
}

GlyphSet pick_glyph_set(std::string_view codeset, std::string_view term, std::string_view force) {
  if (force == "ascii") return GlyphSet::Ascii;
  bool utf8 = codeset == "UTF-8" || codeset == "utf8" || codeset == "UTF8";
  if (force == "unicode") return term == "linux" ? GlyphSet::Linux : GlyphSet::Unicode;
  if (!utf8) return GlyphSet::Ascii;
  if (term == "linux") return GlyphSet::Linux;
  if (term.rfind("vt1", 0) == 0 || term.rfind("vt2", 0) == 0 || term == "dumb" || term.empty()) return GlyphSet::Ascii;
  return GlyphSet::Unicode;
}

bool names_utf8(std::string_view locale_name) {
  std::string lower(locale_name);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower.find("utf-8") != std::string::npos || lower.find("utf8") != std::string::npos;
}

}  // namespace qlab::tui
