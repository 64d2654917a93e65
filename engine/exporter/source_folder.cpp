#include "engine/exporter/source_folder.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "engine/core/error.h"
#include "engine/io/quant_checkpoint.h"
#include "engine/io/strict_json.h"

namespace qlab::exporter {

namespace {

namespace fs = std::filesystem;

bool inside(const fs::path& child, const fs::path& parent) {
  auto c = child.begin(), p = parent.begin();
  for (; p != parent.end(); ++p, ++c)
    if (c == child.end() || *c != *p) return false;
  return true;
}

bool copied_file(const fs::path& p) {
  const std::string name = p.filename().string(), ext = p.extension().string();
  if (name == "config.json" || name == "hf_quant_config.json" || name == "model.safetensors.index.json" ||
      name == "quantize_config.json")
    return false;
  if (name.empty() || name[0] == '.') return false;
  return ext == ".json" || ext == ".txt" || ext == ".model" || ext == ".tiktoken" || ext == ".jinja";
}

}  // namespace

void check_source_and_out(const fs::path& model_dir, const fs::path& out_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail("{}: not a model folder (expected config.json + safetensors)", model_dir.string());
  const fs::path src = fs::weakly_canonical(fs::absolute(model_dir)), dst = fs::weakly_canonical(fs::absolute(out_dir));
  if (inside(dst, src))
    fail("--out {} is inside the source folder {}: write the checkpoint somewhere else", out_dir.string(),
         model_dir.string());
  if (inside(src, dst))
    fail("--out {} contains the source folder {}: write the checkpoint somewhere else", out_dir.string(),
         model_dir.string());
  if (const auto q = io::read_checkpoint_scheme(model_dir))
    fail("{}: the model is already quantized ({}, {}); quantize its 16- or 32-bit original", model_dir.string(),
         q->method, q->export_name());
}

nlohmann::json read_config_json(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("{}: cannot read the file", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return io::parse_json_strict(ss.str(), p.string());
}

std::vector<fs::path> copied_source_files(const fs::path& model_dir) {
  std::vector<fs::path> extra;
  for (const auto& e : fs::directory_iterator(model_dir))
    if (e.is_regular_file() && copied_file(e.path())) extra.push_back(e.path());
  std::sort(extra.begin(), extra.end());
  return extra;
}

SourceStamps::SourceStamps(const io::TensorStore& store) {
  for (const auto& f : store.files()) stamps_.push_back({f, fs::file_size(f), fs::last_write_time(f)});
}

nlohmann::json SourceStamps::to_json() const {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& s : stamps_)
    files.push_back({{"file", fs::absolute(s.path).lexically_normal().string()},
                     {"bytes", s.size},
                     {"mtime_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(s.mtime.time_since_epoch()).count()}});
  return files;
}

void SourceStamps::check_unchanged() const {
  for (const auto& s : stamps_) {
    std::error_code ec;
    const auto size = fs::file_size(s.path, ec);
    if (ec || size != s.size || fs::last_write_time(s.path, ec) != s.mtime)
      fail("{}: the file changed while it was being read; run quantize again on a source nothing writes to",
           s.path.string());
  }
}

}  // namespace qlab::exporter
