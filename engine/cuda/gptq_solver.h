#pragma once
// GPTQ's solve on the GPU (model/gptq_solver.h): the three factorisations through cuSOLVER (potrf,
// potri, potrf, lower triangle of the column-major view = the host's row-major upper), the block's
// column loop in gptq.cu, the lazy batch update as one cuBLAS SGEMM per block (float32, no TF32).
// W, U and the codes stay on the device for the Linear; per group only its rows' ranges come back.
#include <memory>

#include "engine/cuda/weights.h"
#include "engine/model/gptq_solver.h"

namespace qlab::cuda {

// Its buffers come from `weights`' allocator, evicting weights the Linear does not need.
std::unique_ptr<model::GptqSolver> new_gptq_solver(WeightCache& weights);

}  // namespace qlab::cuda
