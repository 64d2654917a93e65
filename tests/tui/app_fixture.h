#pragma once
// The tutor core in a test: a progress file and a runs folder in a fresh temporary folder, an App on
// them, keys in and the screen out as text. The model is the built-in one (its folder from the
// source tree) or a folder that does not exist (steps needing a model say "not available").
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "tui/app.h"
#include "tests/temp_dir.h"

namespace qlab::tui {

namespace fs = std::filesystem;

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-app");
    ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
    dir_ = tmpl;
    progress_ = std::make_unique<labs::ProgressFile>(dir_ / "progress.json");
    progress_->load();
  }
  void TearDown() override {
    app_.reset();
    fs::remove_all(dir_);
  }
  static fs::path builtin_dir() { return fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin"; }
  AppEnv env(GlyphSet gs, bool with_model) {
    AppEnv e;
    e.content = &labs::content();
    e.progress = progress_.get();
    e.model.display = "built-in";
    e.model.dir = with_model ? builtin_dir() : dir_ / "no-model";
    e.builtin_dir = with_model ? builtin_dir() : fs::path();
    e.runs_dir = dir_ / "runs";
    e.machine = {"test machine · 2 CPUs"};
    e.glyph_set = gs;
    e.terminal.term = "xterm-256color";
    return e;
  }
  App& make(GlyphSet gs = GlyphSet::Unicode, int w = 80, int h = 24) { return make_with(env(gs, false), w, h); }
  App& make_with_model(int w = 80, int h = 24) { return make_with(env(GlyphSet::Unicode, true), w, h); }
  App& make_with(AppEnv e, int w = 80, int h = 24) {
    app_.reset();
    app_ = std::make_unique<App>(std::move(e));
    app_->resize(w, h);
    return *app_;
  }
  std::string screen() {
    app_->render(grid_);
    return grid_.to_text();
  }
  void keys(std::initializer_list<int> ks) {
    for (int k : ks) app_->handle_key(k);
  }
  // Ticks and redraws until `text` is on screen (a running job's partial results arrive on their
  // own time); false after the timeout.
  bool wait_for_text(const std::string& text, int timeout_ms = 20000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      app_->tick();
      if (screen().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  fs::path dir_;
  std::unique_ptr<labs::ProgressFile> progress_;
  std::unique_ptr<App> app_;
  Grid grid_;
};

}  // namespace qlab::tui
