#pragma once
// GPTQ's arithmetic over one Linear on a backend with dense linear algebra of its own (a GPU): the
// factorisations and the column loop of quant/gptq.h (steps 5 and 6), which are most of GPTQ's time
// once the calibration passes run on that backend. quant/gptq.cpp drives it and keeps the decisions:
// the damping raised after a failed factorisation, each group's parameters from its range (the same
// rule functions as the host path), the messages, the act-order permutation.
//
//   begin       W [rows, cols] in processing order (act-order applied), and which parameter set
//               ("slot") each column is quantized with
//   factor      U, upper, with (H + add I)^-1 = U^T U (H [cols, cols] in processing order)
//   ranges      per row, the range of W's columns [c, c + n) as it is now (a new group's parameters)
//   set_params  a slot's parameters, per row
//   block       columns [i1, i2): each column quantized with its slot's parameters, its error
//               divided by U's diagonal and fed to the block's later columns; then the columns right
//               of the block take the block's errors in one product (the lazy batch update)
//   finish      the codes and the dequantized W, and the loss
// All pointers are host memory. Every call may throw qlab::Error (out of memory, a failed launch).
#include <cstdint>
#include <span>

namespace qlab::model {

// One slot's parameters for one row, as formats::IntGroupParams holds them.
struct GptqRowParams {
  float scale = 0, zero = 0, lo = 0, hi = 0;
};

// Per row: min(0, min x), max(0, max x), max |x| over the columns asked for.
struct GptqRowRange {
  float xmin = 0, xmax = 0, amax = 0;
};

class GptqSolver {
 public:
  virtual ~GptqSolver() = default;
  // slot_of_column[c] < slots for every column.
  virtual void begin(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t block_size,
                     std::span<const std::int32_t> slot_of_column, std::int64_t slots) = 0;
  // h: [cols, cols], the upper triangle read. False when a factorisation fails or U's diagonal is not
  // positive and finite (the caller raises the damping and tries again).
  virtual bool factor(const float* h, float add) = 0;
  // out: [rows].
  virtual void ranges(std::int64_t c, std::int64_t n, GptqRowRange* out) = 0;
  // params: [rows].
  virtual void set_params(std::int64_t slot, const GptqRowParams* params) = 0;
  // At most block_size columns, blocks in order, after factor().
  virtual void block(std::int64_t i1, std::int64_t i2) = 0;
  // codes and q: [rows, cols] in processing order. Returns sum over rows and columns of
  // (w - q)^2 / U[c][c]^2, in double.
  virtual double finish(std::uint8_t* codes, float* q) = 0;
};

}  // namespace qlab::model
