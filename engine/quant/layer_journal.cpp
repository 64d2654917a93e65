// A calibrated quantization's finished layers on disk (layer_journal.h).
#include "engine/quant/layer_journal.h"

#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/folder_lock.h"
#include "engine/io/checkpoint_writer.h"
#include "engine/io/safetensors.h"
#include "engine/quant/layer_linears.h"

namespace qlab::quant {

namespace fs = std::filesystem;

namespace {

const char* const kJournal = "journal.json";

std::string layer_file(int layer) { return fmt::format("layer-{:05d}.safetensors", layer); }

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}

template <class T>
std::vector<T> values_of(const io::TensorRef& t, std::size_t n, const fs::path& file) {
  if (t.bytes.size() != n * sizeof(T))
    fail("{}: tensor {} holds {} bytes, {} expected; --force discards the interrupted run", file.string(), t.name,
         t.bytes.size(), n * sizeof(T));
  std::vector<T> v(n);
  if (n) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

nlohmann::json report_json(const FinishedLayer& f) {
  nlohmann::json linears = nlohmann::json::array(), searches = nlohmann::json::array();
  for (const auto& r : f.reports)
    linears.push_back({{"name", r.name}, {"rows", r.rows}, {"cols", r.cols}, {"output_error", r.output_error},
                       {"damp", r.damp}, {"damp_raises", r.damp_raises}, {"dead_columns", r.dead_columns},
                       {"seconds", r.seconds}});
  for (const auto& s : f.searches) searches.push_back({{"layer", s.layer}, {"where", s.where}, {"ratio", s.ratio}});
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& [name, q] : f.linears)
    parts.push_back({{"name", name}, {"label", q.name}, {"rows", q.rows}, {"cols", q.cols}, {"bits", q.bits},
                     {"group_size", q.group_size}, {"symmetric", q.symmetric},
                     {"rule", q.rule == IntGroupRule::Format ? "format" : "gptq-reference"},
                     {"act_order", !q.perm.empty()}});
  return {{"linears", parts}, {"reports", linears}, {"searches", searches}};
}

}  // namespace

fs::path LayerJournal::folder_for(const fs::path& out_dir) {
  fs::path abs = fs::absolute(out_dir).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  return abs.parent_path() / (abs.filename().string() + ".qlab-layers");
}

LayerJournal::LayerJournal(fs::path dir, nlohmann::json key, bool resume, bool discard)
    : dir_(std::move(dir)), key_(std::move(key)) {
  std::error_code ec;
  if (fs::is_symlink(dir_, ec) || (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec)))
    fail("{}: is not a folder qlab made for an interrupted run; move it away", dir_.string());
  if (!fs::exists(dir_, ec) && !fs::create_directory(dir_, ec))
    fail("{}: cannot create the folder for finished layers: {}", dir_.string(), ec.message());
  lock_fd_ = try_lock_folder(dir_);
  if (lock_fd_ < 0) fail("{}: another qlab run is writing this checkpoint now", dir_.string());
  try {
    nlohmann::json j;
    if (fs::is_regular_file(dir_ / kJournal, ec)) {
      try {
        j = nlohmann::json::parse(read_file(dir_ / kJournal));
      } catch (const std::exception& e) {
        if (!discard || resume)
          fail("{}: the interrupted run's journal cannot be read ({}); --force discards that run",
               (dir_ / kJournal).string(), e.what());
      }
    }
    const int finished = j.is_object() && j.contains("layers") ? static_cast<int>(j["layers"].size()) : 0;
    if (finished > 0 && !resume && !discard)
      fail("{}: holds {} finished layer{} of an interrupted run; --resume continues it, --force discards it",
           dir_.string(), finished, finished == 1 ? "" : "s");
    if (finished > 0 && resume) {
      if (j.value("key", nlohmann::json()) != key_)
        fail("{}: the interrupted run had other settings ({}); resume it with its own, or discard it with --force "
             "and no --resume", dir_.string(), io::resume_key_difference(j.value("key", nlohmann::json()), key_));
      for (int k = 0; k < finished; ++k)
        if (!fs::is_regular_file(dir_ / layer_file(k), ec))
          fail("{}: the journal names layer {} but its file is missing; --force discards the interrupted run",
               dir_.string(), k);
      reports_ = j["layers"];
      done_ = resumed_ = finished;
    }
    // What no journal names (a layer file cut short by a kill, or a discarded run) goes.
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
      const std::string n = e.path().filename().string();
      bool named = false;
      for (int k = 0; k < done_ && !named; ++k) named = n == layer_file(k);
      if (!named && !(done_ > 0 && n == kJournal)) fs::remove_all(e.path(), ec);
    }
  } catch (...) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    closed_ = true;
    throw;
  }
}

LayerJournal::~LayerJournal() {
  if (!closed_) remove();
}

void LayerJournal::record(int layer, const FinishedLayer& f) {
  if (layer != done_) fail("{}: layer {} recorded after {} finished layers", dir_.string(), layer, done_);
  std::vector<io::TensorToWrite> t;
  auto add = [&](std::string name, io::DType d, std::vector<std::int64_t> shape, std::span<const std::byte> b) {
    t.push_back({std::move(name), d, std::move(shape), b});
  };
  for (const auto& [name, q] : f.linears) {
    const std::int64_t g = q.groups() > 0 ? q.groups() : 1;
    add(name + ".codes", io::DType::U8, {q.rows, q.cols}, bytes_of(q.codes));
    add(name + ".scales", io::DType::F32, {q.rows, g}, bytes_of(q.scales));
    add(name + ".zeros", io::DType::U8, {q.rows, g}, bytes_of(q.zeros));
    add(name + ".g_idx", io::DType::I32, {q.cols}, bytes_of(q.g_idx));
    if (!q.perm.empty()) add(name + ".perm", io::DType::I32, {q.cols}, bytes_of(q.perm));
  }
  const std::pair<const char*, const std::vector<float>*> vectors[] = {
      {"attn_norm", &f.attn_norm}, {"mlp_norm", &f.mlp_norm}, {"bq", &f.bq}, {"bk", &f.bk}, {"bv", &f.bv}};
  for (const auto& [name, v] : vectors)
    if (!v->empty()) add(name, io::DType::F32, {static_cast<std::int64_t>(v->size())}, bytes_of(*v));
  for (const auto& s : f.searches) {
    add("awq." + s.where + ".x_mean", io::DType::F32, {static_cast<std::int64_t>(s.x_mean.size())}, bytes_of(s.x_mean));
    add("awq." + s.where + ".scales", io::DType::F32, {static_cast<std::int64_t>(s.scales.size())}, bytes_of(s.scales));
  }
  io::write_safetensors(dir_ / layer_file(layer), t);
  reports_.push_back(report_json(f));
  write_file_atomic(dir_ / kJournal, nlohmann::json{{"qlab_layers", 1}, {"key", key_}, {"layers", reports_}}.dump(1));
  ++done_;
}

FinishedLayer LayerJournal::load(int layer) const {
  if (layer < 0 || layer >= done_) fail("{}: layer {} is not finished", dir_.string(), layer);
  const fs::path file = dir_ / layer_file(layer);
  const io::TensorStore st = io::TensorStore::open(file);
  const nlohmann::json& j = reports_.at(static_cast<std::size_t>(layer));
  FinishedLayer f;
  try {
    for (const auto& p : j.at("linears")) {
      QuantizedLinear q;
      const std::string name = p.at("name").get<std::string>();
      q.name = p.at("label").get<std::string>();
      q.rows = p.at("rows").get<std::int64_t>();
      q.cols = p.at("cols").get<std::int64_t>();
      q.bits = p.at("bits").get<int>();
      q.group_size = p.at("group_size").get<std::int64_t>();
      q.symmetric = p.at("symmetric").get<bool>();
      q.rule = p.at("rule").get<std::string>() == "format" ? IntGroupRule::Format : IntGroupRule::GptqReference;
      if (q.rows <= 0 || q.cols <= 0 || q.group_size <= 0 || q.bits < 2 || q.bits > 8)
        fail("{}: {} has an impossible shape; --force discards the interrupted run", file.string(), name);
      const auto n = static_cast<std::size_t>(q.rows), k = static_cast<std::size_t>(q.cols);
      const auto g = static_cast<std::size_t>(std::max<std::int64_t>(q.groups(), 1));
      q.codes = values_of<std::uint8_t>(st.at(name + ".codes"), n * k, file);
      q.scales = values_of<float>(st.at(name + ".scales"), n * g, file);
      q.zeros = values_of<std::uint8_t>(st.at(name + ".zeros"), n * g, file);
      q.g_idx = values_of<std::int32_t>(st.at(name + ".g_idx"), k, file);
      if (p.at("act_order").get<bool>()) q.perm = values_of<std::int32_t>(st.at(name + ".perm"), k, file);
      for (std::int32_t gi : q.g_idx)
        if (gi < 0 || static_cast<std::size_t>(gi) >= g)
          fail("{}: {} has a g_idx out of range; --force discards the interrupted run", file.string(), name);
      for (std::uint8_t c : q.codes)
        if (c >> q.bits) fail("{}: {} has a code out of range; --force discards the interrupted run", file.string(), name);
      f.linears.emplace_back(name, std::move(q));
    }
    auto vec = [&](const char* name, std::vector<float>& v) {
      if (const io::TensorRef* t = st.find(name)) v = values_of<float>(*t, t->bytes.size() / sizeof(float), file);
    };
    vec("attn_norm", f.attn_norm);
    vec("mlp_norm", f.mlp_norm);
    vec("bq", f.bq);
    vec("bk", f.bk);
    vec("bv", f.bv);
    for (const auto& r : j.at("reports")) {
      LinearReport l;
      l.name = r.at("name").get<std::string>();
      l.rows = r.at("rows").get<std::int64_t>();
      l.cols = r.at("cols").get<std::int64_t>();
      l.output_error = r.at("output_error").get<double>();
      l.damp = r.at("damp").get<double>();
      l.damp_raises = r.at("damp_raises").get<int>();
      l.dead_columns = r.at("dead_columns").get<int>();
      l.seconds = r.at("seconds").get<double>();
      f.reports.push_back(std::move(l));
    }
    for (const auto& s : j.at("searches")) {
      AwqSearchReport a;
      a.layer = s.at("layer").get<int>();
      a.where = s.at("where").get<std::string>();
      a.ratio = s.at("ratio").get<double>();
      vec(("awq." + a.where + ".x_mean").c_str(), a.x_mean);
      vec(("awq." + a.where + ".scales").c_str(), a.scales);
      f.searches.push_back(std::move(a));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: the journal of layer {} is not as qlab writes it ({}); --force discards the interrupted run",
         (dir_ / kJournal).string(), layer, e.what());
  }
  return f;
}

void LayerJournal::remove() {
  if (closed_) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
  closed_ = true;
}

void LayerJournal::keep() {
  if (closed_) return;
  if (done_ == 0) return remove();
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
  closed_ = true;
}

QuantizedLinear linear_parts_only(QuantizedLinear& q) {
  // Every part but the float copy, without copying it: moved aside for the copy, then put back.
  std::vector<float> dequantized = std::move(q.dequantized);
  QuantizedLinear parts = q;
  q.dequantized = std::move(dequantized);
  return parts;
}

void take_layer_vectors(const model::LayerWeights& lw, FinishedLayer& f) {
  f.attn_norm = lw.attn_norm;
  f.mlp_norm = lw.mlp_norm;
  f.bq = lw.bq;
  f.bk = lw.bk;
  f.bv = lw.bv;
}

void replay_layer(FinishedLayer f, int layer, model::LayerWeights& lw, ModelQuantReport& report,
                  const LinearSink& on_linear) {
  auto put = [&](std::vector<float>& from, std::vector<float>& to, const char* what) {
    if (from.size() != to.size())
      fail("layer {}: the interrupted run's {} has {} values, the model's {}; --force discards that run", layer, what,
           from.size(), to.size());
    to = std::move(from);
  };
  put(f.attn_norm, lw.attn_norm, "attention norm");
  put(f.mlp_norm, lw.mlp_norm, "MLP norm");
  put(f.bq, lw.bq, "q bias");
  put(f.bk, lw.bk, "k bias");
  put(f.bv, lw.bv, "v bias");
  if (f.linears.size() != kLayerLinears.size())
    fail("layer {}: the interrupted run kept {} Linears, the layer has {}; --force discards that run", layer,
         f.linears.size(), kLayerLinears.size());
  for (auto& [name, q] : f.linears) {
    const LayerLinear* l = nullptr;
    for (const LayerLinear& c : kLayerLinears)
      if (name == c.name) l = &c;
    if (!l) fail("layer {}: the interrupted run kept a Linear '{}' this layer has not", layer, name);
    tensor::Matrix& w = lw.*(l->weight);
    if (q.rows != w.rows || q.cols != w.cols)
      fail("layer {}: the interrupted run's {} is [{} x {}], the model's [{} x {}]; --force discards that run", layer,
           name, q.rows, q.cols, w.rows, w.cols);
    w = tensor::Matrix::owned_f32(q.decode(), w.rows, w.cols);
    if (on_linear) on_linear(layer, l->name, std::move(q));
  }
  for (auto& r : f.reports) report.linears.push_back(std::move(r));
  for (auto& s : f.searches) report.awq_searches.push_back(std::move(s));
}

}  // namespace qlab::quant
