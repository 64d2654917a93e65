// A step's settings (labs/params.h): the overlay that changes them, and where they are kept.
// Values live in the progress file as "settings": {"params.<step id>": {"<param>": "<value>"}}, so a
// chosen text or format is still chosen after a restart (and travels with the milestones).
//   ↑ ↓ choose a setting   ← → the previous / next value   Enter types a value   Bksp the default
#include <algorithm>

#include <fmt/format.h>

#include "tui/app.h"
#include "tui/widgets.h"

namespace qlab::tui {

namespace {

std::string settings_key_of(const std::string& step_id) { return "params." + step_id; }

const labs::Step* find_step(const std::string& id) {
  for (const auto& l : labs::all_labs())
    if (const labs::Step* s = l.find(id)) return s;
  return nullptr;
}

}  // namespace

labs::ParamValues App::chosen_params(const std::string& step_id) const {
  labs::ParamValues out;
  const auto& d = env_.progress->data();
  auto s = d.find("settings");
  if (s == d.end() || !s->is_object()) return out;
  auto p = s->find(settings_key_of(step_id));
  if (p == s->end() || !p->is_object()) return out;
  const labs::Step* step = find_step(step_id);
  for (const auto& [k, v] : p->items()) {
    if (!v.is_string() || !step) continue;
    // a value this qlab cannot use (hand-edited, or from another version) falls back to the default
    if (const labs::Param* decl = step->param(k); decl && labs::validate_param(*decl, v.get<std::string>()).empty())
      out[k] = v.get<std::string>();
  }
  return out;
}

void App::set_param(const std::string& step_id, const std::string& id, const std::string& value) {
  labs::ParamValues v = chosen_params(step_id);
  const labs::Step* step = find_step(step_id);
  const labs::Param* decl = step ? step->param(id) : nullptr;
  if (decl && value == decl->default_value) v.erase(id);
  else v[id] = value;
  env_.progress->set_setting(settings_key_of(step_id), nlohmann::json(v));
  save_progress();
  checkpoints_.erase(step_id);
}

std::string App::param_display(const labs::Step& s, const labs::Param& p, const std::string& value) const {
  const labs::LabText* lt = nullptr;
  for (const auto& l : labs::all_labs())
    if (l.find(s.id)) lt = c_.lab(l.id);
  const labs::StepText* st = lt ? lt->step(s.id) : nullptr;
  const labs::ParamText* pt = st ? st->param(p.id) : nullptr;
  if (value == p.default_value && pt && !pt->default_label.empty()) return pt->default_label;
  return value;
}

std::string App::settings_summary(const labs::Step& s) const {
  const labs::ParamValues chosen = chosen_params(s.id);
  const labs::LabText* lt = nullptr;
  for (const auto& l : labs::all_labs())
    if (l.find(s.id)) lt = c_.lab(l.id);
  const labs::StepText* st = lt ? lt->step(s.id) : nullptr;
  std::string out;
  for (const auto& p : s.params) {
    auto it = chosen.find(p.id);
    const std::string v = it == chosen.end() ? p.default_value : it->second;
    const labs::ParamText* pt = st ? st->param(p.id) : nullptr;
    out += fmt::format("{}{}: {}", out.empty() ? "" : " · ", pt ? pt->label : p.id, param_display(s, p, v));
  }
  return out;
}

void App::settings_key(Action a, int k) {
  const labs::Step* step = find_step(settings_step_);
  if (!step || step->params.empty()) {
    overlay_ = Overlay::None;
    return;
  }
  const int n = static_cast<int>(step->params.size());
  settings_sel_ = std::clamp(settings_sel_, 0, n - 1);
  const labs::Param& p = step->params[static_cast<std::size_t>(settings_sel_)];
  labs::ParamValues chosen = chosen_params(step->id);
  const std::string current = chosen.count(p.id) ? chosen[p.id] : p.default_value;
  if (editing_) {
    if (k == key::Enter) {
      std::string v = edit_text_;
      while (!v.empty() && v.back() == ' ') v.pop_back();
      if (std::string why = labs::validate_param(p, v); !why.empty()) {
        settings_error_ = why;  // stays in the editor so the value can be fixed
        return;
      }
      set_param(step->id, p.id, v);
      editing_ = false;
      settings_error_.clear();
    } else if (k == key::Esc) {
      editing_ = false;
      settings_error_.clear();
    } else if (k == key::Backspace || k == 127 || k == 8) {
      if (!edit_text_.empty()) edit_text_.pop_back();
    } else if (k >= 0x20 && k < 0x7f && edit_text_.size() < 400) {
      edit_text_ += static_cast<char>(k);
    }
    return;
  }
  settings_error_.clear();
  switch (a) {
    case Action::Back: case Action::Cancel: case Action::Settings: overlay_ = Overlay::None; break;
    case Action::Up: settings_sel_ = std::max(0, settings_sel_ - 1); break;
    case Action::Down: settings_sel_ = std::min(n - 1, settings_sel_ + 1); break;
    case Action::Left: case Action::Right: {
      const std::string v = labs::nudge_param(p, current, a == Action::Right ? 1 : -1);
      if (v != current) set_param(step->id, p.id, v);
      else if (p.kind == labs::ParamKind::File) settings_error_ = "Enter types a file name";
      break;
    }
    case Action::Open:
      editing_ = true;
      edit_text_ = current;
      break;
    case Action::Default: set_param(step->id, p.id, p.default_value); break;
    default: break;
  }
}

void App::render_settings(Grid& g) {
  const labs::Step* step = find_step(settings_step_);
  if (!step) return;
  const labs::LabText* lt = c_.lab(current_lab().id);
  const labs::StepText* st = lt ? lt->step(step->id) : nullptr;
  Rect r{2, 1, w_ - 4, h_ - 2};
  g.fill(r, U' ', Style::Normal);
  draw_box(g, r, *gl_, "Settings: " + (st ? st->title : step->id), Style::Accent);
  Rect in = r.inset(1);
  in.x += 1;
  in.w -= 2;
  const labs::ParamValues chosen = chosen_params(step->id);
  int y = in.y;
  auto put = [&](const std::string& text, Style s, int indent) {
    for (const auto& l : wrap_text(text, in.w - indent)) {
      if (y >= in.y + in.h) return;
      g.put(in.x + indent, y++, l, s, in.w - indent);
    }
  };
  for (std::size_t i = 0; i < step->params.size(); ++i) {
    const labs::Param& p = step->params[i];
    const labs::ParamText* pt = st ? st->param(p.id) : nullptr;
    const bool sel = static_cast<int>(i) == settings_sel_;
    auto it = chosen.find(p.id);
    const std::string v = it == chosen.end() ? p.default_value : it->second;
    std::string value = sel && editing_ ? edit_text_ + "_" : param_display(*step, p, v);
    std::string line = fmt::format("{} {}: {}", sel ? ">" : " ", pt ? pt->label : p.id, value);
    if (y < in.y + in.h) {
      if (sel) g.fill(Rect{in.x, y, in.w, 1}, U' ', Style::Selected);
      g.put(in.x, y++, line, sel ? Style::Selected : Style::Normal, in.w);
    }
    if (sel && pt) put(pt->help, Style::Dim, 4);
    if (sel && !settings_error_.empty()) put(settings_error_, Style::Bad, 4);
  }
  ++y;
  put(editing_ ? "Type the value; Enter keeps it, Esc leaves it as it was."
               : "Up/down: choose   left/right: previous/next value   Enter: type a value   Backspace: the default   "
                 "q: close. Settings are saved with your progress and used the next time the step runs.",
      Style::Dim, 0);
}

}  // namespace qlab::tui
