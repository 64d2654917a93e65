#include "tui/terminal.h"

#include <fcntl.h>
#include <langinfo.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>
#include <ncursesw/term.h>  // tigetnum

#include "tui/escape_decoder.h"
#include "tui/glyphs.h"

namespace qlab::tui {

namespace {

// The locale name the environment asks for the character type: LC_ALL, else LC_CTYPE, else LANG
// (the first that is set and not empty, as setlocale reads them).
std::string requested_ctype_locale() {
  for (const char* var : {"LC_ALL", "LC_CTYPE", "LANG"})
    if (const char* v = std::getenv(var); v && v[0] != '\0') return v;
  return "";
}

// Signals wake the input wait through a self-pipe. A signal may be handled on any thread that does
// not block it (the BLAS library starts its threads before main), and even on the UI thread it can
// land between two waits; without the pipe the wait would sleep on, and a resize would be drawn, or
// a hang-up acted on, only when its timeout ran out.
std::atomic<int> g_signal{0};
std::atomic<bool> g_winch{false};
int g_wake_write = -1;
struct sigaction g_curses_winch {};  // curses' own SIGWINCH action (it turns the signal into KEY_RESIZE)

void wake() {
  const int saved = errno;
  const char b = 1;
  if (g_wake_write >= 0) (void)!::write(g_wake_write, &b, 1);  // full pipe: a wake-up is already pending
  errno = saved;
}

extern "C" void on_signal(int sig) {
  g_signal.store(sig);
  wake();
}

extern "C" void on_winch(int sig) {
  if (g_curses_winch.sa_flags & SA_SIGINFO) {
    if (g_curses_winch.sa_sigaction) g_curses_winch.sa_sigaction(sig, nullptr, nullptr);
  } else if (g_curses_winch.sa_handler != SIG_DFL && g_curses_winch.sa_handler != SIG_IGN) {
    g_curses_winch.sa_handler(sig);
  }
  g_winch.store(true);
  wake();
}

bool curses_handles_winch() {
  return (g_curses_winch.sa_flags & SA_SIGINFO) ? g_curses_winch.sa_sigaction != nullptr
                                                : g_curses_winch.sa_handler != SIG_DFL && g_curses_winch.sa_handler != SIG_IGN;
}

int map_key(wint_t ch, int kind) {
  if (kind == KEY_CODE_YES) {
    switch (ch) {
      case KEY_UP: return key::Up;
      case KEY_DOWN: return key::Down;
      case KEY_LEFT: return key::Left;
      case KEY_RIGHT: return key::Right;
      case KEY_PPAGE: return key::PageUp;
      case KEY_NPAGE: return key::PageDown;
      case KEY_HOME: return key::Home;
      case KEY_END: return key::End;
      case KEY_ENTER: return key::Enter;
      case KEY_BTAB: return key::BackTab;
      case KEY_BACKSPACE: return key::Backspace;
      case KEY_RESIZE: return key::Resize;
      case KEY_F(1): return key::F1;
      default: return -1;
    }
  }
  return map_plain_char(static_cast<int>(ch));
}

struct ColorMap {
  bool color = false;
  attr_t attr[10] = {};
  short pair[10] = {};
};

ColorMap setup_colors(TerminalInfo& info) {
  ColorMap m;
  // COLORS is set by start_color(); without it, ask the terminal description directly
  const int described = tigetnum(const_cast<char*>("colors"));
  info.colors = has_colors() && described > 0 ? described : 0;
  if (info.color && has_colors()) {
    start_color();
    use_default_colors();
    info.colors = COLORS;
    // Text stays on the terminal's own foreground/background; colour adds emphasis, never meaning.
    init_pair(1, COLOR_CYAN, -1);    // title, heading
    init_pair(2, COLOR_GREEN, -1);   // good
    init_pair(3, COLOR_RED, -1);     // bad
    init_pair(4, COLOR_YELLOW, -1);  // accent
    init_pair(5, COLOR_BLUE, -1);    // frame
    m.color = true;
  } else if (info.color) {
    info.color = false;
    info.color_reason = "the terminal has no colours";
  }
  auto set = [&](Style s, attr_t a, short p) {
    m.attr[static_cast<int>(s)] = a;
    m.pair[static_cast<int>(s)] = m.color ? p : 0;
  };
  set(Style::Normal, A_NORMAL, 0);
  set(Style::Title, A_BOLD, 1);
  set(Style::Heading, A_BOLD, 1);
  set(Style::Selected, A_REVERSE, 0);
  set(Style::Dim, A_NORMAL, 0);  // never dim: invisible in some tmux setups
  set(Style::Good, m.color ? A_NORMAL : A_NORMAL, 2);
  set(Style::Bad, A_BOLD, 3);
  set(Style::Accent, m.color ? A_NORMAL : A_BOLD, 4);
  set(Style::Status, A_REVERSE, 0);
  set(Style::Frame, A_NORMAL, 5);
  return m;
}

void blit(const Grid& g, const ColorMap& cm) {
  for (int y = 0; y < g.height() && y < LINES; ++y)
    for (int x = 0; x < g.width() && x < COLS; ++x) {
      const Cell& c = g.at(x, y);
      wchar_t wc[2] = {static_cast<wchar_t>(c.ch), L'\0'};
      cchar_t cc;
      int s = static_cast<int>(c.style);
      setcchar(&cc, wc, cm.attr[s], cm.pair[s], nullptr);
      mvadd_wch(y, x, &cc);  // the bottom-right cell reports ERR after drawing: harmless
    }
  wnoutrefresh(stdscr);
  doupdate();
}

void restore_terminal() {
  mousemask(0, nullptr);  // the tutor never turns the mouse on; make sure it is off whatever happened
  curs_set(1);
  endwin();
}

}  // namespace

TerminalInfo probe_terminal(const TerminalOptions& opt) {
  TerminalInfo t;
  const char* loc = std::setlocale(LC_ALL, "");
  t.locale = loc ? loc : "C (the environment's locale is not installed)";
  // Over ssh the client's LANG (say en_US.UTF-8) often names a locale the server never generated.
  // The terminal still speaks UTF-8, so keep UTF-8 characters through C.UTF-8 (built into glibc
  // 2.35+, packaged in Debian's libc-bin) rather than falling back to ASCII drawing.
  // LC_ALL fails when any category's locale is missing; the character type alone may still be fine.
  if (!loc) {
    if (const char* ctype = std::setlocale(LC_CTYPE, "")) {
      t.locale = std::string(ctype) + " (for characters; other categories' locales are not installed)";
    } else {
      const std::string asked = requested_ctype_locale();
      if (names_utf8(asked) && (std::setlocale(LC_CTYPE, "C.UTF-8") || std::setlocale(LC_CTYPE, "C.utf8")))
        t.locale = "C.UTF-8 (" + asked + " is not installed here)";
    }
  }
  t.codeset = nl_langinfo(CODESET);
  if (const char* e = std::getenv("TERM")) t.term = e;
  if (const char* e = std::getenv("LINES")) t.lines_env = e;
  if (const char* e = std::getenv("COLUMNS")) t.columns_env = e;
  t.color = true;
  if (const char* nc = std::getenv("NO_COLOR"); nc && nc[0] != '\0') {
    t.color = false;
    t.color_reason = "NO_COLOR is set";
  } else if (opt.no_color) {
    t.color = false;
    t.color_reason = "--no-color";
  }
  return t;
}

int run_terminal(AppEnv env, const TerminalOptions& opt) {
  int wake_pipe[2];
  if (::pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
    std::fprintf(stderr, "qlab: cannot start: pipe: %s\n", std::strerror(errno));
    return 1;
  }
  g_wake_write = wake_pipe[1];
  // These end the session cleanly. Installed before the screen starts, so curses leaves them to us.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGHUP, SIGTERM, SIGINT, SIGQUIT}) sigaction(s, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  set_escdelay(25);  // a lone Esc cancels quickly; Esc only ever cancels or closes, never destroys
  SCREEN* scr = newterm(nullptr, stdout, stdin);
  if (!scr) {
    std::fprintf(stderr,
                 "qlab: cannot start the screen for TERM=%s. Try TERM=xterm-256color, or install the "
                 "ncurses-term package for this terminal's description.\n",
                 env.terminal.term.empty() ? "(unset)" : env.terminal.term.c_str());
    g_wake_write = -1;
    ::close(wake_pipe[0]);
    ::close(wake_pipe[1]);
    return 1;
  }
  set_term(scr);
  // curses has installed its SIGWINCH handler by now: wrap it, so a resize also wakes the wait.
  struct sigaction winch {}, curses_winch {};
  winch.sa_handler = on_winch;
  sigemptyset(&winch.sa_mask);
  sigaction(SIGWINCH, nullptr, &curses_winch);
  g_curses_winch = curses_winch;
  sigaction(SIGWINCH, &winch, nullptr);
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  curs_set(0);
  mousemask(0, nullptr);
  ColorMap cm = setup_colors(env.terminal);

  int exit_code = 0;
  {
    App app(std::move(env));
    Grid grid;
    app.resize(COLS, LINES);
    app.render(grid);
    blit(grid, cm);
    if (opt.first_frame_file) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
      if (FILE* f = std::fopen(opt.first_frame_file, "w")) {
        std::fprintf(f, "%lld\n", static_cast<long long>(ns));
        std::fclose(f);
      }
    }
    bool gone = false;
    EscapeDecoder esc;  // sequences curses did not decode (PageDown under TERM=vt100, split arrows)
    auto now_s = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
    while (!app.quit_requested()) {
      if (int sig = g_signal.load()) {
        gone = sig == SIGHUP;
        exit_code = 128 + sig;
        break;
      }
      // Wait for input or a signal: 100 ms while a job runs (progress repaint), otherwise 1 s (the
      // hardware probe's answer is picked up by tick()).
      struct pollfd pfd[2] = {{0, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
      int pr = ::poll(pfd, 2, esc.pending() ? 20 : app.job_running() ? 100 : 1000);
      if (pr < 0 && errno != EINTR) {
        gone = true;
        break;
      }
      if (pr > 0 && (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) && !(pfd[0].revents & POLLIN)) {
        gone = true;
        break;
      }
      if (pr > 0 && (pfd[1].revents & POLLIN)) {
        char drain[64];
        while (::read(wake_pipe[0], drain, sizeof drain) > 0) {
        }
      }
      if (g_winch.exchange(false) && !curses_handles_winch()) {
        // a curses without its own handler: tell it the new size (it queues KEY_RESIZE)
        struct winsize ws {};
        if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) resizeterm(ws.ws_row, ws.ws_col);
      }
      bool changed = app.tick();
      wint_t ch;
      int n = 0;
      for (;;) {
        errno = 0;
        int kind = get_wch(&ch);
        if (kind == ERR) {
          if (errno == EIO || errno == EBADF || errno == ENXIO) gone = true;
          break;
        }
        std::vector<int> ks;
        if (kind == KEY_CODE_YES) ks.push_back(map_key(ch, kind));
        else ks = esc.feed(static_cast<int>(ch), now_s());
        for (int k : ks) {
          if (k == key::Resize) {
            app.resize(COLS, LINES);
            changed = true;
          } else if (k >= 0) {
            app.handle_key(k);
            changed = true;
          }
        }
        if (++n > 64 || app.quit_requested()) break;
      }
      for (int k : esc.idle(now_s())) {
        app.handle_key(k);
        changed = true;
      }
      if (gone) break;
      // input was readable but nothing could be read: the other end hung up
      if (pr > 0 && n == 0 && (pfd[0].revents & POLLIN) && !isatty(0)) {
        gone = true;
        break;
      }
      if (app.redraw_requested()) clearok(curscr, TRUE);
      if (changed || app.job_running()) {
        app.render(grid);
        blit(grid, cm);
      }
    }
    // Cancels the job, saves progress. A job that does not stop within the bounded wait would keep
    // the process alive with no terminal (SIGHUP) or after the learner quit: end it now instead.
    if (!app.shutdown()) {
      sigaction(SIGWINCH, &curses_winch, nullptr);
      restore_terminal();
      if (!gone)
        std::fprintf(stderr, "qlab: the running job did not stop within %lld s of being cancelled; exiting without it\n",
                     static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(App::kJobStopWait).count()));
      std::_Exit(exit_code != 0 ? exit_code : 1);
    }
  }
  sigaction(SIGWINCH, &curses_winch, nullptr);
  restore_terminal();
  delscreen(scr);
  g_wake_write = -1;
  ::close(wake_pipe[0]);
  ::close(wake_pipe[1]);
  return exit_code;
}

}  // namespace qlab::tui
