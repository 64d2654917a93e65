#pragma once
// Widgets: each draws into a rectangle of a Grid and touches nothing outside it.
//   draw_box          frame with a title
//   draw_table        labs::Table with aligned columns (numbers right-aligned)
//   draw_line_chart   series as markers over y/x axes with a legend
//   draw_bar_chart    horizontal bars with eighth-cell resolution
//   draw_histogram    vertical bars with eighth-cell resolution, x range under it
//   draw_number_line  one axis per format with a mark at each representable value
//   draw_checklist    "[x] text" rows with a selection
//   draw_progress     bar + fraction, rate and time left
//   draw_dialog       centred box with wrapped text (errors, notices, confirmations)
//   block_height      rows a result block wants at a given width (results are laid out top to bottom)
#include <string>
#include <vector>

#include "labs/result.h"
#include "tui/glyphs.h"
#include "tui/grid.h"

namespace qlab::tui {

void draw_box(Grid& g, Rect r, const Glyphs& gl, const std::string& title, Style frame = Style::Frame);

// Rows the table takes at this width (cells wrap; see widgets_table.cpp).
int table_height(const labs::Table& t, int width);
void draw_table(Grid& g, Rect r, const labs::Table& t, const Glyphs& gl);

void draw_line_chart(Grid& g, Rect r, const labs::LineChart& c, const Glyphs& gl);
void draw_bar_chart(Grid& g, Rect r, const labs::BarChart& c, const Glyphs& gl);
void draw_histogram(Grid& g, Rect r, const labs::Histogram& h, const Glyphs& gl);
void draw_number_line(Grid& g, Rect r, const labs::NumberLine& n, const Glyphs& gl);

int block_height(const labs::Block& b, int width);
void draw_block(Grid& g, Rect r, const labs::Block& b, const Glyphs& gl);

struct CheckItem {
  std::string text;
  bool checked = false;
  std::string note;  // right-aligned (e.g. "ticked", "3/5")
};
void draw_checklist(Grid& g, Rect r, const std::vector<CheckItem>& items, int selected, bool focused,
                    const Glyphs& gl, int scroll = 0);

struct ProgressView {
  double fraction = 0;  // < 0: unknown (indeterminate)
  std::string label;
  double rate = 0;      // fraction per second
  double eta_s = -1;    // seconds left, < 0 unknown
  double elapsed_s = 0;
  bool cancelling = false;
};
void draw_progress(Grid& g, Rect row, const ProgressView& p, const Glyphs& gl);
std::string format_duration(double seconds);

// Returns the rectangle used.
Rect draw_dialog(Grid& g, const std::string& title, const std::string& body, const std::string& footer,
                 const Glyphs& gl, Style body_style = Style::Normal);

}  // namespace qlab::tui
