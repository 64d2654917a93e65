#pragma once
// llama-imatrix's statistics, computed by qlab's runtime through the layer hook.
//   ImatrixOptions    context per chunk, chunk limit, BOS, the dataset name recorded in the file
//   compute_imatrix   for every Linear of the decoder layers (GGUF names: blk.N.attn_q.weight, ...),
//                     the sum over all evaluated tokens of the square of each input column, and the
//                     number of tokens counted; q/k/v share their input (the attention norm's output),
//                     gate/up theirs (the MLP norm's output); o and down each see their own
// Protocol (llama.cpp tools/imatrix/imatrix.cpp, compute_imatrix and collect_imatrix): the text is
// tokenized once (BOS first when the tokenizer adds it; the caller does that), at least 2 chunks'
// worth of tokens are needed, chunk i is tokens [i*n_ctx, (i+1)*n_ctx) with its first token replaced
// by BOS when there is one, every token of every chunk is evaluated in a fresh context and counted,
// output.weight is not collected (llama-imatrix's --process-output is off by default). The file
// records chunk_count = chunks evaluated and chunk_size = n_ctx. Sums are accumulated in double and
// stored as float32 (llama.cpp sums in float32: the two agree to float tolerance). One difference
// is llama.cpp's, not qlab's: it skips a final micro-batch of fewer than 16 tokens, which happens
// only when the tokens of one batch leave such a remainder of its 512-token micro-batches.
#include <cstdint>
#include <optional>
#include <span>
#include <stop_token>
#include <string>

#include "engine/core/progress.h"
#include "engine/gguf/imatrix_file.h"
#include "engine/model/backend.h"
#include "engine/model/model.h"

namespace qlab::gguf {

struct ImatrixOptions {
  std::int64_t n_ctx = 512;
  std::int64_t max_chunks = 0;          // 0: every whole chunk
  std::optional<std::int32_t> bos;      // overwrite each chunk's first token with it
  std::string dataset;                  // recorded in imatrix.datasets
  model::Backend* backend = nullptr;    // where the chunks run (nullptr: the CPU)
};

Imatrix compute_imatrix(const model::Model& m, std::span<const std::int32_t> tokens, const ImatrixOptions& o,
                        Progress& progress = Progress::none(), std::stop_token stop = {});

}  // namespace qlab::gguf
