#pragma once
// The kernel table: which row-dot kernel (row_dot.h) reads which storage, one row per format family.
//   RowDotKernel     name, the formats it serves, its kernel in each instruction set's RowDotSet,
//                    and how a quantized tensor's parts become the kernel's arguments
//   row_dot_kernels  the table (half precision and float32 rows first, then the block formats)
//   row_dot_set      the kernels of this CPU's widest instruction set built in, or nullptr
//   bind_row_dot     a matrix's kernel and arguments on a given set, or nothing: no row serves its
//                    storage, its rows are not whole chunks of 32, or the set lacks the kernel
// A format outside the table (a GGUF type registered as a block format) gets its kernel by adding
// one row here and one kernel to row_dot_impl.h; a format without a row still runs, through the
// products that widen slabs of rows (matrix.cpp).
#include <optional>
#include <vector>

#include "engine/formats/block.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/row_dot.h"

namespace qlab::tensor {

struct RowDotKernel {
  const char* name;
  bool (*serves)(const formats::BlockFormatSpec& spec);
  kernels::RowDot kernels::RowDotSet::*kernel;
  // Fills the parts and geometry of `a` from q (x is the caller's); q's parts are already checked.
  void (*bind)(const formats::QuantizedView& q, kernels::RowDotArgs& a);
};

const std::vector<RowDotKernel>& row_dot_kernels();
const RowDotKernel* row_dot_kernel_for(const formats::BlockFormatSpec& spec);

// The kernels of the widest instruction set this build has and this CPU runs; nullptr if none.
const kernels::RowDotSet* row_dot_set();
// The name of that set ("avx512", "avx2", "neon" or "none"), for reports.
const char* row_dot_set_name();

struct BoundRowDot {
  kernels::RowDot fn = nullptr;
  kernels::RowDotArgs args;  // args.x left for the caller; args.cols may exceed w.cols (padded rows)
};
std::optional<BoundRowDot> bind_row_dot(const Matrix& w, const kernels::RowDotSet& set);

}  // namespace qlab::tensor
