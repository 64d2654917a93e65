// Real llama.cpp (node-llama-cpp's prebuilt CPU build) for qlab's tests: what llama.cpp computes
// from a GGUF file, written where a C++ test reads it.
//   node llama_cpp.mjs probs MODEL.gguf TOKENS_FILE OUT.bin [f32-kv]
//       loads MODEL.gguf, evaluates the token ids (whitespace-separated, used as given) in one
//       sequence and writes, for every position, the next-token probability of every vocabulary
//       entry: float32 little-endian [n_tokens x n_vocab] (entries llama.cpp leaves out are 0).
//       With f32-kv: a float32 KV cache and no flash attention (llama.cpp's defaults are an f16 cache
//       and flash attention, which round keys, values and attention weights to f16)
//   node llama_cpp.mjs tokenize MODEL.gguf TEXT_FILE OUT.txt
//       llama.cpp's token ids of the text (special tokens not parsed, BOS as the vocabulary says)
// Exit status 3 with one line on stderr when node-llama-cpp is not installed.
import { readFileSync, writeFileSync } from "node:fs";

let getLlama;
try {
  ({ getLlama } = await import("node-llama-cpp"));
} catch (e) {
  process.stderr.write(`node-llama-cpp is not installed here (run tests/node/install.sh): ${e.message}\n`);
  process.exit(3);
}

const [mode, modelPath, input, out, kv] = process.argv.slice(2);
if (!mode || !modelPath || !input || !out) {
  process.stderr.write("usage: node llama_cpp.mjs probs|tokenize MODEL.gguf INPUT OUT\n");
  process.exit(2);
}
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, vocabOnly: mode === "tokenize" });

if (mode === "tokenize") {
  const ids = model.tokenize(readFileSync(input, "utf8"), false);
  const bos = model.tokens.bos;
  const withBos = model.tokens.shouldPrependBosToken && bos != null ? [bos, ...ids] : ids;
  writeFileSync(out, withBos.join(" ") + "\n");
} else {
  const tokens = readFileSync(input, "utf8").trim().split(/\s+/).map(Number);
  const nVocab = model.fileInfo.tensorInfo.find((t) => t.name === "token_embd.weight").dimensions[1];
  const exact = kv === "f32-kv"
    ? { flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" }
    : {};
  const context = await model.createContext({ contextSize: tokens.length + 16, batchSize: tokens.length + 16, threads: 2, ...exact });
  const seq = context.getSequence();
  const res = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true } }]));
  const probs = new Float32Array(tokens.length * nVocab);
  res.forEach((r, i) => {
    for (const [tok, p] of r.next.probabilities) probs[i * nVocab + tok] = p;
  });
  writeFileSync(out, Buffer.from(probs.buffer));
  await context.dispose();
}
await model.dispose();
await llama.dispose();
