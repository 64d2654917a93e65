#pragma once
// What the CPU can run, asked once: the instruction sets the kernel files are built for.
//   avx2      AVX2 + FMA + F16C (x86-64-v3)
//   avx512    AVX-512 F, BW, VL and DQ (x86-64-v4); avx512_bf16: VDPBF16PS on top; avx512_vnni:
//             VPDPBUSD on top (every AVX-512 CPU since Cascade Lake and Zen 4)
//   neon      Armv8-A Advanced SIMD (every aarch64 CPU); neon_bf16: BFDOT / BFMMLA (Armv8.6 BF16);
//             neon_dotprod: SDOT / UDOT (Armv8.2's dot product, mandatory from Armv8.4)
// A kernel set is used only when its file was built for this target and the CPU reports every
// feature it needs (row_dot_table.h picks the widest).
namespace qlab::tensor {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512 = false;
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  bool neon = false;
  bool neon_bf16 = false;
  bool neon_dotprod = false;
};

const CpuFeatures& cpu_features();

}  // namespace qlab::tensor
