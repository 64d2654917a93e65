// The prerequisite quiz: one question at a time, the choices in an order of this learner's own
// (content/quiz.json lists the right answer wherever it likes; a learner must not learn "it is the
// first one"), an explanation after each answer, and the score kept in the progress file.
//   settings.quiz_seed   a number drawn once per progress file: the shuffle is the same for this
//                        learner on every start (and on every machine the file travels to)
//   settings.quiz        {"score", "answered", "questions", "when"} of the last finished round
#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "labs/progress_file.h"
#include "tui/app.h"
#include "tui/widgets.h"

namespace qlab::tui {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::vector<int> App::quiz_order(std::size_t item) const {
  const auto& q = c_.quiz[item];
  std::vector<int> order(q.choices.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::uint64_t state = quiz_seed_ ^ fnv1a(q.id);
  for (std::size_t i = order.size(); i > 1; --i)
    std::swap(order[i - 1], order[static_cast<std::size_t>(splitmix64(state) % i)]);
  return order;
}

void App::open_quiz() {
  overlay_ = Overlay::Quiz;
  quiz_idx_ = 0;
  quiz_choice_ = -1;
  quiz_score_ = 0;
  quiz_answered_ = 0;
  const auto& d = env_.progress->data();
  auto s = d.find("settings");
  if (s != d.end() && s->is_object() && s->contains("quiz_seed") && (*s)["quiz_seed"].is_number_unsigned()) {
    quiz_seed_ = (*s)["quiz_seed"].get<std::uint64_t>();
  } else {
    std::random_device rd;
    quiz_seed_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    env_.progress->set_setting("quiz_seed", quiz_seed_);
    save_progress();
  }
}

void App::finish_quiz() {
  env_.progress->set_setting("quiz", {{"score", quiz_score_},
                                      {"answered", quiz_answered_},
                                      {"questions", c_.quiz.size()},
                                      {"when", labs::utc_now_iso()}});
  save_progress();
}

void App::quiz_key(Action a, int k) {
  const int n = static_cast<int>(c_.quiz.size());
  if (a == Action::Back || a == Action::Cancel) {
    overlay_ = Overlay::None;
    return;
  }
  if (quiz_idx_ >= n) return;
  const auto& item = c_.quiz[static_cast<std::size_t>(quiz_idx_)];
  const int nch = static_cast<int>(item.choices.size());
  if (quiz_choice_ < 0) {
    if (a == Action::Answer) {
      const int pick = k - '1';
      if (pick >= 0 && pick < nch) {
        quiz_choice_ = quiz_order(static_cast<std::size_t>(quiz_idx_))[static_cast<std::size_t>(pick)];
        ++quiz_answered_;
        if (quiz_choice_ == item.answer) ++quiz_score_;
      }
    }
  } else if (a == Action::Open || a == Action::Right || a == Action::Down || a == Action::PageDown) {
    ++quiz_idx_;
    quiz_choice_ = -1;
    if (quiz_idx_ >= n) finish_quiz();
  }
}

void App::render_quiz(Grid& g) {
  Rect r{2, 1, w_ - 4, h_ - 2};
  g.fill(r, U' ', Style::Normal);
  int n = static_cast<int>(c_.quiz.size());
  draw_box(g, r, *gl_, fmt::format("Check yourself: {} of {}", std::min(quiz_idx_ + 1, n), n), Style::Accent);
  Rect in = r.inset(1);
  in.x += 1;
  in.w -= 2;
  int y = in.y;
  auto put_wrapped = [&](const std::string& t, Style s, int indent) {
    for (const auto& l : wrap_text(t, in.w - indent)) {
      if (y >= in.y + in.h) return;
      g.put(in.x + indent, y++, l, s, in.w - indent);
    }
  };
  if (quiz_idx_ >= n) {
    put_wrapped(fmt::format("You answered {} of {} correctly. The score is kept with your progress.", quiz_score_,
                            quiz_answered_),
                Style::Heading, 0);
    ++y;
    put_wrapped(c_.ui_text(quiz_score_ == quiz_answered_ ? "quiz_all_right" : "quiz_some_wrong"), Style::Normal, 0);
    return;
  }
  const auto& item = c_.quiz[static_cast<std::size_t>(quiz_idx_)];
  if (quiz_idx_ == 0 && quiz_choice_ < 0) {
    const auto& d = env_.progress->data();
    if (auto s = d.find("settings"); s != d.end() && s->is_object() && s->contains("quiz") && (*s)["quiz"].is_object()) {
      const auto& last = (*s)["quiz"];
      put_wrapped(fmt::format("Last time: {} of {} right ({}).", last.value("score", 0), last.value("answered", 0),
                              last.value("when", std::string("?"))),
                  Style::Dim, 0);
      ++y;
    }
  }
  put_wrapped(item.question, Style::Heading, 0);
  ++y;
  const std::vector<int> order = quiz_order(static_cast<std::size_t>(quiz_idx_));
  for (std::size_t i = 0; i < order.size(); ++i) {
    const int orig = order[i];
    Style s = Style::Normal;
    std::string mark = "   ";
    if (quiz_choice_ >= 0) {
      if (orig == item.answer) { s = Style::Good; mark = "ok "; }
      else if (orig == quiz_choice_) { s = Style::Bad; mark = "no "; }
    }
    put_wrapped(fmt::format("{}{}. {}", mark, i + 1, item.choices[static_cast<std::size_t>(orig)]), s, 0);
  }
  ++y;
  if (quiz_choice_ < 0) {
    put_wrapped(fmt::format("Press 1-{} to answer.", item.choices.size()), Style::Dim, 0);
  } else {
    put_wrapped(quiz_choice_ == item.answer ? "Right." : "Not quite.", quiz_choice_ == item.answer ? Style::Good : Style::Bad, 0);
    put_wrapped(item.explanation, Style::Normal, 0);
    ++y;
    put_wrapped("Enter: next question", Style::Dim, 0);
  }
}

}  // namespace qlab::tui
