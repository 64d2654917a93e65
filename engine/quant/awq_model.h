#pragma once
// AWQ over a whole model in memory, per decoder block as AutoAWQ's AwqQuantizer.quantize does it
// (algorithms.md 3.2): run the block (unquantized) on the held inputs, caching its Linears' inputs (the
// outputs become the next block's inputs: AWQ does not carry quantization error forward); search a
// per-input-channel scale for each group of Linears sharing an input, comparing the output of
//   q, k, v  -> the self-attention block (q/k/v, RoPE, attention, o_proj)   prev op: the attention norm
//   o        -> o_proj             prev op: v_proj (only when v and o have one shape: no GQA)
//   gate, up -> the MLP (gate/up, SwiGLU, down)                            prev op: the MLP norm
//   down     -> down_proj          prev op: up_proj
// with the block's original weights; fold every scale into its prev op (norm weight / s, or the
// previous Linear's rows and bias / s) and the Linears' columns (* s); clip search for every Linear but
// q and k; round-to-nearest with the int formats' rule. The model changes in memory (norms, v, up).
// A journal (layer_journal.h) records each finished block; blocks it holds are replayed: the held inputs
// run through the original block first (as above), then its recorded weights, norms and biases go in.
#include <stop_token>

#include "engine/core/progress.h"
#include "engine/model/model.h"
#include "engine/quant/awq.h"
#include "engine/quant/calibration.h"
#include "engine/quant/gptq_model.h"

namespace qlab::quant {

// The bytes AWQ calibration holds: LayerRunner, every Linear input of one block for all samples, and
// the compared module's outputs.
CalibrationMemory awq_memory(const io::ModelConfig& c, std::int64_t samples, std::int64_t seq_len);

// Per-Linear reports: output_error on the clip search's token subsample, in the scaled space.
ModelQuantReport quantize_model_awq(model::Model& m, const CalibrationSet& calib, const AwqOptions& opt,
                                    Progress& progress = Progress::none(), std::stop_token stop = {},
                                    const Warn& warn = {}, const LinearSink& on_linear = {},
                                    LayerJournal* journal = nullptr);

// The self-attention block's output (o_proj's) for normed inputs h [samples * seq_len, H] with the
// weights of lw, each sequence from position 0: [samples * seq_len, H] into out.
void self_attention_output(const model::Model& m, int layer, const model::LayerWeights& lw, const float* h,
                           std::int64_t samples, std::int64_t seq_len, float* out);

}  // namespace qlab::quant
