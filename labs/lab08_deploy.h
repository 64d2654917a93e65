#pragma once
// Deployment recipes for lab 8: the commands that serve a checkpoint on the Spark with today's
// engines, chosen by what the checkpoint is. Each engine's flags follow its documentation as cited
// in content/lab08.json (step lab08.deploy), where the date they were checked is written too:
//   trtllm-serve   NVIDIA's DGX Spark TensorRT-LLM playbook: the release container, trtllm-serve on
//                  the Hugging Face folder, kv_cache_config.free_gpu_memory_fraction in the extra
//                  LLM-API options file, port 8355
//   vllm serve     vLLM's OpenAI-compatible server (--served-model-name, --max-model-len,
//                  --gpu-memory-utilization); a GGUF file with --tokenizer of its source model
//   llama-server   llama.cpp's server on a GGUF file (-m, -c, -ngl, --port); a Hugging Face folder is
//                  converted first with llama.cpp's convert_hf_to_gguf.py
//   ollama         a Modelfile whose FROM names the GGUF file, ollama create / ollama run; its
//                  OpenAI-compatible API on port 11434
// Every recipe ends with the qlab bench serve line that measures the server it starts.
#include <filesystem>
#include <string>
#include <vector>

namespace qlab::labs {

enum class CheckpointKind { HfFolder, ModelOptFolder, Gguf };

struct DeployTarget {
  CheckpointKind kind = CheckpointKind::HfFolder;
  std::filesystem::path path;     // the folder, or the .gguf file
  std::string name;               // the id clients name: the folder's or file's name
  std::string quant;              // ModelOpt's quant_algo ("NVFP4", "FP8"), or empty
  std::string summary;            // one paragraph: what was found and what follows from it
  const char* kind_name() const;  // "hf", "modelopt", "gguf"
};

// What `path` holds: a .gguf file (or a folder with exactly one), a ModelOpt checkpoint folder
// (hf_quant_config.json, or config.json's quantization_config with quant_method "modelopt"), or
// another Hugging Face folder. Error naming the path when it is none of these.
DeployTarget deploy_target(const std::filesystem::path& path);

struct Recipe {
  std::string engine;    // "trtllm-serve (TensorRT-LLM)"
  std::string commands;  // shell lines, ready to paste
};

std::vector<Recipe> deploy_recipes(const DeployTarget& t);

}  // namespace qlab::labs
