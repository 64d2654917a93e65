#pragma once
// The kernel table: which row-dot kernel (row_dot.h) reads which storage, one row per format family.
//   RowDotKernel     name, the formats it serves, its kernel in each instruction set's RowDotSet
//                    (and the activation blocks it takes), its integer kernel for ProductMath::Native
//                    if it has one, and how a quantized tensor's parts become the kernel's arguments
//   row_dot_kernels  the table (qlab's block formats, then ggml's types)
//   row_dot_sets     the instruction sets built in that this CPU runs, widest first, each its float
//                    kernels with the integer ones where the CPU has their dot product
//   row_dot_set      the first of those, or nullptr
//   bind_row_dot     a matrix's kernel and arguments on a given set, or nothing: no row serves its
//                    storage, its rows are not whole chunks of 32, or the set lacks the kernel
// ggml's types (BlockKind::Ggml, named "ggml-<type>") are read by integer kernels only: their
// activations are int8 blocks under llama.cpp (Matrix::round_input), so an integer product is theirs.
// A format outside the table gets its kernel by adding one row here and one kernel to row_dot_impl.h
// (float activations) or row_dot_q8_impl.h (int8 activations); a format without a row still runs,
// through the products that widen slabs of rows (matrix.cpp).
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
  kernels::ActivationBlocks activations;               // what `kernel` takes
  kernels::RowDot kernels::RowDotSet::*native;         // nullptr, or an integer kernel on Q8_0 blocks
  // Fills the parts and geometry of `a` from q (x is the caller's); q's parts are already checked.
  void (*bind)(const formats::QuantizedView& q, kernels::RowDotArgs& a);
};

const std::vector<RowDotKernel>& row_dot_kernels();
const RowDotKernel* row_dot_kernel_for(const formats::BlockFormatSpec& spec);

struct RowDotIsa {
  const char* name;             // "avx512", "avx2", "neon"
  const char* integer;          // the integer kernels' dot product: "vnni", "maddubs", "sdot" or "none"
  kernels::RowDotSet set;
};
const std::vector<RowDotIsa>& row_dot_sets();
// The kernels of the widest instruction set this build has and this CPU runs; nullptr if none.
const kernels::RowDotSet* row_dot_set();
// The name of that set ("avx512", "avx2", "neon" or "none"), for reports.
const char* row_dot_set_name();

struct BoundRowDot {
  kernels::RowDot fn = nullptr;
  // args.x (or, for activations other than Float, args.xq / xd / xs) left for the caller;
  // args.cols may exceed w.cols (padded rows)
  kernels::RowDotArgs args;
  kernels::ActivationBlocks activations = kernels::ActivationBlocks::Float;
  // The row's ProductMath::Native kernel: its Q8_0 blocks quantize the activations as the product
  // would take them (after w.round_input, if any). Otherwise a kernel on int8 blocks is a ggml type's,
  // whose blocks are the rounding w.round_input makes, so they are made from the activations as given.
  bool native = false;
  // The kernel's rows come in groups (an interleaved copy, row_interleave.h): its r0 and n are
  // multiples of this.
  std::int64_t row_group = 1;
};
// w.math == ProductMath::Native picks a row's integer kernel where it has one (and the set too). A
// ggml type's row binds only where w.round_input is set (its products round the activations). A
// matrix with a slot for an interleaved copy (row_interleave.h) binds the kernel that reads it on the
// product's activations (float ones under Fast, int8 under Native or a ggml type's rounding) if the
// set has it, and then makes the copy if it is not made yet (once; later calls wait for it).
std::optional<BoundRowDot> bind_row_dot(const Matrix& w, const kernels::RowDotSet& set);

}  // namespace qlab::tensor
