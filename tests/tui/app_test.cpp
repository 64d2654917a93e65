// The tutor core without a terminal: scripted keys and resizes, the screen read back as text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "labs/milestones.h"
#include "tests/tui/app_fixture.h"

namespace qlab::tui {
namespace {

TEST_F(AppTest, HomeShowsLabsMilestonesModelAndMachine) {
  make();
  std::string s = screen();
  EXPECT_NE(s.find("Module 3.2: Quantization & Optimization"), std::string::npos) << s;
  EXPECT_NE(s.find("Model: built-in"), std::string::npos);
  EXPECT_NE(s.find("Machine: test machine"), std::string::npos);
  EXPECT_NE(s.find("Data type exploration"), std::string::npos);
  EXPECT_NE(s.find("[ ] Data type precis"), std::string::npos) << s;
  EXPECT_NE(s.find("Milestones 0/8"), std::string::npos);
  EXPECT_NE(s.find("? help  q back  Enter open/run"), std::string::npos);  // status line from the key table
  EXPECT_EQ(grid_.height(), 24);
  EXPECT_EQ(app_->screen_name(), "home");
}

TEST_F(AppTest, VimKeysMoveAndNeverRunCommands) {
  make();
  keys({'j', 'j', 'k', 'l', 'h'});
  EXPECT_EQ(app_->screen_name(), "home");
  keys({key::Enter});
  EXPECT_EQ(app_->screen_name(), "lab02");  // j j k: second lab
  // no binding anywhere gives h/j/k/l anything but movement
  for (const auto& b : key_table()) {
    for (int k : b.keys) {
      if (k == 'h' || k == 'j' || k == 'k' || k == 'l') {
        EXPECT_TRUE(b.action == Action::Left || b.action == Action::Down || b.action == Action::Up ||
                    b.action == Action::Right);
      }
    }
  }
}

TEST_F(AppTest, RunLabOneStepRecordsProgressAndGoesBack) {
  make();
  keys({key::Enter});  // lab 1
  EXPECT_EQ(app_->screen_name(), "lab01");
  std::string s = screen();
  EXPECT_NE(s.find("Lab 1 · Data type exploration"), std::string::npos) << s;
  EXPECT_NE(s.find("The formats side by side"), std::string::npos);
  keys({'r'});
  ASSERT_TRUE(app_->wait_job(20000));
  s = screen();
  EXPECT_NE(s.find("e4m3"), std::string::npos) << s;
  EXPECT_NE(s.find("448"), std::string::npos) << s;
  keys({'h'});  // back to the steps pane
  EXPECT_NE(screen().find("[x] The formats side by side"), std::string::npos) << screen();
  // saved at once, not at exit
  labs::ProgressFile reread(dir_ / "progress.json");
  reread.load();
  EXPECT_TRUE(labs::step_done(reread, "lab01.properties"));
  EXPECT_EQ(reread.data()["last"]["lab"], "lab01");
  keys({'q'});
  EXPECT_EQ(app_->screen_name(), "home");
  EXPECT_NE(screen().find("1/5"), std::string::npos);
}

TEST_F(AppTest, TypedNumberStepTakesLettersAsText) {
  make();
  keys({key::Enter, 'G'});  // last step of lab 1: type a number
  keys({key::Enter});
  EXPECT_EQ(app_->screen_name(), "input");
  keys({'1', 'e', '-', '5', key::Enter});
  ASSERT_TRUE(app_->wait_job(20000));
  std::string s = screen();
  EXPECT_NE(s.find("1e-5 in every format"), std::string::npos) << s;
}

TEST_F(AppTest, NotAvailableStepSaysSoAndRecordsNothing) {
  make();
  keys({key::Enter, 'j', 'j', 'j', 'r'});  // lab01.model_tensor without an installed model
  ASSERT_TRUE(app_->wait_job(20000));
  std::string s = screen();
  EXPECT_NE(s.find("Not available in this build:"), std::string::npos) << s;
  EXPECT_FALSE(labs::step_done(*progress_, "lab01.model_tensor"));
}

TEST_F(AppTest, EscCancelsARunningJob) {
  make();
  keys({key::Enter, 'j', 'j', 'r'});  // the synthetic-tensor step takes a moment
  keys({key::Esc});
  ASSERT_TRUE(app_->wait_job(20000));
  std::string s = screen();
  // cancelled before it finished, or (on a very fast machine) finished first: never a crash, never both
  bool cancelled = s.find("Cancelled.") != std::string::npos;
  EXPECT_EQ(cancelled, !labs::step_done(*progress_, "lab01.synthetic")) << s;
}

TEST_F(AppTest, TickByHandTogglesAndSaves) {
  make();
  keys({'x'});
  labs::ProgressFile reread(dir_ / "progress.json");
  reread.load();
  ASSERT_TRUE(reread.milestone("m1"));
  EXPECT_TRUE(reread.milestone("m1")->done);
  EXPECT_EQ(reread.milestone("m1")->how, "ticked");
  EXPECT_NE(screen().find("[x] Data type precis"), std::string::npos);
  // Unticking asks first (item 14): any key but y keeps the tick.
  keys({'x'});
  EXPECT_EQ(app_->screen_name(), "confirm-untick");
  EXPECT_NE(screen().find("Untick"), std::string::npos) << screen();
  keys({'n'});
  EXPECT_EQ(app_->screen_name(), "home");
  EXPECT_NE(screen().find("[x] Data type precis"), std::string::npos);
  keys({'x', 'y'});
  EXPECT_NE(screen().find("[ ] Data type precis"), std::string::npos);
  labs::ProgressFile after(dir_ / "progress.json");
  after.load();
  EXPECT_FALSE(after.milestone("m1")->done);
}

TEST_F(AppTest, TooSmallSaysSoAndStillQuits) {
  make(GlyphSet::Unicode, 79, 24);
  std::string s = screen();
  EXPECT_NE(s.find("Window too small: 79x24"), std::string::npos) << s;
  EXPECT_NE(s.find("at least 80x24"), std::string::npos) << s;
  app_->resize(1, 1);
  screen();  // must not crash
  app_->resize(20, 10);
  EXPECT_NE(screen().find("too small"), std::string::npos);
  app_->resize(132, 43);
  EXPECT_NE(screen().find("Milestones"), std::string::npos);
  app_->resize(20, 10);
  keys({'q'});
  EXPECT_TRUE(app_->quit_requested());
}

TEST_F(AppTest, AsciiModeDrawsOnlyAscii) {
  make(GlyphSet::Ascii);
  keys({key::Enter, 'r'});
  ASSERT_TRUE(app_->wait_job(20000));
  for (std::string s : {screen()}) {
    for (unsigned char c : s) ASSERT_LT(c, 0x80) << s;
  }
  keys({'?'});
  for (unsigned char c : screen()) ASSERT_LT(c, 0x80);
}

TEST_F(AppTest, HelpListsEveryKeyOfTheTable) {
  make(GlyphSet::Unicode, 132, 43);
  keys({'?'});
  EXPECT_EQ(app_->screen_name(), "help");
  std::string s = screen();
  for (const auto& b : key_table()) EXPECT_NE(s.find(b.help), std::string::npos) << b.help;
  EXPECT_NE(s.find("Progress file: "), std::string::npos);
  keys({key::Esc});
  EXPECT_EQ(app_->screen_name(), "home");
}

TEST_F(AppTest, QuizExplainsTheAnswer) {
  make();
  keys({'c'});
  EXPECT_EQ(app_->screen_name(), "quiz");
  const auto& q = labs::content().quiz.front();
  // The choices are shown in this learner's own shuffled order: read the screen for a number
  // that does not carry the right answer.
  const std::string before = screen();
  const std::string right = q.choices[static_cast<std::size_t>(q.answer)].substr(0, 30);
  int wrong = -1;
  for (int d = 1; d <= static_cast<int>(q.choices.size()) && wrong < 0; ++d) {
    std::string tag = std::to_string(d) + ". ";
    auto at = before.find(tag);
    ASSERT_NE(at, std::string::npos) << before;
    if (before.compare(at + tag.size(), right.size(), right) != 0) wrong = d - 1;
  }
  ASSERT_GE(wrong, 0) << before;
  keys({'1' + wrong});
  std::string s = screen();
  EXPECT_NE(s.find("Not quite."), std::string::npos) << s;
  EXPECT_NE(s.find(q.explanation.substr(0, 30)), std::string::npos) << s;
  keys({key::Enter});
  EXPECT_NE(screen().find("2 of"), std::string::npos);
  keys({'q'});
  EXPECT_EQ(app_->screen_name(), "home");
}

TEST_F(AppTest, StudyPathTrimsStepsAndIsRemembered) {
  make();
  keys({'p', 'p'});  // standard -> deep -> quick
  EXPECT_NE(screen().find("path: quick"), std::string::npos);
  keys({key::Enter});
  std::string s = screen();
  EXPECT_EQ(s.find("The formats side by side"), std::string::npos) << s;  // quick skims lab 1
  EXPECT_NE(s.find("Where the values sit"), std::string::npos);
  labs::ProgressFile reread(dir_ / "progress.json");
  reread.load();
  EXPECT_EQ(reread.data()["settings"]["path"], "quick");
}

TEST_F(AppTest, DiagnosticsShowsTerminalAndFiles) {
  make();
  keys({'d'});
  std::string s = screen();
  EXPECT_NE(s.find("TERM: xterm-256color"), std::string::npos) << s;
  EXPECT_NE(s.find("Progress file: "), std::string::npos);
  EXPECT_NE(s.find("Window: 80x24"), std::string::npos);
}

TEST_F(AppTest, CorruptProgressNoticeIsShownAtStart) {
  fs::path p = dir_ / "bad.json";
  { std::ofstream(p) << "not json"; }
  progress_ = std::make_unique<labs::ProgressFile>(p);
  progress_->load();
  make();
  EXPECT_EQ(app_->screen_name(), "dialog");
  EXPECT_NE(screen().find("could not be read"), std::string::npos);
  keys({key::Enter});
  EXPECT_EQ(app_->screen_name(), "home");
}

}  // namespace
}  // namespace qlab::tui
