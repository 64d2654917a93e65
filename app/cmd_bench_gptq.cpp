// `qlab bench gptq`: GPTQ on one Linear (default 4096 x 4096, 128 x 2048 calibration tokens), each phase
// timed -- Hessian (X^T X), factorisation (Cholesky, inverse, Cholesky of the inverse), the column loop
// (and its lazy-update GEMMs) -- beside the same BLAS / LAPACK work alone in the same run: ssyrk on the
// same activations, spotrf + spotri + spotrf on the same Hessian, and the loop's GEMM calls with the
// same shapes, with BLAS given all the threads. The goal: total <= 1.5 x that floor. With --device
// cuda the same Linear is solved again on the GPU (model/gptq_solver.h: factorisations and column
// loop there), timed beside the host's solve, and the two results' output errors compared.
#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/device_arg.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/quant/gptq.h"
#include "engine/quant/input_stats.h"
#include "engine/tensor/blas.h"

namespace qlab::app {
namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// splitmix64 + Box-Muller: activations with channel magnitudes exp(N(0, 1)).
std::vector<float> activations(std::int64_t n, std::int64_t cols, std::uint64_t seed, bool channel_scales = true) {
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  auto gauss = [&] {
    const double u = (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53, v = (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  };
  std::vector<float> scale(static_cast<std::size_t>(cols));
  std::uint64_t keep = s;
  s = 12345;
  for (auto& v : scale) v = channel_scales ? static_cast<float>(std::exp(gauss())) : 1.0f;
  s = keep;
  std::vector<float> x(static_cast<std::size_t>(n * cols));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(gauss()) * scale[i % static_cast<std::size_t>(cols)];
  return x;
}

int run(const Args& a) {
  const std::int64_t rows = a.get_int("rows", 4096, 1, 1 << 16), cols = a.get_int("cols", 4096, 1, 1 << 16);
  const std::int64_t samples = a.get_int("samples", 128, 1, 1 << 16), seq = a.get_int("seq-len", 2048, 1, 1 << 20);
  const std::int64_t group = a.get_int("group", 128, -1, 1 << 16);
  if (group == 0) throw UsageError("--group must be -1 (per row) or positive");
  const int threads = thread_count();
  // Distinct activation chunks (one sequence each), reused cyclically: 8 x seq_len rows of data.
  constexpr int kChunks = 8;
  std::vector<std::vector<float>> chunks;
  for (int i = 0; i < kChunks && i < samples; ++i) chunks.push_back(activations(seq, cols, static_cast<std::uint64_t>(i + 1)));
  // Weights: gaussian with std 0.02 (a fresh Linear's scale), no channel structure.
  std::vector<float> w = activations(rows, cols, 99, false);
  for (float& v : w) v *= 0.02f;
  const bool json = a.json();
  const DeviceArg dev = choose_device(a, "bench gptq");
  if (!json)
    fmt::print("GPTQ on a [{} x {}] Linear, {} x {} calibration tokens, group {}, {} threads\n", rows, cols, samples, seq,
               group, threads);

  // ---- qlab's GPTQ, phase by phase ---------------------------------------------------------------
  {
    quant::InputStats warm(cols, true, "warm-up");  // the pool's threads start
    warm.add(chunks[0].data(), std::min<std::int64_t>(seq, 256));
  }
  auto t = clock_type::now();
  quant::InputStats stats(cols, true, "bench activations");
  for (std::int64_t s = 0; s < samples; ++s) stats.add(chunks[static_cast<std::size_t>(s) % chunks.size()].data(), seq);
  const double t_hessian = since(t);
  std::vector<float> h = stats.hessian();
  quant::GptqOptions o;
  o.group_size = group;
  o.act_order = a.has("act-order");
  quant::GptqStats gs;
  t = clock_type::now();
  const quant::QuantizedLinear on_host = quant::gptq_quantize(w, rows, cols, h, o, "bench", {}, &gs);
  const double t_gptq = since(t);

  // ---- the same solve on the GPU ----------------------------------------------------------------------
  nlohmann::json gpu;
  if (dev.gpu) {
    const auto solver = dev.backend->gptq_solver();
    if (!solver) fail("bench gptq: the {} backend has no GPTQ solver", dev.backend->name());
    quant::GptqOptions og = o;
    og.solver = solver.get();
    quant::GptqStats gg;
    {  // cuSOLVER's and the kernels' first use
      std::vector<float> eye(16 * 16, 0.0f);
      for (int j = 0; j < 16; ++j) eye[static_cast<std::size_t>(j * 17)] = 1.0f;
      quant::GptqOptions ow = og;
      ow.group_size = -1;
      quant::gptq_quantize(std::vector<float>(w.begin(), w.begin() + 16), 1, 16, eye, ow, "warm-up");
    }
    t = clock_type::now();
    const quant::QuantizedLinear on_gpu = quant::gptq_quantize(w, rows, cols, h, og, "bench", {}, &gg);
    const double t_gpu = since(t);
    const double e_host = quant::output_error(w, on_host.dequantized, rows, cols, h);
    const double e_gpu = quant::output_error(w, on_gpu.dequantized, rows, cols, h);
    gpu = {{"where", dev.where}, {"prepare", gg.seconds_prepare}, {"factorisation", gg.seconds_factor},
           {"loop", gg.seconds_loop}, {"solve", t_gpu}, {"host_solve", t_gptq}, {"speedup", t_gptq / t_gpu},
           {"output_error_host", e_host}, {"output_error_gpu", e_gpu}};
  }

  // ---- the same BLAS / LAPACK work alone, BLAS on every thread ----------------------------------------
  tensor::set_blas_threads(threads);
  std::vector<float> c(static_cast<std::size_t>(cols * cols), 0.0f);
  tensor::ssyrk_tn(cols, seq, 1.0f, chunks[0].data(), cols, 0.0f, c.data(), cols);  // warm-up: BLAS's threads start
  t = clock_type::now();
  for (std::int64_t s = 0; s < samples; ++s)
    tensor::ssyrk_tn(cols, seq, 1.0f, chunks[static_cast<std::size_t>(s) % chunks.size()].data(), cols, 1.0f, c.data(), cols);
  const double f_syrk = since(t);
  std::vector<float> u = h;
  double mean = 0;
  for (std::int64_t j = 0; j < cols; ++j) mean += u[static_cast<std::size_t>(j * cols + j)];
  for (std::int64_t j = 0; j < cols; ++j) u[static_cast<std::size_t>(j * cols + j)] += static_cast<float>(gs.damp * mean / cols);
  t = clock_type::now();
  const int info = tensor::spotrf_upper(cols, u.data(), cols) | tensor::spotri_upper(cols, u.data(), cols) |
                   tensor::spotrf_upper(cols, u.data(), cols);
  const double f_factor = since(t);
  std::vector<float> err(static_cast<std::size_t>(128 * rows), 1e-3f), wc = w;
  t = clock_type::now();
  for (std::int64_t i1 = 0; i1 < cols; i1 += 128) {
    const std::int64_t i2 = std::min(i1 + 128, cols);
    if (i2 < cols)
      tensor::sgemm(true, false, rows, cols - i2, i2 - i1, -1.0f, err.data(), rows,
                    u.data() + i1 * cols + i2, cols, 1.0f, wc.data() + i2, cols);
  }
  const double f_gemm = since(t);
  tensor::set_blas_threads(1);

  const double total = t_hessian + t_gptq, floor = f_syrk + f_factor + f_gemm;
  if (json) {
    nlohmann::json j = {{"rows", rows}, {"cols", cols}, {"samples", samples}, {"seq_len", seq}, {"group", group},
                        {"act_order", o.act_order}, {"threads", threads},
                        {"phases_s", {{"hessian", t_hessian}, {"prepare", gs.seconds_prepare}, {"factorisation", gs.seconds_factor},
                                      {"loop", gs.seconds_loop}, {"loop_gemm", gs.seconds_gemm}, {"total", total}}},
                        {"floor_s", {{"xtx_ssyrk", f_syrk}, {"potrf_potri_potrf", f_factor}, {"update_gemms", f_gemm}, {"total", floor}}},
                        {"total_over_floor", total / floor}, {"lapack_info", info}};
    if (!gpu.is_null()) j["gpu"] = gpu;
    dev.add_to(j);
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("{:<28}{:>10}  {:>10}  {:>6}\n", "phase", "qlab s", "BLAS s", "ratio");
  fmt::print("{:<28}{:>10.3f}  {:>10.3f}  {:>6.2f}   (floor: ssyrk)\n", "Hessian X^T X", t_hessian, f_syrk, t_hessian / f_syrk);
  fmt::print("{:<28}{:>10.3f}  {:>10.3f}  {:>6.2f}   (floor: spotrf+spotri+spotrf)\n", "factorisation", gs.seconds_factor,
             f_factor, gs.seconds_factor / f_factor);
  fmt::print("{:<28}{:>10.3f}  {:>10.3f}  {:>6.2f}   (floor: the update GEMMs; {:.3f} s of the loop is GEMM)\n",
             "quantization loop", gs.seconds_loop, f_gemm, gs.seconds_loop / f_gemm, gs.seconds_gemm);
  fmt::print("{:<28}{:>10.3f}\n", "prepare (dead, damp, perm)", gs.seconds_prepare);
  fmt::print("{:<28}{:>10.3f}  {:>10.3f}  {:>6.2f}   (goal <= 1.5)\n", "total", total, floor, total / floor);
  if (!gpu.is_null())
    fmt::print("on {}: solve {:.3f} s (factorisation {:.3f}, loop {:.3f}) against the host's {:.3f} s: {:.1f}x; "
               "output error {:.4e} (host {:.4e})\n",
               dev.where, gpu["solve"].get<double>(), gpu["factorisation"].get<double>(), gpu["loop"].get<double>(),
               t_gptq, gpu["speedup"].get<double>(), gpu["output_error_gpu"].get<double>(),
               gpu["output_error_host"].get<double>());
  return 0;
}

std::vector<Option> options() {
  std::vector<Option> o = {{"rows", "R", "output features (default 4096)"},
                           {"cols", "C", "input features (default 4096)"},
                           {"samples", "N", "calibration sequences (default 128)"},
                           {"seq-len", "L", "tokens per sequence (default 2048)"},
                           {"group", "G", "group size, -1 per row (default 128)"},
                           {"act-order", "", "act-order (desc_act)"}};
  return with_device_options(std::move(o));
}

const Registrar reg{Command{
    "bench gptq", "GPTQ phases on one Linear against the same BLAS/LAPACK work alone",
    "[--rows R] [--cols C] [--samples N] [--seq-len L] [--group G] [--act-order] [--device D]",
    options(),

    "Times qlab's Hessian accumulation, factorisation and column loop, then the same BLAS/LAPACK calls alone\n"
    "(ssyrk, spotrf+spotri+spotrf, the lazy-update GEMMs) with BLAS on every thread: the floor the\n"
    "implementation is measured against (goal: total <= 1.5 x floor). --device cuda solves the same Linear\n"
    "on the GPU too and compares.",
    0, 0, run}};

}  // namespace
}  // namespace qlab::app
