// Integer row-dot kernels (row_dot.h, row_dot_q8_impl.h) for AVX2 with FMA and F16C: the int8 dot
// products by VPMADDUBSW + VPMADDWD. Compiled with those flags (engine/CMakeLists.txt) and called only
// when the CPU reports them (cpu_features.h).
#include <cstdint>
#include <cstring>

#include "engine/tensor/row_dot.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace qlab::tensor::kernels::avx2 {
namespace {

#include "engine/tensor/row_dot_q8_x86.h"
#include "engine/tensor/row_dot_q8_impl.h"

}  // namespace

constinit const RowDotSet kIntRowDots = make_int_row_dots();

}  // namespace qlab::tensor::kernels::avx2

#else

namespace qlab::tensor::kernels::avx2 {
constinit const RowDotSet kIntRowDots{};
}

#endif
