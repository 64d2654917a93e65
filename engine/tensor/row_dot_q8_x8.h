// The x8 kernels of one instruction set (rows interleaved by 8, row_interleave.h): declared by row_dot.h
// inside the namespace of each set that has them, avx512 (row_dot_q8_x8_avx512.cpp, ggml's types;
// row_dot_q8_x8_qlab_avx512.cpp, qlab's formats) and neon (row_dot_q8_x8_neon.cpp,
// row_dot_q8_x8_qlab_neon.cpp); the set's row_dot_q8_<isa>.cpp puts them in its kIntRowDots through
// with_interleaved. Included once per namespace, so it has no include guard.

void ggml_q4_0_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void ggml_q8_0_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void ggml_q4_k_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void ggml_q6_k_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void nvfp4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void mxfp4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void int4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void int8_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);

// s with the kernels above.
constexpr RowDotSet with_interleaved(RowDotSet s) {
  s.ggml_q4_0_x8 = ggml_q4_0_x8;
  s.ggml_q8_0_x8 = ggml_q8_0_x8;
  s.ggml_q4_k_x8 = ggml_q4_k_x8;
  s.ggml_q6_k_x8 = ggml_q6_k_x8;
  s.nvfp4_x8 = nvfp4_x8;
  s.mxfp4_x8 = mxfp4_x8;
  s.int4_x8 = int4_x8;
  s.int8_x8 = int8_x8;
  return s;
}
