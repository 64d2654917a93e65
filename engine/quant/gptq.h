#pragma once
// GPTQ on one Linear weight (Frantar et al., ICLR 2023), as the reference implementation does it:
// IST-DASLab/gptq gptq.py GPTQ.fasterquant and quant.py Quantizer, AutoGPTQ's g_idx and the static
// groups option, GPTQModel's damping raised step by step (algorithms.md 2.4).
//   W [rows = out, cols = in] float32, H = 2/N X^T X [cols, cols] from the Linear's calibration inputs.
//   1. group -1: per-row parameters from the whole W (before step 2, as the reference does)
//   2. dead inputs: H[j][j] == 0 -> H[j][j] = 1, W[:, j] = 0
//   3. static groups: every group's parameters from W now (after step 2)
//   4. act-order: columns in order of decreasing H[j][j] (ties by index; torch's argsort is not stable)
//   5. H += damp * mean(diag H) * I; U = Cholesky factor of H^-1 (H^-1 = U^T U, upper) through LAPACK
//      spotrf / spotri / spotrf; a failure raises damp by damp_step (a warning each time) until it
//      reaches 1, then an error naming the Linear
//   6. blocks of block_size columns: column by column, a new group's parameters from the current W
//      (the full W: its columns in the current block do not have this block's updates yet -- the
//      reference's quirk for groups smaller than the block), q = decode(encode(w)), err = (w - q) / U[c][c],
//      the block's later columns -= err * U[c][.]; then the columns right of the block -= Err * U[block, right]
//      in one GEMM. Rows are independent: slabs of rows run on the thread pool, each with its own GEMMs.
// The parameter rule of a group is the int formats' (block_params.h) unless rule says otherwise, so the
// result is storable in intB-gG[-sym] (without act-order) and in GPTQ checkpoints (with it).
// With a solver (model/gptq_solver.h: a GPU), steps 5 and 6 run on it in the same order, block by
// block; a new group's range comes back to the host, which makes its parameters by the same rule.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/formats/block.h"
#include "engine/model/gptq_solver.h"
#include "engine/quant/quantized_linear.h"

namespace qlab::quant {

struct GptqOptions {
  int bits = 4;                 // 2, 3, 4 or 8
  std::int64_t group_size = 128;  // columns per group; -1: one group per row
  bool symmetric = false;
  bool act_order = false;       // desc_act
  bool static_groups = false;   // groups' parameters fixed from W before any update (needs grouping)
  double damp = 0.01;           // percdamp: fraction of mean(diag H) added to the diagonal
  double damp_step = 0.0025;    // raise per failed factorisation (GPTQModel's damp_auto_increment)
  std::int64_t block_size = 128;  // columns per lazy batch update
  // A last group shorter than group_size (in_features not a multiple of it), as the reference's slicing
  // does; false: an error naming the Linear (a checkpoint cannot store it).
  bool allow_partial_group = false;
  IntGroupRule rule = IntGroupRule::Format;
  // Where steps 5 and 6 run (Backend::gptq_solver); nullptr: on the host's thread pool.
  model::GptqSolver* solver = nullptr;
};

// bits, group size and symmetry of an int group format (intB-gG, intB-ch, intB-gG-sym); an error
// naming the format for any other.
GptqOptions gptq_options_for(const formats::BlockFormatSpec& spec);

struct GptqStats {
  double seconds_prepare = 0;   // dead columns, static groups, act-order permutation, damping
  double seconds_factor = 0;    // Cholesky, inverse, Cholesky of the inverse (every attempt)
  double seconds_loop = 0;      // the column loop and its block updates
  double seconds_gemm = 0;      // of which: the lazy block-update GEMMs (summed over threads / threads;
                                // 0 with a solver, whose work is asynchronous)
  double damp = 0;              // the damping that factorised
  int damp_raises = 0;
  int dead_columns = 0;
  double loss = 0;              // sum over rows and columns of (w - q)^2 / U[c][c]^2 / 2 (the reference's "error")
};

// weight: [rows, cols]; hessian: [cols, cols], both triangles (taken by value: it is overwritten).
// name: the Linear, for messages ("layer 3 mlp.down_proj"). Throws qlab::Error on bad shapes or
// options, NaN/Inf in W or H, and a factorisation that fails with damp raised to 1.
QuantizedLinear gptq_quantize(std::span<const float> weight, std::int64_t rows, std::int64_t cols,
                              std::vector<float> hessian, const GptqOptions& opt, const std::string& name,
                              const Warn& warn = {}, GptqStats* stats = nullptr);

}  // namespace qlab::quant
