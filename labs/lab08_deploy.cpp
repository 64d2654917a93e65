#include "labs/lab08_deploy.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::labs {

namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) return nlohmann::json();
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) fail("{}: not valid JSON", p.string());
  return j;
}

// ModelOpt's quantization algorithm ("NVFP4", "FP8", ...) of a checkpoint folder, or "" when it is
// not a ModelOpt export: hf_quant_config.json {"quantization": {"quant_algo": ...}}, or config.json's
// quantization_config {"quant_method": "modelopt", "quant_algo": ...}.
std::string modelopt_algo(const fs::path& dir) {
  const auto hq = read_json(dir / "hf_quant_config.json");
  if (hq.is_object() && hq.contains("quantization") && hq["quantization"].is_object()) {
    const auto& q = hq["quantization"];
    return q.contains("quant_algo") && q["quant_algo"].is_string() ? q["quant_algo"].get<std::string>() : "modelopt";
  }
  const auto cfg = read_json(dir / "config.json");
  if (cfg.is_object() && cfg.contains("quantization_config") && cfg["quantization_config"].is_object()) {
    const auto& q = cfg["quantization_config"];
    if (q.value("quant_method", "") == "modelopt")
      return q.contains("quant_algo") && q["quant_algo"].is_string() ? q["quant_algo"].get<std::string>() : "modelopt";
  }
  return {};
}

// A path in single quotes for a shell line ('\'' for a quote inside).
std::string sh(const fs::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string bench_line(int port, const std::string& model) {
  return fmt::format("qlab bench serve --url http://127.0.0.1:{}/v1 --model {} --concurrency 1,4,16", port, model);
}

}  // namespace

const char* DeployTarget::kind_name() const {
  switch (kind) {
    case CheckpointKind::HfFolder: return "hf";
    case CheckpointKind::ModelOptFolder: return "modelopt";
    case CheckpointKind::Gguf: return "gguf";
  }
  return "?";
}

DeployTarget deploy_target(const fs::path& path) {
  DeployTarget t;
  t.path = fs::absolute(path).lexically_normal();
  if (t.path.has_filename() == false) t.path = t.path.parent_path();
  if (fs::is_regular_file(t.path)) {
    if (t.path.extension() != ".gguf")
      fail("{}: a file that is not .gguf; give a GGUF file or a Hugging Face checkpoint folder", path.string());
    t.kind = CheckpointKind::Gguf;
  } else if (fs::is_directory(t.path)) {
    std::vector<fs::path> ggufs;
    for (const auto& e : fs::directory_iterator(t.path))
      if (e.is_regular_file() && e.path().extension() == ".gguf") ggufs.push_back(e.path());
    const bool hf = fs::exists(t.path / "config.json");
    if (!hf && ggufs.size() == 1) {
      t.path = ggufs[0];
      t.kind = CheckpointKind::Gguf;
    } else if (!hf) {
      fail("{}: neither a Hugging Face checkpoint (config.json) nor a folder with one .gguf file{}", path.string(),
           ggufs.size() > 1 ? fmt::format(" (it has {}: name one)", ggufs.size()) : std::string());
    } else {
      t.quant = modelopt_algo(t.path);
      t.kind = t.quant.empty() ? CheckpointKind::HfFolder : CheckpointKind::ModelOptFolder;
    }
  } else {
    fail("{}: no such file or folder", path.string());
  }
  t.name = t.kind == CheckpointKind::Gguf ? t.path.stem().string() : t.path.filename().string();
  switch (t.kind) {
    case CheckpointKind::ModelOptFolder:
      t.summary = fmt::format(
          "{} is a ModelOpt {} checkpoint: trtllm-serve and vllm serve load it as it is, with the quantized "
          "kernels of the Spark's GPU. llama.cpp and Ollama do not read ModelOpt checkpoints: serve a GGUF "
          "made from the unquantized model with them.",
          t.path.string(), t.quant);
      break;
    case CheckpointKind::HfFolder:
      t.summary = fmt::format(
          "{} is a Hugging Face checkpoint without ModelOpt quantization: trtllm-serve and vllm serve load it "
          "as it is (in its stored precision, or its own quantization_config); llama.cpp and Ollama need it "
          "converted to GGUF first.",
          t.path.string());
      break;
    case CheckpointKind::Gguf:
      t.summary = fmt::format(
          "{} is a GGUF file: llama-server and Ollama serve it as it is; vllm serve reads a single-file GGUF "
          "given the tokenizer of the model it came from; trtllm-serve does not read GGUF.",
          t.path.string());
      break;
  }
  return t;
}

std::vector<Recipe> deploy_recipes(const DeployTarget& t) {
  std::vector<Recipe> out;
  const std::string name = t.name;
  if (t.kind != CheckpointKind::Gguf) {
    out.push_back({"trtllm-serve (TensorRT-LLM, in NVIDIA's Spark release container)",
                   fmt::format("export DOCKER_IMAGE=nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc6\n"
                               "cat > extra-llm-api-config.yml <<EOF\n"
                               "kv_cache_config:\n"
                               "  free_gpu_memory_fraction: 0.9\n"
                               "EOF\n"
                               "docker run --rm -it --gpus all --ipc host --network host \\\n"
                               "  -v {}:/models/{} -v \"$PWD/extra-llm-api-config.yml\":/extra.yml \\\n"
                               "  $DOCKER_IMAGE \\\n"
                               "  trtllm-serve /models/{} --max_batch_size 64 --trust_remote_code --port 8355 \\\n"
                               "    --extra_llm_api_options /extra.yml\n"
                               "{}",
                               sh(t.path), name, name, bench_line(8355, "/models/" + name))});
    out.push_back({"vllm serve (vLLM)",
                   fmt::format("vllm serve {} --served-model-name {} --port 8000 \\\n"
                               "  --max-model-len 8192 --gpu-memory-utilization 0.7\n"
                               "{}",
                               sh(t.path), name, bench_line(8000, name))});
    out.push_back({"llama-server (llama.cpp): convert to GGUF first",
                   fmt::format("python convert_hf_to_gguf.py {} --outtype bf16 --outfile {}-bf16.gguf\n"
                               "llama-quantize {}-bf16.gguf {}-Q4_K_M.gguf Q4_K_M\n"
                               "llama-server -m {}-Q4_K_M.gguf --port 8080 -c 8192 -ngl 99\n"
                               "{}",
                               sh(t.path), name, name, name, name, bench_line(8080, name))});
    out.push_back({"qlab serve (this machine's CPU, for trying the API)",
                   fmt::format("qlab serve {} --port 8081\n{}", sh(t.path), bench_line(8081, name))});
  } else {
    std::string tag = name;  // Ollama's model names are lower case
    for (char& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back({"llama-server (llama.cpp)",
                   fmt::format("llama-server -m {} --port 8080 -c 8192 -ngl 99\n{}", sh(t.path),
                               bench_line(8080, name))});
    out.push_back({"ollama (its OpenAI-compatible API on port 11434)",
                   fmt::format("printf 'FROM %s\\n' {} > Modelfile\n"
                               "ollama create {} -f Modelfile\n"
                               "ollama run {} \"Hello\"\n"
                               "{}",
                               sh(t.path), tag, tag, bench_line(11434, tag))});
    out.push_back({"vllm serve (vLLM, single-file GGUF)",
                   fmt::format("vllm serve {} --tokenizer SOURCE_MODEL_FOLDER_OR_REPO --served-model-name {} --port 8000\n"
                               "{}",
                               sh(t.path), name, bench_line(8000, name))});
  }
  return out;
}

}  // namespace qlab::labs
