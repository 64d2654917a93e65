#pragma once
// A Llama-family model's architecture keys in GGUF, both ways.
//   gguf_arch               "llama" for Llama and Mistral (llama.cpp's converter maps both there; their
//                           Q and K rows are permuted), "qwen2" for Qwen2 (not permuted)
//   model_metadata          general.architecture/type/name and the <arch>.* hyper-parameters in the
//                           order convert_hf_to_gguf.py writes them, with the types llama.cpp's loader
//                           requires (UINT32 counts, FLOAT32 epsilon and rope base; gguf.md §2)
//   llama3_rope_factors     Llama 3.1's rope scaling as the converter's rope_freqs tensor [head_dim/2]
//   model_config_from_gguf  the io::ModelConfig a GGUF file describes, for the runtime: hidden size,
//                           layers, heads, KV heads, head dim (key_length, else hidden / heads), FFN
//                           size, epsilon, rope base (default 10000) and linear scaling, rope_freqs as
//                           frequency factors, vocabulary size, tying (no output.weight), BOS / EOS
// Refused by model_config_from_gguf, one line naming the file: an architecture other than llama and
// qwen2; per-layer head or FFN counts that differ between layers; a rope dimension count other than
// the head dim (partial rotary); rope scaling other than none and linear; a missing required key.
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_value.h"
#include "engine/io/model_config.h"

namespace qlab::gguf {

std::string gguf_arch(const io::ModelConfig& c);
// Whether the converter permutes this architecture's Q and K rows (gguf.md §2.3).
bool permutes_qk(std::string_view arch);

std::vector<std::pair<std::string, MetaValue>> model_metadata(const io::ModelConfig& c, const std::string& name);

// Empty unless c.rope.type is llama3.
std::vector<float> llama3_rope_factors(const io::ModelConfig& c);

io::ModelConfig model_config_from_gguf(const GgufFile& f);

}  // namespace qlab::gguf
