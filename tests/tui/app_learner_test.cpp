// What a learner found in the tutor (issue 11's defects) and the long-job behaviour (settings, saved
// results, checkpoints), held on the cell grid with no terminal. Each test names the item it holds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <regex>
#include <set>

#include "labs/milestones.h"
#include "labs/step_files.h"
#include "tests/tui/app_fixture.h"

namespace qlab::tui {
namespace {

// The row of the screen holding `text` ("" when none).
std::string row_with(const std::string& screen, const std::string& text) {
  std::size_t at = screen.find(text);
  if (at == std::string::npos) return "";
  std::size_t b = screen.rfind('\n', at), e = screen.find('\n', at);
  return screen.substr(b == std::string::npos ? 0 : b + 1, e - (b == std::string::npos ? 0 : b + 1));
}

// The number printed before the right answer's text on a quiz screen ("  3. text" -> 3).
int answer_position(const std::string& screen, const labs::QuizItem& q) {
  const std::string row = row_with(screen, q.choices[static_cast<std::size_t>(q.answer)].substr(0, 30));
  std::smatch m;
  if (!std::regex_search(row, m, std::regex("([1-9])\\. "))) return 0;
  return std::stoi(m[1]);
}

void seed_quiz(labs::ProgressFile& pf, std::uint64_t seed) {
  pf.set_setting("quiz_seed", seed);
  pf.save();
}

// Item 1: the right answer is not always the first; the order is the learner's own; the score is kept.
TEST_F(AppTest, QuizShufflesTheChoicesPerLearnerAndKeepsTheScore) {
  seed_quiz(*progress_, 12345);
  make(GlyphSet::Unicode, 132, 43);
  keys({'c'});
  const auto& quiz = labs::content().quiz;
  std::vector<int> positions;
  for (const auto& q : quiz) {
    const int pos = answer_position(screen(), q);
    ASSERT_GE(pos, 1) << screen();
    positions.push_back(pos);
    keys({'0' + pos});  // answer right
    EXPECT_NE(screen().find("Right."), std::string::npos) << screen();
    keys({key::Enter});
  }
  EXPECT_GT(std::set<int>(positions.begin(), positions.end()).size(), 1u) << "every answer at one position";
  EXPECT_NE(screen().find(fmt::format("You answered {} of {} correctly", quiz.size(), quiz.size())), std::string::npos);
  labs::ProgressFile reread(dir_ / "progress.json");
  reread.load();
  const auto& saved = reread.data()["settings"]["quiz"];
  EXPECT_EQ(saved["score"], quiz.size());
  EXPECT_EQ(saved["answered"], quiz.size());
  // The same learner sees the same order again, and the last score.
  make(GlyphSet::Unicode, 132, 43);
  keys({'c'});
  EXPECT_NE(screen().find(fmt::format("Last time: {} of {} right", quiz.size(), quiz.size())), std::string::npos);
  EXPECT_EQ(answer_position(screen(), quiz.front()), positions.front());
  // Another learner (another seed) sees another order for some question.
  app_.reset();
  fs::remove(dir_ / "progress.json");
  progress_ = std::make_unique<labs::ProgressFile>(dir_ / "progress.json");
  progress_->load();
  seed_quiz(*progress_, 987654321);
  make(GlyphSet::Unicode, 132, 43);
  keys({'c'});
  std::vector<int> other;
  for (const auto& q : quiz) {
    other.push_back(answer_position(screen(), q));
    keys({'1', key::Enter});
  }
  EXPECT_NE(other, positions);
}

// Item 2: the milestone dialog says which steps count, and which do not.
TEST_F(AppTest, MilestoneDialogSaysWhichStepsCounted) {
  make_with_model(132, 43);
  keys({key::Enter});  // lab 1
  for (int i = 0; i < 4; ++i) {
    keys({'r'});
    ASSERT_TRUE(app_->wait_job(60000));
    if (i < 3) keys({'h', 'j'});
  }
  EXPECT_EQ(app_->screen_name(), "dialog");
  const std::string s = screen();
  EXPECT_NE(s.find("All 4 steps of this lab that"), std::string::npos) << s;
  EXPECT_NE(s.find("(reading or practice)"), std::string::npos) << s;
  EXPECT_EQ(s.find("Every step"), std::string::npos);
}

// Item 3: a reading step can be marked read, so every step of the module can count.
TEST_F(AppTest, ReadingStepsAreMarkedReadAndEveryStepCanBeDone) {
  make();
  keys({'G', key::Enter});  // lab 8: its first step is reading only
  EXPECT_EQ(app_->screen_name(), "lab08");
  keys({key::Tab, 'G'});
  EXPECT_NE(screen().find("marks it read"), std::string::npos) << screen();
  keys({key::Tab, key::Enter});
  EXPECT_TRUE(labs::step_done(*progress_, "lab08.objectives"));
  EXPECT_NE(screen().find("[x] What this lab teach"), std::string::npos) << screen();
  EXPECT_NE(screen().find("1/5 steps"), std::string::npos);
  keys({'q'});
  EXPECT_NE(screen().find("steps 1/30"), std::string::npos) << screen();
  // saved at once
  labs::ProgressFile reread(dir_ / "progress.json");
  reread.load();
  EXPECT_TRUE(labs::step_done(reread, "lab08.objectives"));
}

// Item 4: q during a job leaves the lab (the job runs on, its bar on the home screen); q there asks.
TEST_F(AppTest, QDuringAJobGoesHomeWithTheJobInView) {
  make_with_model();
  keys({'j', 'j', key::Enter, 'r'});  // lab 3's training: a minute or two
  ASSERT_TRUE(app_->job_running());
  keys({'q'});
  EXPECT_EQ(app_->screen_name(), "home");
  ASSERT_TRUE(wait_for_text("Lab 3 · Four training runs, live: ")) << screen();
  keys({'q'});
  EXPECT_EQ(app_->screen_name(), "confirm-quit");
  keys({'n'});
  EXPECT_FALSE(app_->quit_requested());
  EXPECT_TRUE(app_->job_running());
  keys({key::Esc});  // young job: cancelled at once
  ASSERT_TRUE(app_->wait_job(20000));
}

// Item 5: a too-small window says a job runs; q asks, then y quits; other keys do nothing unseen.
TEST_F(AppTest, TooSmallWhileAJobRunsSaysSoAndQuitsInTwoKeys) {
  make_with_model();
  keys({'j', 'j', key::Enter, 'r'});
  ASSERT_TRUE(app_->job_running());
  app_->resize(60, 20);
  std::string s = screen();
  EXPECT_NE(s.find("Running: Lab 3"), std::string::npos) << s;
  EXPECT_EQ(s.find("press q to quit"), std::string::npos) << s;
  keys({'x'});  // would tick the milestone unseen
  EXPECT_FALSE(labs::milestone_done(*progress_, "m3"));
  keys({'q'});
  EXPECT_NE(screen().find("Cancel it and quit? y: yes"), std::string::npos) << screen();
  keys({'n'});
  EXPECT_FALSE(app_->quit_requested());
  keys({'q', 'y'});
  EXPECT_TRUE(app_->quit_requested());
  ASSERT_TRUE(app_->wait_job(20000));
  // without a job, one q quits
  make();
  app_->resize(60, 20);
  EXPECT_NE(screen().find("press q to quit"), std::string::npos);
  keys({'q'});
  EXPECT_TRUE(app_->quit_requested());
}

// Item 6: Esc on a job that has run a while asks first; any key but y keeps it running.
TEST_F(AppTest, EscAsksBeforeCancellingALongJob) {
  AppEnv e = env(GlyphSet::Unicode, true);
  e.ask_before_cancel_s = 0;  // every job counts as long here
  make_with(std::move(e));
  keys({'j', 'j', key::Enter, 'r'});
  ASSERT_TRUE(app_->job_running());
  keys({key::Esc});
  EXPECT_EQ(app_->screen_name(), "confirm-cancel");
  EXPECT_NE(screen().find("progress so far is kept"), std::string::npos) << screen();
  keys({'['});  // the rest of a split escape sequence: keeps the job
  EXPECT_TRUE(app_->job_running());
  keys({key::Esc, 'y'});
  ASSERT_TRUE(app_->wait_job(20000));
  // cancelled at once, before lab 3's first run finished: nothing to continue from, and the bar says so
  // (the claim that progress is kept is tested where a run has finished: tutor_e2e_test.cpp)
  EXPECT_NE(screen().find("cancelled"), std::string::npos) << screen();
  EXPECT_EQ(screen().find("r continues it"), std::string::npos) << screen();
}

// Item 12: lab 3's live chart is in view at 80x24 while it runs, and the bar names the run.
TEST_F(AppTest, Lab3LiveChartIsInViewAndTheBarNamesTheRun) {
  make_with_model(80, 24);
  keys({'j', 'j', key::Enter, 'r'});
  ASSERT_TRUE(wait_for_text("Training loss")) << screen();
  const std::string s = screen();
  EXPECT_NE(s.find("fp32 (run 1/4) step"), std::string::npos) << s;
  keys({key::Esc});
  ASSERT_TRUE(app_->wait_job(20000));
}

// Item 13 / issue 10: a finished step reopened after a restart draws its saved result.
TEST_F(AppTest, FinishedStepReopenedAfterARestartShowsItsSavedResult) {
  make();
  keys({key::Enter, 'r'});
  ASSERT_TRUE(app_->wait_job(20000));
  make(GlyphSet::Unicode, 132, 43);  // a new session on the same files
  keys({key::Enter, key::Tab, 'G'});
  std::string s = screen();
  EXPECT_NE(s.find("Saved result of the run of"), std::string::npos) << s;
  EXPECT_EQ(s.find("Press r to run it again"), std::string::npos) << s;
  EXPECT_NE(s.find("65504"), std::string::npos) << s;  // the table it drew
  // Without the drawing (another machine, a cleaned folder) the record still says when it ran.
  labs::ModelRef m;
  m.display = "built-in";
  m.dir = dir_ / "no-model";
  fs::remove(labs::step_output_dir(dir_ / "runs", m, "lab01.properties") / "result.json");
  make(GlyphSet::Unicode, 132, 43);
  keys({key::Enter, key::Tab, 'G'});
  EXPECT_NE(screen().find("its drawing was not kept"), std::string::npos) << screen();
}

// Issue 10: a step's settings are changed on screen, kept, checked, and used by the next run.
TEST_F(AppTest, SettingsAreChangedOnScreenCheckedKeptAndUsed) {
  make_with_model(132, 43);
  keys({'j', key::Enter, 'G', 'k'});  // lab 2, perplexity (the step before its checkpoint)
  EXPECT_NE(screen().find("Settings (s changes them): Format: nvfp4 · Text: the model's held-out text"),
            std::string::npos)
      << screen();
  EXPECT_NE(screen().find("Chunks: all"), std::string::npos);
  keys({'s'});
  EXPECT_EQ(app_->screen_name(), "settings");
  keys({'j', 'j', key::Enter, key::Backspace, 'x', key::Enter});  // chunks: "x" is refused
  EXPECT_NE(screen().find("'x' is not a whole number"), std::string::npos) << screen();
  keys({key::Backspace, '4', key::Enter});
  keys({'k', 'k', 'l'});  // format: the next one in the list
  keys({'q'});
  labs::ProgressFile reread(dir_ / "progress.json");
  reread.load();
  const auto& saved = reread.data()["settings"]["params.lab02.perplexity"];
  EXPECT_EQ(saved["chunks"], "4");
  ASSERT_TRUE(saved.contains("format"));
  const std::string fmt_name = saved["format"].get<std::string>();
  EXPECT_NE(fmt_name, "nvfp4");
  EXPECT_NE(screen().find("Chunks: 4"), std::string::npos) << screen();
  keys({'r'});
  ASSERT_TRUE(app_->wait_job(60000));
  const nlohmann::json* rec = progress_->result("lab02.perplexity");
  ASSERT_TRUE(rec);
  EXPECT_EQ((*rec)["chunks"], 4);
  EXPECT_EQ((*rec)["format"], fmt_name);
  EXPECT_EQ((*rec)["settings"]["chunks"], "4");
  // Backspace in the settings puts a value back to its default
  keys({'s', 'j', 'j', key::Backspace, 'q'});
  EXPECT_NE(screen().find("Chunks: all"), std::string::npos) << screen();
}

// Issue 10: a checkpoint left by a cancelled or interrupted run is shown, and r continues it.
TEST_F(AppTest, AnInterruptedRunIsShownWithWhereItStopped) {
  labs::ModelRef m;
  m.display = "built-in";
  m.dir = builtin_dir();
  labs::write_checkpoint(labs::step_output_dir(dir_ / "runs", m, "lab02.perplexity"), {{"k", 1}}, {{"s", 2}},
                         "chunk 3 of 180");
  make_with_model(132, 43);
  keys({'j', key::Enter, 'G', 'k'});
  EXPECT_NE(screen().find("An earlier run stopped at chunk 3 of 180"), std::string::npos) << screen();
  EXPECT_NE(screen().find("r continues it"), std::string::npos) << screen();
}

// Item 15: the module's introduction and its corrections have a screen.
TEST_F(AppTest, ModuleScreenShowsEachCorrectionWithItsEvidence) {
  make(GlyphSet::Unicode, 132, 43);
  keys({'m'});
  EXPECT_EQ(app_->screen_name(), "module");
  std::string all;
  for (int i = 0; i < 20; ++i) {
    all += screen();
    keys({key::PageDown});
  }
  EXPECT_NE(all.find("Quantization stores a model's numbers in fewer bits"), std::string::npos) << all;
  for (const auto& c : labs::content().corrections) {
    EXPECT_NE(all.find(c.claim.substr(0, 40)), std::string::npos) << c.id;
  }
  EXPECT_NE(all.find("What is true: The GB10 reports 12.1."), std::string::npos) << all;
  EXPECT_NE(all.find("Evidence:"), std::string::npos);
}

// Item 17: the home screen says where jobs run, whatever GPU the machine line names.
TEST_F(AppTest, HomeSaysTheJobsRunOnTheCpu) {
  AppEnv e = env(GlyphSet::Unicode, false);
  e.machine = {"1 CPU · GPU: NVIDIA GB10, compute capability 12.1: native FP4"};
  make_with(std::move(e));
  EXPECT_NE(screen().find("jobs run on the CPU"), std::string::npos) << screen();
}

// Issue 16: the device is found on a thread after the first frame; until then the home screen says
// it is looking, then names the GPU the jobs will use.
TEST_F(AppTest, HomeNamesTheGpuOnceTheDeviceIsChosen) {
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  AppEnv e = env(GlyphSet::Unicode, false);
  e.choose_device = [released] {
    released.wait();
    model::BackendChoice c;
    c.backend = &model::cpu_backend();  // never run here: only the words are under test
    c.gpu = true;
    c.gpu_name = "NVIDIA GB10";
    return c;
  };
  make_with(std::move(e), 100, 24);
  EXPECT_NE(screen().find("looking for a GPU"), std::string::npos) << screen();
  release->set_value();
  EXPECT_TRUE(wait_for_text("jobs run on the GPU (NVIDIA GB10)", 5000)) << screen();
  EXPECT_EQ(screen().find("looking for a GPU"), std::string::npos) << screen();
}

// A GPU that auto could not use is named with the reason, and the jobs stay on the CPU.
TEST_F(AppTest, HomeSaysWhyTheGpuIsNotUsed) {
  AppEnv e = env(GlyphSet::Unicode, false);
  e.choose_device = [] {
    model::BackendChoice c;
    c.fallback = "the NVIDIA driver supports CUDA 12.4, older than this build's runtime 13.0";
    return c;
  };
  make_with(std::move(e), 160, 24);
  EXPECT_TRUE(wait_for_text("GPU not used: the NVIDIA driver supports CUDA 12.4", 5000)) << screen();
  EXPECT_NE(screen().find("jobs run on the CPU"), std::string::npos) << screen();
}

}  // namespace
}  // namespace qlab::tui
