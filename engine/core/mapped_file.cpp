// MappedFile and the SIGBUS handler that keeps a truncated mapping from killing the process.
// The handler touches only the fixed slot table (lock-free atomics) and calls mmap / sigaction /
// raise, which are system calls; the mutex guards the owners' paths, used outside the handler.
#include "engine/core/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "engine/core/error.h"
#include "engine/core/input_file.h"

namespace qlab {

namespace {

// One slot per live mapping; far more than a sharded model opens at once. A mapping that finds no
// free slot still works, unprotected (a truncation would end the process, as without the table).
constexpr int kSlots = 1024;

enum SlotState : int { kFree = 0, kClaimed = 1, kLive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  std::atomic<std::uintptr_t> begin{0}, end{0};
  std::atomic<bool> damaged{false};
  const MappedFile* owner = nullptr;  // guarded by owners_mutex; never read by the handler
};

Slot g_slots[kSlots];
std::atomic<int> g_damaged_live{0};  // live mappings marked damaged: check_mapped_inputs' fast path
std::uintptr_t g_page = 4096;
struct sigaction g_previous {};
std::once_flag g_install_once;

[[noreturn]] void fail_truncated(const std::filesystem::path& path) {
  fail("{}: part of the file could no longer be read while qlab was using it (another program truncated or "
       "rewrote it, or the disk failed); nothing computed from it can be trusted: run again once the file is "
       "complete",
       path.string());
}

std::mutex& owners_mutex() {
  static std::mutex m;
  return m;
}

extern "C" void on_sigbus(int sig, siginfo_t* info, void* context) {
  (void)context;
  const bool fault = info && info->si_code > 0;  // <= 0: sent by kill / raise / sigqueue
  if (fault) {
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    for (Slot& s : g_slots) {
      if (s.state.load(std::memory_order_acquire) != kLive) continue;
      const std::uintptr_t b = s.begin.load(std::memory_order_relaxed), e = s.end.load(std::memory_order_relaxed);
      if (addr < b || addr >= e) continue;
      const std::uintptr_t from = addr & ~(g_page - 1);
      void* p = ::mmap(reinterpret_cast<void*>(from), e - from, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
                       -1, 0);
      if (p == MAP_FAILED) break;
      if (!s.damaged.exchange(true)) g_damaged_live.fetch_add(1);
      return;  // the read is retried and now sees zeros
    }
  }
  // Not one of ours: the action installed before ours. A fault re-executes and faults again under
  // it; a sent signal is raised again.
  ::sigaction(sig, &g_previous, nullptr);
  if (!fault) ::raise(sig);
}

void install_handler() {
  g_page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &g_previous);
}

int claim_slot(const MappedFile* owner, const std::byte* data, std::size_t size) {
  std::lock_guard<std::mutex> lock(owners_mutex());
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_slots[i];
    int expected = kFree;
    if (!s.state.compare_exchange_strong(expected, kClaimed)) continue;
    s.begin.store(reinterpret_cast<std::uintptr_t>(data), std::memory_order_relaxed);
    s.end.store(reinterpret_cast<std::uintptr_t>(data) + size, std::memory_order_relaxed);
    s.damaged.store(false);
    s.owner = owner;
    s.state.store(kLive, std::memory_order_release);
    return i;
  }
  return -1;
}

void release_slot(int i) {
  std::lock_guard<std::mutex> lock(owners_mutex());
  Slot& s = g_slots[i];
  s.state.store(kClaimed, std::memory_order_release);
  if (s.damaged.exchange(false)) g_damaged_live.fetch_sub(1);
  s.owner = nullptr;
  s.state.store(kFree, std::memory_order_release);
}

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  const InputFile in(path, ~std::uint64_t{0});  // a regular file, whatever its size
  size_ = static_cast<std::size_t>(in.size());
  if (size_ == 0) return;
  std::call_once(g_install_once, install_handler);
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, in.fd(), 0);
  if (p == MAP_FAILED) fail("{}: cannot memory-map {} bytes: {}", path.string(), size_, std::strerror(errno));
  data_ = static_cast<const std::byte*>(p);
  slot_ = claim_slot(this, data_, size_);
}

MappedFile::~MappedFile() {
  if (slot_ >= 0) release_slot(slot_);
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

bool MappedFile::intact() const { return slot_ < 0 || !g_slots[slot_].damaged.load(); }

void MappedFile::check_intact() const {
  if (!intact()) fail_truncated(path_);
}

void check_mapped_inputs() {
  if (g_damaged_live.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard<std::mutex> lock(owners_mutex());
  for (const Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == kLive && s.damaged.load() && s.owner)
      fail_truncated(s.owner->path());
}

}  // namespace qlab
