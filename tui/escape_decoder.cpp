#include "tui/escape_decoder.h"

#include "tui/keys.h"

namespace qlab::tui {

int map_plain_char(int ch) {
  switch (ch) {
    case '\n': case '\r': return key::Enter;
    case 27: return key::Esc;
    case '\t': return key::Tab;
    case 12: return key::CtrlL;
    case 127: case 8: return key::Backspace;
    default: return ch;
  }
}

namespace {

// ECMA-48 CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, a final byte 0x40-0x7E.
int csi_key(int final_byte, const std::vector<int>& params) {
  const int p = params.empty() ? 0 : params[0];
  switch (final_byte) {
    case 'A': return key::Up;
    case 'B': return key::Down;
    case 'C': return key::Right;
    case 'D': return key::Left;
    case 'H': return key::Home;
    case 'F': return key::End;
    case 'Z': return key::BackTab;
    case '~':
      switch (p) {
        case 1: case 7: return key::Home;  // xterm / rxvt spellings
        case 4: case 8: return key::End;
        case 5: return key::PageUp;
        case 6: return key::PageDown;
        case 11: return key::F1;
        default: return -1;
      }
    default: return -1;
  }
}

int ss3_key(int ch) {
  switch (ch) {
    case 'A': return key::Up;
    case 'B': return key::Down;
    case 'C': return key::Right;
    case 'D': return key::Left;
    case 'H': return key::Home;
    case 'F': return key::End;
    case 'P': return key::F1;
    default: return -1;
  }
}

}  // namespace

std::vector<int> EscapeDecoder::feed(int ch, double now) {
  std::vector<int> out;
  switch (state_) {
    case State::Ground:
      if (ch == 27) {
        state_ = State::Esc;
        esc_at_ = now;
        swallow_ = false;
      } else if ((ch == '[' || ch == 'O') && lone_esc_at_ >= 0 && now - lone_esc_at_ <= kLateRestS) {
        // the rest of a sequence whose ESC came alone, too late: read it and drop it
        state_ = ch == '[' ? State::Csi : State::Ss3;
        swallow_ = true;
        esc_at_ = now;
        params_.clear();
        cur_ = -1;
      } else {
        out.push_back(map_plain_char(ch));
      }
      lone_esc_at_ = -1;
      return out;
    case State::Esc:
      if (ch == '[' || ch == 'O') {
        state_ = ch == '[' ? State::Csi : State::Ss3;
        params_.clear();
        cur_ = -1;
        return out;
      }
      // ESC then anything else: the ESC was a key of its own, and so is what follows
      state_ = State::Ground;
      out.push_back(key::Esc);
      for (int k : feed(ch, now)) out.push_back(k);
      return out;
    case State::Csi:
      if (ch >= '0' && ch <= '9') {
        cur_ = (cur_ < 0 ? 0 : cur_ * 10) + (ch - '0');
        if (cur_ > 9999) cur_ = 9999;
      } else if (ch == ';' || ch == ':') {
        params_.push_back(cur_ < 0 ? 0 : cur_);
        cur_ = -1;
      } else if (ch >= 0x20 && ch <= 0x3F) {
        // other parameter or intermediate bytes ('?', '>', ' '): part of a sequence we do not map
      } else if (ch >= 0x40 && ch <= 0x7E) {
        if (cur_ >= 0) params_.push_back(cur_);
        state_ = State::Ground;
        const int k = csi_key(ch, params_);
        if (k >= 0 && !swallow_) out.push_back(k);
        swallow_ = false;
      } else {
        // a control character inside a sequence: the sequence is broken; drop it, keep the character
        state_ = State::Ground;
        swallow_ = false;
        for (int k : feed(ch, now)) out.push_back(k);
      }
      return out;
    case State::Ss3: {
      state_ = State::Ground;
      const int k = ss3_key(ch);
      if (k >= 0 && !swallow_) out.push_back(k);
      swallow_ = false;
      return out;
    }
  }
  return out;
}

std::vector<int> EscapeDecoder::idle(double now) {
  std::vector<int> out;
  if (state_ == State::Esc && now - esc_at_ >= kLoneEscS) {
    state_ = State::Ground;
    lone_esc_at_ = now;
    out.push_back(key::Esc);
  } else if ((state_ == State::Csi || state_ == State::Ss3) && now - esc_at_ > kLateRestS) {
    state_ = State::Ground;  // a sequence that never ended: nothing of it becomes a key
    swallow_ = false;
  }
  return out;
}

}  // namespace qlab::tui
