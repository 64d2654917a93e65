// Widgets drawn into the cell grid, compared with the expected text.
#include <gtest/gtest.h>

#include <limits>

#include "tui/widgets.h"

namespace qlab::tui {
namespace {

const Glyphs& ascii = glyphs(GlyphSet::Ascii);
const Glyphs& uni = glyphs(GlyphSet::Unicode);

TEST(Grid, PutClipsAndReadsBackAsText) {
  Grid g(6, 2);
  EXPECT_EQ(g.put(1, 0, "héllo world", Style::Normal), 5);
  g.put(4, 1, "xyz", Style::Normal);
  EXPECT_EQ(g.to_text(), " héllo\n    xy\n");
  g.put(-3, 1, "abc", Style::Normal);  // off the left edge: nothing drawn
  EXPECT_EQ(g.row_text(1), "    xy");
}

TEST(Grid, WideAndControlCharactersNeverBreakTheGeometry) {
  Grid g(4, 1);
  g.put(0, 0, "a\t漢b", Style::Normal);
  EXPECT_EQ(g.row_text(0), "a??b");
}

TEST(Grid, WrapKeepsWordsAndIndentation) {
  auto lines = wrap_text("one two three four\n  indented words here", 9);
  // "indented" plus its 2 columns of indent is longer than 9, so it is cut; the rest keeps the indent
  std::vector<std::string> want = {"one two", "three", "four", "  indente", "  d words", "  here"};
  EXPECT_EQ(lines, want);
  EXPECT_EQ(truncate("abcdef", 4, U'~'), "abc~");
  EXPECT_EQ(truncate("abc", 4, U'~'), "abc");
}

TEST(Widgets, BoxWithTitle) {
  Grid g(12, 4);
  draw_box(g, g.area(), ascii, "Steps");
  EXPECT_EQ(g.to_text(), "+- Steps --+\n|          |\n|          |\n+----------+\n");
  Grid u(12, 3);
  draw_box(u, u.area(), uni, "");
  EXPECT_EQ(u.to_text(), "┌──────────┐\n│          │\n└──────────┘\n");
}

TEST(Widgets, TableAlignsNumbersRight) {
  labs::Table t;
  t.title = "Formats";
  t.header = {"format", "bits", "max"};
  t.rows = {{"e4m3", "8", "448"}, {"f16", "16", "65504"}};
  Grid g(24, 5);
  draw_table(g, g.area(), t, ascii);
  EXPECT_EQ(g.to_text(),
            "Formats\n"
            "format  bits    max\n"
            "------  ----  -----\n"
            "e4m3       8    448\n"
            "f16       16  65504\n");
  EXPECT_EQ(table_height(t, 40), 5);
}

TEST(Widgets, TableTooWideWritesEachRowAsAListNeverCuttingACell) {
  labs::Table t;
  t.header = {"name", "v"};
  t.rows = {{"a-very-long-format-name", "4278190079"}};
  Grid g(16, 4);
  draw_table(g, g.area(), t, ascii);
  EXPECT_EQ(g.to_text(), "a-very-long-form\nat-name\n  v: 4278190079\n\n");
  EXPECT_EQ(table_height(t, 16), 3);
}

// Item 11 of the learner's report: "42781900…", "0.00781…" and the f32 mantissa cut at 80x24.
TEST(Widgets, TableWrapsTextCellsAtSpacesAndKeepsEveryNumberWhole) {
  labs::Table t;
  t.header = {"format", "bits", "hex", "stored value", "error"};
  t.rows = {{"f32", "0 01111011 10011001100110011001101", "0x3dcccccd", "0.1", "1.49e-09"},
            {"bf16", "0 01111011 1001101", "0x3dcd", "0.100098", "9.77e-05"}};
  const int w = 50;
  Grid g(w, table_height(t, w));
  draw_table(g, g.area(), t, ascii);
  const std::string s = g.to_text();
  EXPECT_EQ(s.find('~'), std::string::npos) << s;  // no ellipsis anywhere
  for (const char* whole : {"0x3dcccccd", "1.49e-09", "0.100098", "10011001100110011001101", "0 01111011"})
    EXPECT_NE(s.find(whole), std::string::npos) << whole << "\n" << s;
  // the same holds for the lab's properties table at the 76 columns of an 80x24 results pane
  labs::Table p;
  p.header = {"format", "bits", "E", "M", "bias", "max", "min normal", "min subn.", "epsilon", "values"};
  p.rows = {{"f32", "32", "8", "23", "127", "3.4e+38", "1.18e-38", "1.4e-45", "1.19e-07", "4278190079"},
            {"bf16", "16", "8", "7", "127", "3.39e+38", "1.18e-38", "9.18e-41", "0.0078125", "65279"},
            {"ue4m3", "8", "4", "3", "7", "448", "0.015625", "0.00195312", "0.125", "127"}};
  Grid q(76, table_height(p, 76));
  draw_table(q, q.area(), p, ascii);
  const std::string qs = q.to_text();
  EXPECT_EQ(table_height(p, 76), 5) << qs;  // header, rule, three rows: still a table, not a list
  for (const char* whole : {"4278190079", "0.0078125", "0.00195312", "9.18e-41"})
    EXPECT_NE(qs.find(whole), std::string::npos) << whole << "\n" << qs;
}

TEST(Widgets, BarChartUsesEighthCells) {
  labs::BarChart c;
  c.title = "SQNR";
  c.unit = "dB";
  c.labels = {"a", "bb"};
  c.values = {40, 10};
  Grid g(24, 3);
  draw_bar_chart(g, g.area(), c, uni);
  // bar width = 24 - label 2 - value 5 - 3 = 14; 10/40 of 14 cells = 3.5 -> 3 full + a half cell
  EXPECT_EQ(g.to_text(), "SQNR\na  ██████████████ 40 dB\nbb ███▌           10 dB\n");
}

TEST(Widgets, HistogramScalesToTheTallestBin) {
  labs::Histogram h;
  h.title = "err";
  h.lo = -1;
  h.hi = 1;
  h.counts = {1, 4, 2, 0};
  Grid g(16, 4);  // 2 plot rows, 4 columns per bin
  draw_histogram(g, g.area(), h, ascii);
  EXPECT_EQ(g.to_text(),
            "err\n"
            "    ####\n"
            "::::########\n"
            "-1      0      1\n");
}

// Item 7: in the ASCII and Linux-console sets a nearly empty bin was drawn as a full block, as tall as
// the base of the peak; it must get the smallest mark the set has.
TEST(Widgets, HistogramNearlyEmptyBinsStaySmallInEveryGlyphSet) {
  labs::Histogram h;
  h.title = "tails";
  h.lo = -1;
  h.hi = 1;
  h.counts = {1, 1000, 1};
  for (GlyphSet set : {GlyphSet::Ascii, GlyphSet::Linux, GlyphSet::Unicode}) {
    const Glyphs& gl = glyphs(set);
    Grid wide(16, 5);  // 3 plot rows, five columns per bin
    draw_histogram(wide, wide.area(), h, gl);
    const int bottom = 3;
    // the tail bins: one cell, not the full block, and nothing above it
    const int cols = 15, x0 = (16 - cols) / 2, per = cols / 3;
    const char32_t tail = wide.at(x0, bottom).ch, peak_base = wide.at(x0 + per, bottom).ch;
    EXPECT_NE(tail, U' ') << gl.name << ": a non-empty bin never looks empty";
    EXPECT_NE(tail, gl.vbar[8]) << gl.name;
    EXPECT_EQ(peak_base, gl.vbar[8]) << gl.name;
    EXPECT_EQ(wide.at(x0, bottom - 1).ch, U' ') << gl.name;
  }
}

// Item 8: an exact result (infinite SQNR) is written out, not drawn as an empty "0 dB" bar.
TEST(Widgets, BarChartWritesAnExactValueOut) {
  labs::BarChart c;
  c.title = "SQNR";
  c.unit = "dB";
  c.labels = {"f32", "f16", "int4"};
  c.values = {std::numeric_limits<double>::infinity(), 155.0, 20.0};
  Grid g(40, 4);
  draw_bar_chart(g, g.area(), c, ascii);
  EXPECT_NE(g.row_text(1).find("exact (no error)"), std::string::npos) << g.to_text();
  EXPECT_EQ(g.row_text(1).find("dB"), std::string::npos) << g.to_text();  // not "0 dB"
  EXPECT_EQ(g.to_text().find("inf"), std::string::npos) << g.to_text();
  // the finite bars scale to the largest finite value
  EXPECT_NE(g.row_text(2).find("#"), std::string::npos);
  EXPECT_NE(g.row_text(2).find("155 dB"), std::string::npos) << g.to_text();
}

TEST(Widgets, NumberLineMarksEachValue) {
  labs::NumberLine n;
  n.title = "values";
  n.lo = -2;
  n.hi = 2;
  n.names = {"q"};
  n.values = {{-2, -1, 0, 1, 2}};
  Grid g(24, 3);
  draw_number_line(g, g.area(), n, ascii);
  // axis of 22 columns: -2 -> 0, -1 -> 5 (5.25 rounds to 5), 0 -> 11 (10.5 rounds to 11), 1 -> 16, 2 -> 21
  EXPECT_EQ(g.row_text(1), "q |----|-----|----|----|");
  EXPECT_EQ(g.row_text(2).substr(0, 4), "  -2");
}

TEST(Widgets, ChecklistShowsTicksInEveryGlyphSet) {
  std::vector<CheckItem> items = {{"first", true, "ticked"}, {"second", false, ""}};
  Grid g(22, 2);
  draw_checklist(g, g.area(), items, 1, true, ascii);
  EXPECT_EQ(g.to_text(), " [x] first      ticked\n>[ ] second\n");
  EXPECT_EQ(g.at(0, 1).style, Style::Selected);
}

TEST(Widgets, ProgressShowsFractionRateAndTimeLeft) {
  Grid g(60, 1);
  ProgressView p;
  p.fraction = 0.25;
  p.label = "e4m3";
  p.rate = 0.05;
  p.eta_s = 15;
  draw_progress(g, g.area(), p, ascii);
  // the label takes the room it needs, the bar the rest
  EXPECT_EQ(g.row_text(0), "e4m3 [#######.....................]  25%  5.0%/s  15s left");
  // a long label ("which run, which step") is kept whole while the bar keeps 16 cells
  p.label = "fp8-noscale (run 4/4) step 130/300";
  Grid w(80, 1);
  draw_progress(w, w.area(), p, ascii);
  EXPECT_TRUE(w.contains("fp8-noscale (run 4/4) step 130/300 [")) << w.row_text(0);
}

TEST(Widgets, DialogIsCentredAndWrapped) {
  Grid g(40, 9);
  Rect r = draw_dialog(g, "Oops", "the step failed: no such file", "Esc: close", ascii);
  EXPECT_EQ(r.w, 33);
  EXPECT_TRUE(g.contains("| the step failed: no such file |"));
  EXPECT_TRUE(g.contains("Oops"));
  EXPECT_TRUE(g.contains("Esc: close"));
}

TEST(Glyphs, PickedFromLocaleAndTerm) {
  EXPECT_EQ(pick_glyph_set("UTF-8", "xterm-256color", ""), GlyphSet::Unicode);
  EXPECT_EQ(pick_glyph_set("UTF-8", "screen-256color", ""), GlyphSet::Unicode);
  EXPECT_EQ(pick_glyph_set("UTF-8", "linux", ""), GlyphSet::Linux);
  EXPECT_EQ(pick_glyph_set("UTF-8", "vt100", ""), GlyphSet::Ascii);
  EXPECT_EQ(pick_glyph_set("ANSI_X3.4-1968", "xterm-256color", ""), GlyphSet::Ascii);
  EXPECT_EQ(pick_glyph_set("ANSI_X3.4-1968", "xterm", "unicode"), GlyphSet::Unicode);
  EXPECT_EQ(pick_glyph_set("UTF-8", "xterm", "ascii"), GlyphSet::Ascii);
}

TEST(Glyphs, LocaleNamesThatAskForUtf8) {
  EXPECT_TRUE(names_utf8("en_US.UTF-8"));
  EXPECT_TRUE(names_utf8("de_DE.utf8"));
  EXPECT_TRUE(names_utf8("C.UTF-8"));
  EXPECT_TRUE(names_utf8("sr_RS.UTF-8@latin"));
  EXPECT_FALSE(names_utf8("C"));
  EXPECT_FALSE(names_utf8("POSIX"));
  EXPECT_FALSE(names_utf8("en_US.ISO-8859-1"));
  EXPECT_FALSE(names_utf8(""));
}

}  // namespace
}  // namespace qlab::tui
