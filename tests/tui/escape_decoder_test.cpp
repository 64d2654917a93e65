// Escape sequences curses leaves undecoded (TERM=vt100 has no PageDown in its description; a slow
// link splits an arrow's sequence): known ones become keys, unknown ones nothing, and only an ESC
// that nothing followed becomes Esc (item 6 of the learner's report: no stray Esc cancels a job).
#include <gtest/gtest.h>

#include <string>

#include "tui/escape_decoder.h"
#include "tui/keys.h"

namespace qlab::tui {
namespace {

std::vector<int> feed_all(EscapeDecoder& d, const std::string& bytes, double t) {
  std::vector<int> out;
  for (unsigned char c : bytes)
    for (int k : d.feed(c, t)) out.push_back(k);
  return out;
}

TEST(EscapeDecoder, KnownSequencesBecomeKeys) {
  struct Case {
    const char* bytes;
    int key;
  } cases[] = {{"\x1b[6~", key::PageDown}, {"\x1b[5~", key::PageUp}, {"\x1b[1~", key::Home}, {"\x1b[4~", key::End},
               {"\x1b[7~", key::Home},     {"\x1b[8~", key::End},    {"\x1b[H", key::Home},  {"\x1b[F", key::End},
               {"\x1b[A", key::Up},        {"\x1b[B", key::Down},    {"\x1bOC", key::Right}, {"\x1bOD", key::Left},
               {"\x1b[Z", key::BackTab},   {"\x1bOP", key::F1},      {"\x1b[1;5A", key::Up}};
  for (const auto& c : cases) {
    EscapeDecoder d;
    EXPECT_EQ(feed_all(d, c.bytes, 0.0), std::vector<int>{c.key}) << c.bytes + 1;
    EXPECT_FALSE(d.pending());
    EXPECT_TRUE(d.idle(1.0).empty());
  }
}

TEST(EscapeDecoder, UnknownSequencesBecomeNothing) {
  for (const char* bytes : {"\x1b[99z", "\x1b[2~", "\x1b[3~", "\x1b[?1049h", "\x1bOx", "\x1b[200~"}) {
    EscapeDecoder d;
    EXPECT_TRUE(feed_all(d, bytes, 0.0).empty()) << bytes + 1;
    EXPECT_TRUE(d.idle(1.0).empty()) << bytes + 1;
  }
}

TEST(EscapeDecoder, PlainKeysPassThrough) {
  EscapeDecoder d;
  EXPECT_EQ(feed_all(d, "q\r\tx", 0.0), (std::vector<int>{'q', key::Enter, key::Tab, 'x'}));
}

TEST(EscapeDecoder, ALoneEscIsEscOnlyOnceNothingFollowed) {
  EscapeDecoder d;
  EXPECT_TRUE(d.feed(27, 0.0).empty());
  EXPECT_TRUE(d.pending());
  EXPECT_TRUE(d.idle(0.01).empty());  // the rest of a sequence may still come
  EXPECT_EQ(d.idle(0.0 + EscapeDecoder::kLoneEscS), std::vector<int>{key::Esc});
  EXPECT_FALSE(d.pending());
}

TEST(EscapeDecoder, EscFollowedByAKeyIsBoth) {
  EscapeDecoder d;
  EXPECT_EQ(feed_all(d, "\x1bq", 0.0), (std::vector<int>{key::Esc, 'q'}));
  EXPECT_EQ(feed_all(d, "\x1b\x1b", 1.0), std::vector<int>{key::Esc});
  EXPECT_EQ(d.idle(2.0), std::vector<int>{key::Esc});
}

TEST(EscapeDecoder, SplitSequenceWithinTheWaitIsOneKey) {
  EscapeDecoder d;
  EXPECT_TRUE(d.feed(27, 0.0).empty());
  EXPECT_TRUE(d.idle(0.02).empty());
  EXPECT_TRUE(feed_all(d, "[", 0.03).empty());
  EXPECT_EQ(feed_all(d, "6~", 0.2), std::vector<int>{key::PageDown});
}

TEST(EscapeDecoder, TheRestOfASequenceArrivingLateIsDropped) {
  EscapeDecoder d;
  d.feed(27, 0.0);
  EXPECT_EQ(d.idle(0.1), std::vector<int>{key::Esc});  // the ESC was taken as Esc by then
  // '[' 'B' a moment later are the rest of a Down arrow, not keys of their own
  EXPECT_TRUE(feed_all(d, "[B", 0.2).empty());
  // long after, '[' is just a character again
  d.feed(27, 1.0);
  EXPECT_EQ(d.idle(1.1), std::vector<int>{key::Esc});
  EXPECT_EQ(feed_all(d, "[", 5.0), std::vector<int>{'['});
}

TEST(EscapeDecoder, AStuckSequenceIsForgotten) {
  EscapeDecoder d;
  EXPECT_TRUE(feed_all(d, "\x1b[12", 0.0).empty());
  EXPECT_TRUE(d.pending());
  EXPECT_TRUE(d.idle(EscapeDecoder::kLateRestS + 0.1).empty());
  EXPECT_FALSE(d.pending());
  EXPECT_EQ(feed_all(d, "j", 1.0), std::vector<int>{'j'});
}

}  // namespace
}  // namespace qlab::tui
