// Integer row-dot kernels (row_dot.h, row_dot_q8_impl.h) for AVX-512 VNNI: the int8 dot products by
// VPDPBUSD (256-bit, AVX-512 VL). Compiled with those flags (engine/CMakeLists.txt) and called only
// when the CPU reports them (cpu_features.h: avx512_vnni).
#include <cstdint>
#include <cstring>

#include "engine/tensor/row_dot.h"

#if defined(__x86_64__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
// GCC 12's AVX-512 headers initialise their "undefined" vectors from themselves, which its own
// -Wuninitialized then reports wherever a reduction or conversion is inlined (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace qlab::tensor::kernels::avx512 {
namespace {

#include "engine/tensor/row_dot_q8_x86.h"
#include "engine/tensor/row_dot_q8_impl.h"

}  // namespace

constinit const RowDotSet kIntRowDots = with_interleaved(make_int_row_dots());

}  // namespace qlab::tensor::kernels::avx512

#else

namespace qlab::tensor::kernels::avx512 {
constinit const RowDotSet kIntRowDots{};
}

#endif
