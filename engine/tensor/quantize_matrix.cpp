#include "engine/tensor/quantize_matrix.h"

#include <algorithm>
#include <vector>

namespace qlab::tensor {

Matrix quantize_matrix(const Matrix& w, const formats::BlockFormatSpec& spec, QuantizedStorage storage) {
  std::vector<float> v = w.to_f32();
  const std::int64_t pc = formats::padded_cols(spec, w.cols);
  if (pc != w.cols) v = formats::pad_columns(v, w.rows, w.cols, pc);
  formats::QuantizedTensor q = formats::quantize(spec, v, w.rows, pc);
  if (storage == QuantizedStorage::Packed) return Matrix::owned_packed(std::move(q), spec, w.cols);
  formats::dequantize(q, v);
  if (pc != w.cols) {
    // in place, front to back: row r moves left from r * pc to r * cols (row 0 stays where it is)
    for (std::int64_t r = 1; r < w.rows; ++r) std::copy_n(v.begin() + r * pc, w.cols, v.begin() + r * w.cols);
    v.resize(static_cast<std::size_t>(w.rows * w.cols));
  }
  return Matrix::owned_f32(std::move(v), w.rows, w.cols);
}

}  // namespace qlab::tensor
