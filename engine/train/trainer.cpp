#include "engine/train/trainer.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/io/safetensors.h"
#include "engine/train/text_world.h"

namespace qlab::train {

using nlohmann::json;

json options_to_json(const TrainOptions& o) {
  return {{"preset", o.preset},
          {"precision", precision_name(o.precision)},
          {"steps", o.steps},
          {"batch", o.batch},
          {"seq", o.seq},
          {"lr", o.schedule.lr},
          {"min_lr", o.schedule.min_lr},
          {"warmup", o.schedule.warmup},
          {"beta1", o.adamw.beta1},
          {"beta2", o.adamw.beta2},
          {"eps", o.adamw.eps},
          {"weight_decay", o.adamw.weight_decay},
          {"clip", o.clip},
          {"amax_history_len", o.recipe.history_len},
          {"margin", o.recipe.margin},
          {"amax_compute_algo", o.recipe.most_recent ? "most_recent" : "max"},
          {"seed", o.seed},
          {"checkpoint_every", o.checkpoint_every}};
}

namespace {

// trainer_state.json is a file like any other: every field is checked against the same bounds the
// command line has, so a hand edit (or damage) is an Error naming the field, not a 1e9 batch that
// runs the machine out of memory.
std::int64_t int_field(const json& j, const char* key, std::int64_t lo, std::int64_t hi, std::string_view src) {
  const json& v = j.at(key);
  if (!v.is_number_integer()) fail("{}: options.{} must be a whole number, got {}", src, key, v.dump().substr(0, 40));
  const bool above = v.is_number_unsigned() ? v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)
                                            : v.get<std::int64_t>() > hi;
  if (above || (!v.is_number_unsigned() && v.get<std::int64_t>() < lo))
    fail("{}: options.{} = {} is out of range ({} to {})", src, key, v.dump(), lo, hi);
  return v.get<std::int64_t>();
}

// A finite number in [lo, hi] (lo excluded when lo_open).
double num_field(const json& j, const char* key, double lo, double hi, bool lo_open, std::string_view src) {
  const json& v = j.at(key);
  if (!v.is_number()) fail("{}: options.{} must be a number, got {}", src, key, v.dump().substr(0, 40));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || (lo_open && x == lo) || x > hi)
    fail("{}: options.{} = {} is out of range ({} {} to {})", src, key, v.dump(), lo_open ? "above" : "from", lo, hi);
  return x;
}

}  // namespace

TrainOptions options_from_json(const json& j, std::string_view src) {
  TrainOptions o;
  o.preset = j.at("preset").get<std::string>();
  auto p = precision_from_name(j.at("precision").get<std::string>());
  if (!p) fail("{}: unknown precision {}", src, j.at("precision").dump());
  o.precision = *p;
  // the bounds of `qlab train`'s options
  o.steps = int_field(j, "steps", 1, 100000000, src);
  o.batch = int_field(j, "batch", 1, 4096, src);
  o.seq = int_field(j, "seq", 2, 1 << 16, src);
  o.schedule.lr = num_field(j, "lr", 0, 1e3, true, src);
  o.schedule.min_lr = num_field(j, "min_lr", 0, 1e3, false, src);
  o.schedule.warmup = int_field(j, "warmup", 0, 100000000, src);
  o.adamw.beta1 = num_field(j, "beta1", 0, 1, false, src);
  o.adamw.beta2 = num_field(j, "beta2", 0, 1, false, src);
  if (o.adamw.beta1 >= 1 || o.adamw.beta2 >= 1) fail("{}: options.beta1 and beta2 must be below 1", src);
  o.adamw.eps = num_field(j, "eps", 0, 1, true, src);
  o.adamw.weight_decay = num_field(j, "weight_decay", 0, 1e3, false, src);
  o.clip = num_field(j, "clip", 0, 1e9, false, src);
  o.recipe.history_len = static_cast<int>(int_field(j, "amax_history_len", 1, 1 << 20, src));
  o.recipe.margin = static_cast<int>(int_field(j, "margin", 0, 64, src));
  const std::string algo = j.at("amax_compute_algo").get<std::string>();
  if (algo != "max" && algo != "most_recent") fail("{}: options.amax_compute_algo {} is not max or most_recent", src, algo);
  o.recipe.most_recent = algo == "most_recent";
  o.seed = j.at("seed").get<std::uint64_t>();
  o.checkpoint_every = int_field(j, "checkpoint_every", 0, 100000000, src);
  return o;
}

namespace {

json casts_to_json(const CastStats& c) {
  json j = json::object();
  for (int r = 0; r < kCastRoles; ++r)
    j[std::string(cast_role_name(static_cast<CastRole>(r)))] = {
        {"total", c[r].total}, {"saturated", c[r].saturated}, {"flushed", c[r].flushed}};
  return j;
}

CastStats casts_from_json(const json& j) {
  CastStats c{};
  for (int r = 0; r < kCastRoles; ++r) {
    const json& e = j.at(std::string(cast_role_name(static_cast<CastRole>(r))));
    c[r].total = e.at("total").get<std::uint64_t>();
    c[r].saturated = e.at("saturated").get<std::uint64_t>();
    c[r].flushed = e.at("flushed").get<std::uint64_t>();
  }
  return c;
}

// json has no NaN/inf: write them as null, read null back as NaN.
json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double num_from(const json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

json meta_to_json(const ScaleMeta& m) { return {{"scale", m.scale}, {"history", m.history}}; }
ScaleMeta meta_from_json(const json& j) {
  ScaleMeta m;
  m.scale = j.at("scale").get<float>();
  m.history = j.at("history").get<std::vector<float>>();
  return m;
}

}  // namespace

json step_to_json(const StepRecord& r) {
  return {{"step", r.step},   {"lr", r.lr},         {"loss", num(r.loss)}, {"grad_norm", num(r.grad_norm)},
          {"tokens_per_s", r.tokens_per_s}, {"seconds", r.seconds}, {"finite", r.finite},
          {"casts", casts_to_json(r.casts)}};
}

StepRecord step_from_json(const json& e) {
  StepRecord r;
  r.step = e.at("step").get<std::int64_t>();
  r.lr = e.at("lr").get<double>();
  r.loss = num_from(e.at("loss"));
  r.grad_norm = num_from(e.at("grad_norm"));
  r.tokens_per_s = e.at("tokens_per_s").get<double>();
  r.seconds = e.at("seconds").get<double>();
  r.finite = e.at("finite").get<bool>();
  r.casts = casts_from_json(e.at("casts"));
  return r;
}

void sample_batch(const std::vector<std::int32_t>& stream, std::int64_t B, std::int64_t T, std::uint64_t seed,
                  std::int64_t step, std::vector<std::int32_t>& tokens, std::vector<std::int32_t>& targets) {
  const std::int64_t n = static_cast<std::int64_t>(stream.size());
  if (n < T + 2) fail("trainer: the training text has {} tokens, fewer than one window of {}", n, T + 1);
  WorldRng rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(step) * 0xD1B54A32D192ED03ull + 1);
  tokens.resize(static_cast<std::size_t>(B * T));
  targets.resize(tokens.size());
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t start = rng.below(static_cast<std::uint32_t>(n - T - 1));
    for (std::int64_t t = 0; t < T; ++t) {
      tokens[static_cast<std::size_t>(b * T + t)] = stream[static_cast<std::size_t>(start + t)];
      targets[static_cast<std::size_t>(b * T + t)] = stream[static_cast<std::size_t>(start + t + 1)];
    }
  }
}

StepRecord train_step(TrainState& s, Activations& acts, const TrainOptions& opt,
                      const std::vector<std::int32_t>& stream, std::vector<float>& grads) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::int32_t> tokens, targets;
  sample_batch(stream, acts.B, acts.T, opt.seed, s.step, tokens, targets);
  s.ctx.precision = opt.precision;
  s.ctx.stats = CastStats{};
  s.ctx.record_amax = true;
  StepRecord r;
  r.step = s.step;
  r.lr = opt.schedule.at(s.step);
  const double nll = forward(s.model, acts, tokens.data(), targets.data(), s.ctx);
  r.loss = nll / static_cast<double>(targets.size());
  grads.assign(s.model.values.size(), 0.0f);
  backward(s.model, acts, s.ctx, grads);
  r.grad_norm = clip_gradients(grads, opt.clip);
  r.casts = s.ctx.stats;
  r.finite = std::isfinite(r.loss) && std::isfinite(r.grad_norm);
  if (r.finite) {
    s.adam.step(s.model, grads, r.lr);
    s.ctx.update_scales(opt.recipe);
    ++s.step;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.tokens_per_s = static_cast<double>(tokens.size()) / std::max(r.seconds, 1e-9);
  return r;
}

void run_training(TrainState& s, const TrainOptions& opt_in, const std::vector<std::int32_t>& stream,
                  const RunHooks& hooks, Progress& progress, std::stop_token stop) {
  TrainOptions opt = opt_in;
  opt.schedule.total = opt.steps;
  if (opt.seq > s.model.cfg.max_position_embeddings)
    fail("trainer: sequence length {} exceeds the model's context {}", opt.seq, s.model.cfg.max_position_embeddings);
  s.adam.opt = opt.adamw;
  Activations acts(s.model, opt.batch, opt.seq);
  std::vector<float> grads;
  s.stop_reason.clear();
  while (s.step < opt.steps) {
    if (stop.stop_requested()) {
      s.stop_reason = "cancelled";
      break;
    }
    StepRecord r = train_step(s, acts, opt, stream, grads);
    s.history.push_back(r);
    if (hooks.on_step) hooks.on_step(r);
    if (!r.finite) {
      s.stop_reason = fmt::format("non-finite {} at step {}", std::isfinite(r.loss) ? "gradient norm" : "loss", r.step);
      break;
    }
    progress.report(static_cast<double>(s.step) / static_cast<double>(opt.steps),
                    fmt::format("step {}/{} loss {:.3f}", s.step, opt.steps, r.loss));
    if (opt.checkpoint_every > 0 && s.step % opt.checkpoint_every == 0 && s.step < opt.steps && hooks.checkpoint)
      hooks.checkpoint(s);
  }
  if (s.stop_reason.empty()) s.stop_reason = "done";
  if (hooks.checkpoint) hooks.checkpoint(s);
}

std::string history_csv(const std::vector<StepRecord>& h) {
  std::string out = "step,lr,loss,grad_norm,tokens_per_s";
  for (int r = 0; r < kCastRoles; ++r) {
    auto n = cast_role_name(static_cast<CastRole>(r));
    out += fmt::format(",{}_saturated,{}_flushed", n, n);
  }
  out += "\n";
  for (const auto& s : h) {
    out += fmt::format("{},{:.6g},{:.6g},{:.6g},{:.1f}", s.step, s.lr, s.loss, s.grad_norm, s.tokens_per_s);
    for (int r = 0; r < kCastRoles; ++r)
      out += fmt::format(",{:.6g},{:.6g}", s.casts[r].saturated_fraction(), s.casts[r].flushed_fraction());
    out += "\n";
  }
  return out;
}

void save_checkpoint(const std::filesystem::path& dir, const TrainState& s, const TrainOptions& opt,
                     const std::string& tokenizer_json_text) {
  s.model.save(dir);
  if (!tokenizer_json_text.empty()) {
    write_file_atomic(dir / "tokenizer.json", tokenizer_json_text);
    // BOS first, as the model saw "<|endoftext|>" before every document in training.
    const json tc = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                     {"bos_token", "<|endoftext|>"},
                     {"eos_token", "<|endoftext|>"},
                     {"add_bos_token", true},
                     {"add_eos_token", false},
                     {"model_max_length", s.model.cfg.max_position_embeddings}};
    write_file_atomic(dir / "tokenizer_config.json", tc.dump(2) + "\n");
  }
  // Optimizer moments, for resuming.
  std::vector<io::TensorToWrite> t;
  const std::int64_t n = static_cast<std::int64_t>(s.model.values.size());
  std::vector<float> zeros;
  const std::vector<float>* m = &s.adam.m;
  const std::vector<float>* v = &s.adam.v;
  if (m->size() != s.model.values.size()) {
    zeros.assign(s.model.values.size(), 0.0f);
    m = v = &zeros;
  }
  t.push_back({"adam.m", io::DType::F32, {n}, std::as_bytes(std::span<const float>(*m))});
  t.push_back({"adam.v", io::DType::F32, {n}, std::as_bytes(std::span<const float>(*v))});
  io::write_safetensors(dir / "optimizer.safetensors", t);
  json metas = json::array();
  for (const auto& lm : s.ctx.metas)
    metas.push_back({{"x", meta_to_json(lm.x)}, {"w", meta_to_json(lm.w)}, {"dy", meta_to_json(lm.dy)}});
  json hist = json::array();
  for (const auto& r : s.history) hist.push_back(step_to_json(r));
  json state = {{"step", s.step},
                {"adam_t", s.adam.t},
                {"stop_reason", s.stop_reason},
                {"options", options_to_json(opt)},
                {"fp8_scaling", metas}};
  write_file_atomic(dir / "trainer_state.json", state.dump(1) + "\n");
  write_file_atomic(dir / "loss.json", json{{"precision", precision_name(opt.precision)}, {"steps", hist}}.dump() + "\n");
  write_file_atomic(dir / "loss.csv", history_csv(s.history));
}

std::pair<TrainState, TrainOptions> load_checkpoint(const std::filesystem::path& dir) {
  const auto state_path = dir / "trainer_state.json";
  if (!std::filesystem::exists(state_path))
    fail("{}: not a trainer checkpoint (no trainer_state.json)", dir.string());
  TrainState s;
  TrainOptions opt;
  try {
    json state = json::parse(read_file(state_path));
    opt = options_from_json(state.at("options"), state_path.string());
    s.step = state.at("step").get<std::int64_t>();
    s.adam.t = state.at("adam_t").get<std::int64_t>();
    if (s.step < 0 || s.step > opt.steps || s.adam.t < 0)
      fail("{}: step {} (adam_t {}) is outside the run's {} steps", state_path.string(), s.step, s.adam.t, opt.steps);
    for (const auto& e : state.at("fp8_scaling"))
      s.ctx.metas.push_back({meta_from_json(e.at("x")), meta_from_json(e.at("w")), meta_from_json(e.at("dy"))});
    if (std::filesystem::exists(dir / "loss.json")) {
      json lj = json::parse(read_file(dir / "loss.json"));
      for (const auto& e : lj.at("steps")) s.history.push_back(step_from_json(e));
    }
  } catch (const json::exception& e) {
    fail("{}: bad trainer state: {}", state_path.string(), e.what());
  }
  s.model = TrainModel::load(dir);
  io::TensorStore store = io::TensorStore::open(dir / "optimizer.safetensors");
  s.adam.m = io::to_f32(store.at("adam.m"));
  s.adam.v = io::to_f32(store.at("adam.v"));
  if (s.adam.m.size() != s.model.values.size() || s.adam.v.size() != s.model.values.size())
    fail("{}: optimizer state has {} values, the model {}", (dir / "optimizer.safetensors").string(),
         s.adam.m.size(), s.model.values.size());
  s.ctx.precision = opt.precision;
  return {std::move(s), opt};
}

}  // namespace qlab::train
