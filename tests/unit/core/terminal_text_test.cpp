#include "engine/core/terminal_text.h"

#include <gtest/gtest.h>

namespace qlab {
namespace {

TEST(TerminalSafe, PrintableTextAndUtf8AreKept) {
  EXPECT_EQ(terminal_safe("plain text 1.0e-3 [x] {}"), "plain text 1.0e-3 [x] {}");
  EXPECT_EQ(terminal_safe("\xE2\x96\x81 \xC3\xA9 \xF0\x9F\x99\x82"), "\xE2\x96\x81 \xC3\xA9 \xF0\x9F\x99\x82");  // ▁ é 🙂
  EXPECT_EQ(terminal_safe(std::string("\xC2\xA0", 2)), "\xC2\xA0");  // U+00A0 is past the C1 range
}

TEST(TerminalSafe, ControlCharactersAreEscaped) {
  EXPECT_EQ(terminal_safe("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
  EXPECT_EQ(terminal_safe("a\nb\tc\rd"), "a\\x0ab\\x09c\\x0dd");
  EXPECT_EQ(terminal_safe("a\nb\tc\rd", true), "a\nb\tc\\x0dd");
  EXPECT_EQ(terminal_safe(std::string("x\0y", 3)), "x\\x00y");
  EXPECT_EQ(terminal_safe("\x7f"), "\\x7f");
}

TEST(TerminalSafe, C1ControlsAndInvalidUtf8AreEscaped) {
  EXPECT_EQ(terminal_safe("\xC2\x9B" "31m"), "\\u009b31m");  // CSI as a UTF-8 C1 control
  EXPECT_EQ(terminal_safe("\x9B" "31m"), "\\x9b31m");        // CSI as a lone 8-bit byte
  EXPECT_EQ(terminal_safe("\xC0\xAF"), "\\xc0\\xaf");          // overlong '/'
  EXPECT_EQ(terminal_safe("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(terminal_safe("\xE2\x96"), "\\xe2\\x96");          // cut short
  EXPECT_EQ(terminal_safe("\xF4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
}

}  // namespace
}  // namespace qlab
