// The streaming quantizer (quantize_checkpoint.h).
#include "engine/exporter/quantize_checkpoint.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/exporter/quantize_plan.h"
#include "engine/exporter/slab_quantize.h"
#include "engine/exporter/source_folder.h"
#include "engine/io/model_config.h"
#include "engine/io/strict_json.h"
#include "engine/io/tensor_map.h"
#include "engine/tensor/matrix.h"

namespace qlab::exporter {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Drop the whole pages inside [p, p + n) of a read-only file mapping from the resident set; they are
// read back from the file if touched again.
void release_pages(const void* p, std::size_t n) {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t b = (begin + page - 1) / page * page, e = (begin + n) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

tensor::Matrix stored_matrix(const io::TensorRef& t) {
  tensor::Matrix m;
  m.type = t.dtype == io::DType::F32 ? tensor::ElemType::F32
           : t.dtype == io::DType::F16 ? tensor::ElemType::F16 : tensor::ElemType::BF16;
  m.data = t.bytes.data();
  m.rows = t.shape[0];
  m.cols = t.shape[1];
  return m;
}

std::int64_t slab_rows(std::int64_t cols, std::size_t slab_bytes) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(slab_bytes / 4) / std::max<std::int64_t>(cols, 1));
}

// The stored values that the codes are made with and that the file holds (they differ for
// compressed-tensors' NVFP4 global scale, stored as the reciprocal).
struct TensorScalar {
  float value = 0, stored = 0;
};
TensorScalar tensor_scalar(const io::QuantScheme& s, float amax) {
  TensorScalar t;
  if (s.format == "nvfp4" && s.layout == io::QuantLayout::CompressedTensors) {
    t.stored = amax > 0.0f ? 2688.0f / amax : 1.0f;  // compressed-tensors generate_gparam
    t.value = 1.0f / t.stored;
  } else {
    t.value = t.stored = tensor_scale_for(s, amax);
  }
  return t;
}

// The activation scale of a Linear whose input reached `amax` (stored value as the file holds it).
float input_scalar(const io::QuantScheme& s, float amax, io::PartSource source) {
  const float fmax = s.format == "nvfp4" ? 2688.0f : 448.0f;  // E2M1 max x E4M3 max, or E4M3 max
  if (!(amax > 0.0f)) return 1.0f;
  return source == io::PartSource::InputScaleReciprocal ? fmax / amax : amax / fmax;
}

class Streamer {
 public:
  Streamer(const QuantizePlan& plan, const QuantizeOptions& opt, const ActivationAmax& act, Progress& progress)
      : plan_(plan), opt_(opt), act_(act), progress_(progress), t0_(Clock::now()) {}

  void run(io::CheckpointWriter& w) {
    for (const PlanItem& item : plan_.items) {
      if (item.quantize) {
        quantize_group(w, item);
      } else {
        keep(w, *item.members[0]);
      }
    }
  }

  const std::map<std::string, std::uint64_t>& hashes() const { return hashes_; }
  const std::map<std::string, float>& input_scales() const { return input_scales_; }
  std::uint64_t written_linear_bytes() const { return written_linear_; }
  std::uint64_t resumed_bytes() const { return static_cast<std::uint64_t>(resumed_); }

  // What the re-read check needs of the tensors already written, recorded with each complete shard
  // (floats as their bits: the values must come back exactly).
  nlohmann::json journal() const {
    nlohmann::json h = nlohmann::json::object(), in = nlohmann::json::object();
    for (const auto& [k, v] : hashes_) h[k] = v;
    for (const auto& [k, v] : input_scales_) in[k] = std::bit_cast<std::uint32_t>(v);
    return {{"hashes", h}, {"input_scales", in}};
  }
  void restore(const nlohmann::json& j) {
    for (const auto& [k, v] : j.at("hashes").items()) resumed_hashes_[k] = v.get<std::uint64_t>();
    for (const auto& [k, v] : j.at("input_scales").items())
      resumed_scales_[k] = std::bit_cast<float>(v.get<std::uint32_t>());
  }

 private:
  void advance(std::uint64_t bytes, bool resumed = false) {
    done_ += bytes;
    if (resumed) resumed_ += bytes;
    const double secs = since(t0_), rate = secs > 0 ? (done_ - resumed_) / secs : 0;
    const double total = static_cast<double>(plan_.source_bytes);
    // The elapsed time and the ETA are the progress bar's (the CLI's and the tutor's both draw them).
    progress_.report(total > 0 ? done_ / total : 1.0,
                     fmt::format("{:.2f}/{:.2f} GB  {:.2f} GB/s", done_ / 1e9, total / 1e9, rate / 1e9));
  }

  void keep(io::CheckpointWriter& w, const io::TensorRef& t) {
    if (w.holds(t.name)) {
      advance(t.bytes.size(), true);
      return;
    }
    const io::TensorRef* src = &t;
    w.add(io::TensorHeader{t.name, t.dtype, t.shape}, [src](std::uint64_t offset, std::span<std::byte> chunk) {
      std::memcpy(chunk.data(), src->bytes.data() + offset, chunk.size());
      release_pages(src->bytes.data() + offset, chunk.size());
    });
    advance(t.bytes.size());
  }

  float group_amax(const PlanItem& item) {
    float amax = 0;
    for (const io::TensorRef* t : item.members) {
      const tensor::Matrix m = stored_matrix(*t);
      const std::int64_t step = slab_rows(m.cols, opt_.slab_bytes);
      const std::size_t slab = static_cast<std::size_t>(std::min(step, m.rows) * m.cols);
      if (x_.size() < slab) x_.resize(slab), dq_.resize(slab);
      const std::vector<float>& x = x_;
      for (std::int64_t r0 = 0; r0 < m.rows; r0 += step) {
        check_cancel(opt_.stop);
        const std::int64_t n = std::min(step, m.rows - r0);
        m.rows_to_f32(r0, n, x_.data());
        for (std::int64_t i = 0; i < n * m.cols; ++i) {
          const float a = std::fabs(x[static_cast<std::size_t>(i)]);
          if (!(a <= 3.4028235e38f))
            fail("{}: tensor '{}' holds {} at row {} column {}; quantize needs finite weights", t->file, t->name,
                 x[static_cast<std::size_t>(i)], r0 + i / m.cols, i % m.cols);
          amax = std::max(amax, a);
        }
      }
    }
    return amax;
  }

  // Every part of the Linear whose weight is t is in a shard an interrupted run completed.
  bool resumed(const io::CheckpointWriter& w, const io::TensorRef& t) const {
    const std::string module = module_of(t.name);
    for (const io::LinearPart& part : io::linear_parts(plan_.scheme, t.shape[0], t.shape[1]))
      if (!w.holds(module + "." + part.suffix)) return false;
    return true;
  }

  // A Linear the interrupted run wrote: its hash (and input scale) from the journal, no source read.
  void take_resumed(const io::TensorRef& t) {
    const std::string module = module_of(t.name);
    const auto h = resumed_hashes_.find(module);
    if (h == resumed_hashes_.end()) fail("the interrupted run's journal has no hash for '{}'; --force discards it", module);
    hashes_[module] = h->second;
    if (const auto in = resumed_scales_.find(module); in != resumed_scales_.end()) input_scales_[module] = in->second;
    for (const io::LinearPart& part : io::linear_parts(plan_.scheme, t.shape[0], t.shape[1]))
      written_linear_ += io::dtype_byte_length(part.dtype, part.shape, module);
    advance(t.bytes.size(), true);
  }

  void quantize_group(io::CheckpointWriter& w, const PlanItem& item) {
    const io::QuantScheme& s = plan_.scheme;
    const formats::BlockFormatSpec& spec = s.spec();
    const bool has_scalar = s.format == "nvfp4" || s.format == "fp8-tensor";
    bool all_resumed = true;
    for (const io::TensorRef* t : item.members) all_resumed = all_resumed && resumed(w, *t);
    const TensorScalar scalar = has_scalar && !all_resumed ? tensor_scalar(s, group_amax(item)) : TensorScalar{};
    for (const io::TensorRef* t : item.members) {
      if (resumed(w, *t)) {
        take_resumed(*t);
        continue;
      }
      const tensor::Matrix m = stored_matrix(*t);
      const std::int64_t rows = m.rows, cols = m.cols, step = slab_rows(cols, opt_.slab_bytes);
      const formats::StorageSizes sizes = formats::storage_sizes(spec, rows, cols);
      const std::uint64_t data_row = sizes.data / static_cast<std::uint64_t>(rows);
      const std::uint64_t scales_row = sizes.scales / static_cast<std::uint64_t>(rows);
      std::vector<std::uint8_t> data(sizes.data), scales(sizes.scales);
      const std::size_t slab = static_cast<std::size_t>(std::min(step, rows) * cols);
      if (x_.size() < slab) x_.resize(slab), dq_.resize(slab);  // kept across tensors: no page faults per tensor
      std::uint64_t h = hash_values({});
      const std::uint64_t row_bytes = t->bytes.size() / static_cast<std::uint64_t>(rows);
      for (std::int64_t r0 = 0; r0 < rows; r0 += step) {
        check_cancel(opt_.stop);
        const std::int64_t n = std::min(step, rows - r0);
        const std::span<float> xs(x_.data(), static_cast<std::size_t>(n * cols));
        m.rows_to_f32(r0, n, xs.data());
        const formats::QuantizedTensor q = quantize_slab(spec, xs, n, cols, scalar.value);
        std::copy(q.data.begin(), q.data.end(), data.begin() + static_cast<std::ptrdiff_t>(r0 * data_row));
        std::copy(q.scales.begin(), q.scales.end(), scales.begin() + static_cast<std::ptrdiff_t>(r0 * scales_row));
        const std::span<float> dqs(dq_.data(), xs.size());
        formats::dequantize(q, dqs);
        check_error_bound(q, xs, dqs, t->name, r0);
        h = hash_values(dqs, h);
        release_pages(t->bytes.data() + r0 * row_bytes, static_cast<std::size_t>(n) * row_bytes);
        advance(static_cast<std::uint64_t>(n) * row_bytes);
      }
      const std::string module = module_of(t->name);
      if (const auto was = resumed_hashes_.find(module); was != resumed_hashes_.end() && was->second != h)
        fail("'{}' quantizes to other values than in the interrupted run; --force discards that run", module);
      hashes_[module] = h;
      for (const io::LinearPart& part : io::linear_parts(s, rows, cols)) {
        io::TensorHeader header{module + "." + part.suffix, part.dtype, part.shape};
        std::span<const std::byte> bytes;
        float scalar_value = part.source == io::PartSource::TensorScaleReciprocal ? scalar.stored : scalar.value;
        switch (part.source) {
          case io::PartSource::Data: bytes = std::as_bytes(std::span(data)); break;
          case io::PartSource::Scales: bytes = std::as_bytes(std::span(scales)); break;
          case io::PartSource::TensorScale:
          case io::PartSource::TensorScaleReciprocal:
            bytes = std::as_bytes(std::span(&scalar_value, 1));
            break;
          case io::PartSource::InputScale:
          case io::PartSource::InputScaleReciprocal: {
            auto a = act_.by_module.find(module);
            if (a == act_.by_module.end()) fail("calibration gave no activation range for '{}'", module);
            scalar_value = input_scalar(s, a->second, part.source);
            input_scales_[module] = scalar_value;
            bytes = std::as_bytes(std::span(&scalar_value, 1));
            break;
          }
        }
        written_linear_ += bytes.size();
        w.add(std::move(header), bytes);  // a part the interrupted run wrote is checked and skipped
      }
    }
  }

  const QuantizePlan& plan_;
  const QuantizeOptions& opt_;
  const ActivationAmax& act_;
  Progress& progress_;
  Clock::time_point t0_;
  double done_ = 0, resumed_ = 0;
  std::map<std::string, std::uint64_t> hashes_, resumed_hashes_;
  std::map<std::string, float> resumed_scales_;
  std::map<std::string, float> input_scales_;  // as written
  std::uint64_t written_linear_ = 0;
  std::vector<float> x_, dq_;  // a slab of source rows and of their dequantized values
};

// Every tensor read back from the written folder through the readers' code (quantize_checkpoint.h).
void reread_check(const fs::path& out_dir, const QuantizePlan& plan, const std::map<std::string, std::uint64_t>& hashes,
                  const std::map<std::string, float>& input_scales, const QuantizeOptions& opt) {
  const std::optional<io::QuantScheme> s = io::read_checkpoint_scheme(out_dir);
  if (!s || s->method != plan.scheme.method || s->layout != plan.scheme.layout)
    fail("{}: re-read check: the written config does not announce {} ({})", out_dir.string(), plan.scheme.method,
         io::layout_name(plan.scheme.layout));
  const io::TensorStore out = io::TensorStore::open(out_dir);
  std::size_t expected = 0;
  for (const PlanItem& item : plan.items) {
    for (const io::TensorRef* t : item.members) {
      check_cancel(opt.stop);
      if (!item.quantize) {
        ++expected;
        const io::TensorRef& o = out.at(t->name);
        if (o.dtype != t->dtype || o.shape != t->shape || o.bytes.size() != t->bytes.size())
          fail("{}: re-read check: tensor '{}' differs from its source", o.file, t->name);
        // compared a chunk at a time, each released after, so a 1 GB embedding is never resident twice
        for (std::size_t off = 0; off < t->bytes.size(); off += opt.slab_bytes) {
          const std::size_t n = std::min(opt.slab_bytes, t->bytes.size() - off);
          if (std::memcmp(o.bytes.data() + off, t->bytes.data() + off, n) != 0)
            fail("{}: re-read check: tensor '{}' differs from its source", o.file, t->name);
          release_pages(o.bytes.data() + off, n);
          release_pages(t->bytes.data() + off, n);
        }
        continue;
      }
      const std::string module = module_of(t->name);
      const std::int64_t rows = t->shape[0], cols = t->shape[1];
      expected += io::linear_parts(*s, rows, cols).size();
      const auto p = io::read_packed_linear(out, *s, module, rows, cols);
      if (!p) fail("{}: re-read check: '{}' was written unquantized", out_dir.string(), module);
      const std::int64_t step = slab_rows(cols, opt.slab_bytes);
      std::vector<float> dq(static_cast<std::size_t>(std::min(step, rows) * cols));
      std::uint64_t h = hash_values({});
      for (std::int64_t r0 = 0; r0 < rows; r0 += step) {
        const std::int64_t n = std::min(step, rows - r0);
        formats::dequantize_rows(p->view, r0, n, dq.data());
        h = hash_values({dq.data(), static_cast<std::size_t>(n * cols)}, h);
      }
      for (const io::LinearPart& part : io::linear_parts(*s, rows, cols)) {
        if (part.source != io::PartSource::InputScale && part.source != io::PartSource::InputScaleReciprocal) continue;
        const io::TensorRef& t_in = out.at(module + "." + part.suffix);
        float v = 0;
        if (t_in.dtype == io::DType::F32 && t_in.bytes.size() == 4) std::memcpy(&v, t_in.bytes.data(), 4);
        if (t_in.dtype != part.dtype || t_in.shape != part.shape || std::memcmp(&v, &input_scales.at(module), 4) != 0)
          fail("{}: re-read check: '{}' is not the activation scale calibration gave", t_in.file, t_in.name);
      }
      if (h != hashes.at(module))
        fail("{}: re-read check: '{}' dequantized from the written bytes differs from the quantization in memory",
             out_dir.string(), module);
      release_pages(p->view.data.data(), p->view.data.size());
      release_pages(p->view.scales.data(), p->view.scales.size());
    }
  }
  if (out.size() != expected)
    fail("{}: re-read check: {} tensors written, {} expected", out_dir.string(), out.size(), expected);
}

// Everything the written bytes depend on: an interrupted run is resumed only with all of it the same.
nlohmann::json resume_key(const fs::path& model_dir, const SourceStamps& stamps, const QuantizePlan& plan,
                          const QuantizeOptions& opt) {
  nlohmann::json k = {{"writer", "qlab quantize (streaming)"},
                      {"version", 1},
                      {"source", fs::absolute(model_dir).lexically_normal().string()},
                      {"source_files", stamps.to_json()},
                      {"method", plan.scheme.method},
                      {"export", io::layout_name(plan.scheme.layout)},
                      {"exclude", opt.exclude},
                      {"max_shard_bytes", opt.max_shard_bytes}};
  if (plan.scheme.input_scale())
    k["calibration"] = {{"text", fs::absolute(opt.calibration.text).lexically_normal().string()},
                        {"samples", opt.calibration.samples},
                        {"seq_len", opt.calibration.seq_len},
                        {"seed", opt.calibration.seed}};
  return k;
}

nlohmann::json amax_json(const ActivationAmax& a) {
  nlohmann::json m = nlohmann::json::object();
  for (const auto& [k, v] : a.by_module) m[k] = std::bit_cast<std::uint32_t>(v);
  return {{"by_module", m}, {"samples", a.samples}, {"seq_len", a.seq_len}, {"hidden_bytes", a.hidden_bytes},
          {"source", a.source}};
}

ActivationAmax amax_from_json(const nlohmann::json& j) {
  ActivationAmax a;
  for (const auto& [k, v] : j.at("by_module").items()) a.by_module[k] = std::bit_cast<float>(v.get<std::uint32_t>());
  a.samples = j.at("samples").get<std::int64_t>();
  a.seq_len = j.at("seq_len").get<std::int64_t>();
  a.hidden_bytes = j.at("hidden_bytes").get<std::uint64_t>();
  a.source = j.at("source").get<std::string>();
  return a;
}

}  // namespace

QuantizeResult quantize_checkpoint(const fs::path& model_dir, const fs::path& out_dir, const QuantizeOptions& opt,
                                   Progress& progress, const Warn& warn) {
  std::error_code ec;
  check_source_and_out(model_dir, out_dir);
  const io::QuantScheme scheme = io::quant_scheme(opt.method, opt.layout);
  const io::ModelConfig cfg = io::load_model_config(model_dir / "config.json");
  nlohmann::json config = read_config_json(model_dir / "config.json");
  const io::TensorStore store = io::TensorStore::open(model_dir);
  const SourceStamps source_stamps(store);
  std::vector<std::string> order;
  for (const io::TensorEntry& e : io::tensor_map(cfg)) order.push_back(e.name);
  const QuantizePlan plan = plan_quantize(store, order, scheme, opt.exclude);

  QuantizeResult r;
  r.scheme = plan.scheme;
  r.quantized = plan.quantized;
  r.kept = plan.kept;
  r.source_bytes = plan.source_bytes;
  r.linear_source_bytes = plan.linear_bytes;
  for (const PlanItem& item : plan.items)
    if (item.quantize)
      for (const io::TensorRef* t : item.members) r.linear_weights += static_cast<std::uint64_t>(t->shape[0] * t->shape[1]);
  for (const auto& p : plan.unmatched) {
    r.warnings.push_back(fmt::format("--exclude '{}' matches no Linear module; nothing was excluded by it", p));
    if (warn) warn(r.warnings.back());
  }
  config["quantization_config"] = io::quantization_config(plan.scheme);

  Streamer streamer(plan, opt, r.activations, progress);
  io::CheckpointOptions co;
  co.max_shard_bytes = opt.max_shard_bytes;
  co.stop = opt.stop;
  co.replace_existing = opt.replace_existing;
  co.resume = opt.resume;
  co.discard_other = opt.discard_other;
  co.resume_key = resume_key(model_dir, source_stamps, plan, opt);
  co.journal_extra = [&] {
    nlohmann::json j = streamer.journal();
    if (plan.scheme.input_scale()) j["activations"] = amax_json(r.activations);
    return j;
  };
  // The re-read check runs on the finished staging folder: a checkpoint that fails it never appears
  // where a server would look, and a folder --force replaces stays until one passes.
  co.verify = [&](const fs::path& staged) {
    const auto t1 = Clock::now();
    progress.report(1.0, "re-reading the checkpoint");
    source_stamps.check_unchanged();  // the last shard's kept tensors were read inside finish()
    reread_check(staged, plan, streamer.hashes(), streamer.input_scales(), opt);
    r.seconds_check = since(t1);
  };
  io::CheckpointWriter w(out_dir, co);
  try {
    r.resumed_shards = w.resumed_shards();
    if (r.resumed_shards > 0) {
      try {
        streamer.restore(w.resumed_extra());
        if (plan.scheme.input_scale()) r.activations = amax_from_json(w.resumed_extra().at("activations"));
      } catch (const nlohmann::json::exception& e) {
        fail("{}: the interrupted run's journal is not as qlab writes it ({}); --force discards that run",
             w.staging_dir().string(), e.what());
      }
    } else if (plan.scheme.input_scale()) {
      const auto tc = Clock::now();
      r.activations = activation_amax(model_dir, opt.calibration, progress, opt.stop, warn);
      r.seconds_calibrate = since(tc);
    }
    const auto t0 = Clock::now();
    streamer.run(w);
    w.write_json("config.json", config);
    if (plan.scheme.layout == io::QuantLayout::ModelOpt)
      w.write_json("hf_quant_config.json", io::hf_quant_config_json(plan.scheme));
    for (const auto& p : copied_source_files(model_dir)) w.copy_file(p);
    source_stamps.check_unchanged();  // before the folder appears: a changed source leaves nothing behind
    r.files = w.finish();
    r.linear_written_bytes = streamer.written_linear_bytes();
    r.resumed_bytes = streamer.resumed_bytes();
    r.seconds_write = since(t0) - r.seconds_check;
  } catch (const Cancelled&) {
    const fs::path staging = w.staging_dir();
    if (const std::size_t kept = w.suspend(); kept > 0) throw Suspended(staging, kept);
    throw;
  }
  return r;
}

}  // namespace qlab::exporter
