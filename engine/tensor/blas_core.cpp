#include "engine/tensor/blas_core.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "engine/tensor/cpu_features.h"

// OpenBLAS exports the name of its kernel set; other BLAS libraries do not (weak, as blas.cpp).
extern "C" char* openblas_get_corename(void) __attribute__((weak));

namespace qlab::tensor {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string blas_core_name() {
  if (!openblas_get_corename) return "";
  const char* n = openblas_get_corename();
  return n ? n : "";
}

std::string choose_blas_core(const std::string& chosen, const BlasCpu& cpu) {
  const std::string c = lower(chosen);
  // OpenBLAS's x86-64 sets older than Haswell (dynamic.c): what an unknown Intel or AMD CPU gets
  static const char* const kOldX86[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
                                        "sandybridge", "barcelona", "bobcat", "opteron", "katmai", "northwood"};
  if (cpu.x86_avx2_fma)
    for (const char* old : kOldX86)
      if (c == old) return cpu.x86_avx512 ? "SkylakeX" : "Haswell";
  if (cpu.aarch64_neon && c == "armv8") return "NEOVERSEN1";
  return "";
}

std::string better_blas_core() {
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  if (set && *set) return "";
  const std::string chosen = blas_core_name();
  if (chosen.empty()) return "";
  const CpuFeatures& f = cpu_features();
#if defined(__aarch64__)
  return choose_blas_core(chosen, BlasCpu{.aarch64_neon = f.neon});
#else
  return choose_blas_core(chosen, BlasCpu{.x86_avx2_fma = f.avx2, .x86_avx512 = f.avx512});
#endif
}

}  // namespace qlab::tensor
