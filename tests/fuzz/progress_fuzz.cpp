// libFuzzer target for the progress file: the input is the file's bytes as found on disk.
// Properties checked beyond "no crash":
//   - loading reports trouble as qlab::Error only; a file that does not parse is moved aside byte for
//     byte and a fresh state starts; one with entries that cannot be read keeps every readable one,
//     with the original copied aside byte for byte;
//   - every reader the tutor and `qlab progress` use (milestones, results, the Markdown export)
//     accepts whatever loading let through;
//   - a tick saved on top of the file is there after a reload, and the keys it did not touch
//     (unknown ones included) come back unchanged.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "labs/content.h"
#include "labs/milestones.h"
#include "labs/progress_file.h"

namespace {

namespace fs = std::filesystem;

// One scratch folder per process, in memory when the system has one (saves fsync).
class Scratch {
 public:
  Scratch() {
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string tmpl = (base / "qlab-progress-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    dir_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }
  void empty() const {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_, ec)) fs::remove_all(e.path(), ec);
  }

 private:
  fs::path dir_;
};

void check(bool ok) {
  if (!ok) std::abort();
}

void read_everything(const qlab::labs::ProgressFile& pf) {
  using namespace qlab::labs;
  check(ProgressFile::check_schema(pf.data()).empty());
  (void)milestones_done(pf);
  for (const auto& lab : all_labs()) {
    (void)steps_done(pf, lab);
    (void)pf.milestone(lab.milestone_id);
    for (const auto& s : lab.steps) (void)pf.result(s.id);
  }
  (void)export_markdown(pf, content());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using qlab::labs::ProgressFile;
  static const Scratch scratch;
  scratch.empty();
  const fs::path file = scratch.dir() / "progress.json";
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  {
    std::ofstream(file, std::ios::binary) << bytes;
  }

  ProgressFile pf(file);
  try {
    pf.load();
  } catch (const qlab::Error&) {
    return 0;
  }
  read_everything(pf);

  // Three outcomes: loaded as it is (the file untouched); partly readable (the original kept byte
  // for byte beside it, the file rewritten with every entry that could be read); unreadable (moved
  // aside byte for byte, a fresh state).
  auto corrupt_copies = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(scratch.dir()))
      if (e.path().filename().string().rfind("progress.json.corrupt-", 0) == 0) {
        ++n;
        check(qlab::read_file(e.path()) == bytes);
      }
    return n;
  };
  const bool on_disk = fs::exists(file);
  const bool kept = on_disk && qlab::read_file(file) == bytes;
  nlohmann::json before;
  if (kept) {
    before = nlohmann::json::parse(bytes, nullptr, false);
    check(!before.is_discarded() && ProgressFile::check_schema(before).empty());
    check(corrupt_copies() == 0);
  } else if (on_disk) {
    check(corrupt_copies() == 1);
    const nlohmann::json now = nlohmann::json::parse(qlab::read_file(file), nullptr, false);
    check(!now.is_discarded() && ProgressFile::check_schema(now).empty());
    // every milestone that could be read survived, unchanged
    const nlohmann::json original = nlohmann::json::parse(bytes, nullptr, false);
    check(!original.is_discarded());
    if (auto m = original.find("milestones"); m != original.end() && m->is_object())
      for (const auto& [id, v] : m->items()) {
        const bool readable = v.is_object() && v.contains("done") && v["done"].is_boolean() &&
                              (!v.contains("when") || v["when"].is_string()) &&
                              (!v.contains("how") || v["how"].is_string());
        if (readable) check(pf.data()["milestones"].contains(id) && pf.data()["milestones"][id] == v);
      }
  } else {
    check(corrupt_copies() == 1);
    check(pf.milestone("m1") == std::nullopt);
  }
  if (pf.read_only()) return 0;  // a newer schema: shown, never written

  pf.set_milestone("m1", true, "ticked");
  try {
    pf.save();
  } catch (const qlab::Error&) {
    return 0;
  }
  ProgressFile again(file);
  again.load();
  check(again.take_notices().empty());
  read_everything(again);
  auto m1 = again.milestone("m1");
  check(m1 && m1->done && m1->how == "ticked");
  if (kept) {
    const nlohmann::json& after = again.data();
    for (const auto& [key, value] : before.items()) {
      if (key == "schema" || key == "app_version") continue;
      if (key == "milestones") {
        for (const auto& [id, v] : value.items())
          if (id != "m1") check(after["milestones"][id] == v);
      } else {
        check(after.contains(key) && after[key] == value);
      }
    }
  }
  return 0;
}
