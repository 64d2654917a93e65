// Reads the real machine. Everything here is I/O; the decisions live in the pure parsers.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/sysinfo/sysinfo.h"

namespace qlab::sysinfo {

namespace {

std::optional<std::string> slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::string_view rest(path);
  while (true) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (!dir.empty()) {
      std::string candidate = dir + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    if (colon == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(colon + 1);
  }
}

struct CommandResult {
  std::string out;
  bool timed_out = false;
  int exit_code = -1;
};

// Runs argv with stdout captured and stderr discarded; kills it after `timeout`. A hung driver can
// leave nvidia-smi waiting for a long time, and the tutor must start fast regardless.
std::optional<CommandResult> run_with_timeout(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  CommandResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r.timed_out = n == 0;
      break;
    }
    ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    r.out.append(buf, static_cast<std::size_t>(got));
    if (r.out.size() > (1u << 20)) break;  // nothing sane prints this much
  }
  ::close(fds[0]);
  if (r.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace

SystemInfo detect_system() {
  std::vector<std::string> notes;

  utsname u{};
  std::string machine = ::uname(&u) == 0 ? u.machine : "";

  CpuInfo cpu;
  if (auto text = slurp("/proc/cpuinfo")) cpu = parse_cpuinfo(*text, machine);
  else {
    cpu.architecture = machine;
    notes.push_back("cannot read /proc/cpuinfo");
  }
  if (cpu.logical_cpus == 0) {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 0) cpu.logical_cpus = cpu.physical_cores = static_cast<int>(n);
  }

  MemoryInfo mem;
  if (auto text = slurp("/proc/meminfo")) mem = parse_meminfo(*text);
  if (!mem.valid) notes.push_back("cannot read MemTotal from /proc/meminfo");

  std::vector<GpuInfo> gpus;
  if (auto smi = find_on_path("nvidia-smi")) {
    auto r = run_with_timeout({*smi, "--query-gpu=name,compute_cap,memory.total", "--format=csv,noheader,nounits"},
                              std::chrono::milliseconds(2000));
    if (!r) notes.push_back("could not start nvidia-smi");
    else if (r->timed_out) notes.push_back("nvidia-smi did not answer within 2 s");
    else gpus = parse_nvidia_smi(r->out);
    if (r && !r->timed_out && gpus.empty())
      notes.push_back(fmt::format("nvidia-smi exited with status {} and listed no GPU", r->exit_code));
  }
  if (gpus.empty()) {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/driver/nvidia/gpus", ec), end;
    std::vector<std::filesystem::path> dirs;
    for (; !ec && it != end; it.increment(ec)) dirs.push_back(it->path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs)
      if (auto text = slurp(d / "information"))
        if (auto g = parse_driver_information(*text)) gpus.push_back(std::move(*g));
  }

  auto s = assemble_system(std::move(cpu), mem, std::move(gpus));
  s.notes = std::move(notes);
  return s;
}

}  // namespace qlab::sysinfo
