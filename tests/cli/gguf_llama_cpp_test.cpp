// Real llama.cpp loads every GGUF type qlab writes and computes what qlab computes. llama.cpp comes
// from npm (node-llama-cpp 3.21.1's prebuilt CPU build, tests/node/install.sh); this test never
// skips: without it, it fails saying how to install it.
// For each file type qlab writes from the built-in model (and, for the k-quants on whole 256-blocks,
// from a synthetic model with --pure), llama.cpp's next-token distribution at every position of a
// fixed token sequence is compared with qlab's on the same file: the mean and largest KL divergence
// and how often the top token agrees. The same for the transformers-made fixture models of each
// family qlab converts (Llama, Llama 3.1's rope scaling as rope_freqs, linear rope scaling, tied
// embeddings, Mistral, Qwen2's q/k/v biases).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <string>

#include "engine/core/atomic_file.h"
#include "tests/cli/plain_text.h"
#include "tests/cli/qlab_run.h"

namespace {

namespace fs = std::filesystem;
using qlab::testing::quoted;

fs::path node_dir() { return fs::path(QLAB_SOURCE_DIR) / "tests/node"; }

// The Node.js the tests run: the one install.sh put beside node-llama-cpp where the system's is older
// than 20, else the system's.
std::string node() {
  const fs::path local = node_dir() / "node_modules/.bin/node";
  return fs::exists(local) ? quoted(local) : std::string("node");
}

std::string sh(const std::string& cmd, int* code = nullptr) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  if (code) *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::vector<float> read_f32(const fs::path& p) {
  const std::string b = qlab::read_file(p);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

struct Agreement {
  double mean_kl = 0, max_kl = 0, same_top = 0;
};

// llama.cpp's probabilities p against softmax(qlab's logits): KL(p || q) per position (terms with
// p = 0 contribute nothing), and the share of positions whose most likely token is the same.
Agreement compare(const std::vector<float>& p, const std::vector<float>& logits, std::size_t vocab) {
  Agreement a;
  const std::size_t n = logits.size() / vocab;
  for (std::size_t i = 0; i < n; ++i) {
    const float* l = logits.data() + i * vocab;
    const float* pi = p.data() + i * vocab;
    const double m = *std::max_element(l, l + vocab);
    double s = 0;
    for (std::size_t k = 0; k < vocab; ++k) s += std::exp(l[k] - m);
    const double lse = m + std::log(s);
    double kl = 0;
    for (std::size_t k = 0; k < vocab; ++k)
      if (pi[k] > 0) kl += pi[k] * (std::log(static_cast<double>(pi[k])) - (l[k] - lse));
    a.mean_kl += kl / static_cast<double>(n);
    a.max_kl = std::max(a.max_kl, kl);
    a.same_top += (std::max_element(pi, pi + vocab) - pi == std::max_element(l, l + vocab) - l) ? 1.0 / static_cast<double>(n) : 0;
  }
  return a;
}

class LlamaCpp : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override {
    dir = qlab::testing::scratch_dir("qlab-llama-cpp");
    int code = 0;
    const std::string v = sh(node() + " --version", &code);
    ASSERT_EQ(code, 0) << "Node.js is not installed: the llama.cpp tests need it (./dev.sh test installs it)";
    ASSERT_GE(std::atoi(v.c_str() + (v[0] == 'v' ? 1 : 0)), 20)
        << "node-llama-cpp 3.21.1 needs Node.js 20 or newer; this machine has " << v
        << ": run tests/node/install.sh (./dev.sh test does), which then installs Node.js 20 beside it";
    ASSERT_TRUE(fs::exists(node_dir() / "node_modules/node-llama-cpp/package.json"))
        << "node-llama-cpp is not installed: run tests/node/install.sh (./dev.sh test does)";
  }
  void TearDown() override { fs::remove_all(dir); }

  // llama.cpp's probabilities for `tokens` on `model`, [n x vocab].
  std::vector<float> llama_probs(const fs::path& model, const fs::path& tokens, const std::string& mode = "f32-kv") {
    int code = 0;
    const std::string out = sh(node() + " " + quoted(node_dir() / "llama_cpp.mjs") + " probs " + quoted(model) + " " +
                               quoted(tokens) + " " + quoted(dir / "p.bin") + " " + mode, &code);
    EXPECT_EQ(code, 0) << "llama.cpp failed on " << model << ": " << out;
    return read_f32(dir / "p.bin");
  }
  // tokens.txt: the first n ids of the built-in model's eval text (its document separator
  // "<|endoftext|>" written as a line break: llama.cpp would tokenize it as plain text, which the
  // model never saw) as llama.cpp tokenizes it.
  void write_eval_tokens(std::size_t n) {
    ASSERT_EQ(qlab::testing::run_qlab(dir, "gguf builtin --type F32 --out vocab.gguf").code, 0);
    const std::string text = qlab::testing::endoftext_as_line_breaks(
        qlab::read_file(fs::path(QLAB_SOURCE_DIR) / "assets/builtin/eval.txt").substr(0, 8 * n));
    std::ofstream(dir / "text.txt") << text;
    int code = 0;
    const std::string out = sh(node() + " " + quoted(node_dir() / "llama_cpp.mjs") + " tokenize " + quoted(dir / "vocab.gguf") +
                               " " + quoted(dir / "text.txt") + " " + quoted(dir / "ids.txt"), &code);
    ASSERT_EQ(code, 0) << out;
    std::istringstream in(qlab::read_file(dir / "ids.txt"));
    std::ofstream ids(dir / "tokens.txt");
    std::size_t k = 0;
    for (long v; k < n && in >> v; ++k) ids << v << ' ';
    ASSERT_EQ(k, n) << "the text is too short";
  }
  std::vector<float> qlab_logits(const fs::path& model, const fs::path& tokens) {
    const auto r = qlab::testing::run_qlab(dir, "logits " + quoted(model) + " --tokens " + quoted(tokens) + " --out l.bin");
    EXPECT_EQ(r.code, 0) << r.err;
    return read_f32(dir / "l.bin");
  }
};

TEST_F(LlamaCpp, TokenizesTheBuiltInModelsTextAsQlabDoes) {
  ASSERT_EQ(qlab::testing::run_qlab(dir, "gguf builtin --type F32 --out m.gguf").code, 0);
  const std::string text = qlab::read_file(fs::path(QLAB_SOURCE_DIR) / "assets/builtin/eval.txt").substr(0, 4000);
  std::ofstream(dir / "text.txt") << text;
  int code = 0;
  const std::string out = sh(node() + " " + quoted(node_dir() / "llama_cpp.mjs") + " tokenize " + quoted(dir / "m.gguf") +
                             " " + quoted(dir / "text.txt") + " " + quoted(dir / "ids.txt"), &code);
  ASSERT_EQ(code, 0) << out;
  // qlab ppl prints how many tokens the text is; the ids themselves are checked by
  // test_gguf's GgufTokenizer suite against llama-tokenize. Here: the same count and first ids.
  const auto r = qlab::testing::run_qlab(dir, "ppl m.gguf --text text.txt --ctx 16 --chunks 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream ids(qlab::read_file(dir / "ids.txt"));
  std::size_t n = 0;
  for (long v; ids >> v;) ++n;
  EXPECT_EQ(n, nlohmann::json::parse(r.out)["tokens"].get<std::size_t>());
}

// Bounds, in nats, per mode of llama.cpp. qlab runs the very bytes llama.cpp runs, with the
// activation rounding of llama.cpp's reference kernels (ggml_activations.h); measured on this sequence:
//   f32-kv    llama.cpp with a float32 KV cache and no flash attention. F32, F16, BF16, Q4_0, Q2_K,
//             MXFP4: 1e-6 mean. Q4_1, Q5_x, Q3_K, Q4_K, Q5_K: 2e-5 to 1.3e-4 mean: the prebuilt
//             library picks its kernels for the machine (AVX-512 here), whose dot products for these
//             types round differently from the reference path (a locally built AVX2 llama.cpp agrees
//             with qlab to 2e-6 on Q4_K_M and 2e-8 on Q2_K). Bounds: mean < 3e-4, largest < 1e-2,
//             top token 96 %.
//   default   llama.cpp out of the box: keys, values and attention weights rounded to f16 as well
//             (4e-5 to 1.5e-4 mean). Bounds: mean < 5e-4, largest < 2e-2, top token 95 % (near-ties
//             swap).
// What they catch: without the activation rounding qlab is at ~1e-3 mean; a Q/K row order, scale or
// dequantization mistake at 0.1 and more.
struct Mode {
  const char* node_arg;
  double mean_kl, max_kl, top;
};

TEST_F(LlamaCpp, EveryTypeQlabWritesComputesAsLlamaCppDoes) {
  const std::vector<std::string> types = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
                                          "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
                                          "Q6_K", "MXFP4_MOE --pure"};
  const Mode modes[] = {{"f32-kv", 3e-4, 1e-2, 0.96}, {"", 5e-4, 2e-2, 0.95}};
  write_eval_tokens(128);
  for (const auto& t : types) {
    const auto w = qlab::testing::run_qlab(dir, "gguf builtin --type " + t + " --out m.gguf");
    ASSERT_EQ(w.code, 0) << t << ": " << w.err;
    const auto l = qlab_logits(dir / "m.gguf", dir / "tokens.txt");
    for (const Mode& m : modes) {
      const auto p = llama_probs(dir / "m.gguf", dir / "tokens.txt", m.node_arg);
      ASSERT_EQ(p.size(), l.size()) << t;
      const Agreement a = compare(p, l, 768);
      const std::string what = t + (*m.node_arg ? " (llama.cpp f32 KV cache)" : " (llama.cpp defaults)");
      EXPECT_LT(a.mean_kl, m.mean_kl) << what;
      EXPECT_LT(a.max_kl, m.max_kl) << what;
      EXPECT_GE(a.same_top, m.top) << what;
      std::printf("  %-44s mean KL %.3g  max KL %.3g  same top %.1f%%\n", what.c_str(), a.mean_kl, a.max_kl,
                  100 * a.same_top);
    }
  }
}

TEST_F(LlamaCpp, KQuantBlocksOfASyntheticModel) {
  // The built-in model's 64-wide rows take k-quant blocks only in ffn_down; this random model's rows
  // are all whole 256-blocks, so --pure puts every weight in the type. Its distributions are nearly
  // flat (random weights), so only the KL is compared, against the f32-kv bounds.
  ASSERT_EQ(qlab::testing::run_qlab(dir, "synth-model --out synth --layers 2 --hidden 256 --heads 4 --kv-heads 2 "
                                         "--intermediate 512 --vocab 768 --dtype f32 --seed 3").code, 0);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(fs::path(QLAB_SOURCE_DIR) / "assets/builtin" / f, dir / "synth" / f);
  write_eval_tokens(48);
  for (const char* t : {"Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"}) {
    const auto w = qlab::testing::run_qlab(dir, std::string("gguf synth --pure --type ") + t + " --out m.gguf");
    ASSERT_EQ(w.code, 0) << t << ": " << w.err;
    const Agreement a = compare(llama_probs(dir / "m.gguf", dir / "tokens.txt"), qlab_logits(dir / "m.gguf", dir / "tokens.txt"), 768);
    EXPECT_LT(a.mean_kl, 3e-4) << t;  // the f32-kv bounds above
    EXPECT_LT(a.max_kl, 1e-2) << t;
    std::printf("  synth --pure %-8s mean KL %.3g  max KL %.3g\n", t, a.mean_kl, a.max_kl);
  }
}

// A byte-level BPE tokenizer.json of 256 byte tokens and no merges (GPT-2's byte-to-character map),
// so a fixture model of vocabulary 256 carries a tokenizer llama.cpp loads.
std::string byte_level_tokenizer_json() {
  std::vector<int> bytes, chars;
  for (int b = 0; b < 256; ++b)
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) bytes.push_back(b);
  chars = bytes;
  for (int b = 0, extra = 0; b < 256; ++b)
    if (std::find(bytes.begin(), bytes.end(), b) == bytes.end()) {
      bytes.push_back(b);
      chars.push_back(256 + extra++);
    }
  nlohmann::json vocab = nlohmann::json::object();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int c = chars[i];  // below 0x800: one or two UTF-8 bytes
    std::string u = c < 0x80 ? std::string(1, static_cast<char>(c))
                             : std::string{static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    vocab[u] = bytes[i];
  }
  return nlohmann::json{{"version", "1.0"},
                        {"added_tokens", nlohmann::json::array()},
                        {"normalizer", nullptr},
                        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
                        {"post_processor", nullptr},
                        {"decoder", {{"type", "ByteLevel"}}},
                        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}}
      .dump();
}

TEST_F(LlamaCpp, EveryFamilyQlabConvertsRunsInLlamaCpp) {
  // Models made by transformers (tests/fixtures/models, vocabulary 256), each with a byte-level
  // tokenizer added: llama.cpp must accept the architecture, hyper-parameters, rope scaling and
  // tensors qlab writes for it and compute what qlab computes, against the f32-kv bounds above.
  for (const char* m : {"llama", "llama31", "llama_linear", "llama_tied", "mistral", "qwen2"}) {
    const fs::path src = fs::path(QLAB_SOURCE_DIR) / "tests/fixtures/models" / m;
    fs::remove_all(dir / "m");
    fs::create_directories(dir / "m");
    for (const auto& e : fs::directory_iterator(src)) fs::copy_file(e.path(), dir / "m" / e.path().filename());
    std::ofstream(dir / "m/tokenizer.json") << byte_level_tokenizer_json();
    fs::copy_file(src / "tokens.txt", dir / "tokens.txt", fs::copy_options::overwrite_existing);
    for (const char* t : {"F32", "Q8_0"}) {
      const auto w = qlab::testing::run_qlab(dir, std::string("gguf m --type ") + t + " --out m.gguf");
      ASSERT_EQ(w.code, 0) << m << " " << t << ": " << w.err;
      const auto p = llama_probs(dir / "m.gguf", dir / "tokens.txt", "f32-kv");
      const auto l = qlab_logits(dir / "m.gguf", dir / "tokens.txt");
      ASSERT_EQ(p.size(), l.size()) << m << " " << t;
      const Agreement a = compare(p, l, 256);
      EXPECT_LT(a.mean_kl, 3e-4) << m << " " << t;
      EXPECT_LT(a.max_kl, 1e-2) << m << " " << t;
      std::printf("  %-13s %-5s mean KL %.3g  max KL %.3g  same top %.1f%%\n", m, t, a.mean_kl, a.max_kl,
                  100 * a.same_top);
    }
  }
}

}  // namespace
