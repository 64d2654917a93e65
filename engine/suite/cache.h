#pragma once
// The suite's result cache: one JSON file per (model fingerprint, variant, measure, key), where the key
// holds everything the numbers depend on (data hash, protocol, settings). A re-run finds what is done
// and computes the rest; a run cut short resumes from its partial file (one JSON line per finished
// chunk, document or question: doubles round-trip exactly, so a resumed run prints the same digits).
//   <root>/<model fingerprint>/<variant>.<measure>.<key hash>.json      {"schema", "qlab_version", "key", "result"}
//   <root>/<model fingerprint>/<variant>.<measure>.<key hash>.partial   header line (the key), then items
//   <root>/<model fingerprint>/base.<text hash>.<protocol hash>.logits  the baseline's logits (suite_logits.h)
// Root: --cache DIR, else $XDG_CACHE_HOME/qlab/suite, else ~/.cache/qlab/suite.
// An entry written by another schema (an older qlab) or that does not parse is moved aside
// (<file>.old) with a one-line notice, and measured again: nothing is deleted.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qlab::suite {

inline constexpr int kCacheSchema = 1;

class Cache {
 public:
  using Notice = std::function<void(const std::string&)>;
  // dir = root / model fingerprint (created on first write).
  Cache(std::filesystem::path dir, Notice notice);
  static std::filesystem::path default_root();

  const std::filesystem::path& dir() const { return dir_; }
  std::optional<nlohmann::json> get(const std::string& variant, const std::string& measure, const nlohmann::json& key);
  void put(const std::string& variant, const std::string& measure, const nlohmann::json& key,
           const nlohmann::json& result);

  // Partial work of a measure: the items saved so far (each a JSON value), in order; the file is
  // started over when its key differs. append() adds one item durably; finish() removes the file.
  std::vector<nlohmann::json> partial(const std::string& variant, const std::string& measure, const nlohmann::json& key);
  void append_partial(const std::string& variant, const std::string& measure, const nlohmann::json& key,
                      const nlohmann::json& item);
  void finish_partial(const std::string& variant, const std::string& measure, const nlohmann::json& key);

  std::filesystem::path file(const std::string& variant, const std::string& measure, const nlohmann::json& key,
                             const char* ext) const;

 private:
  void move_aside(const std::filesystem::path& p, const std::string& why);
  std::filesystem::path dir_;
  Notice notice_;
};

}  // namespace qlab::suite
