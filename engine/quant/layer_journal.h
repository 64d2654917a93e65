#pragma once
// What a calibrated whole-model quantization (GPTQ, AWQ) has finished, kept on disk layer by layer so a
// run that is interrupted (Ctrl-C, kill, a power loss) continues from the last finished decoder layer
// (`qlab quantize --method gptq|awq --resume`) instead of calibrating every layer again.
//   FinishedLayer   one decoder layer's results: each Linear's codes, scales, zeros, g_idx (and act-order
//                   permutation), the layer's norms and biases as quantizing left them (AWQ folds its
//                   scales into them), and the reports the command prints
//   LayerJournal    the folder <out>.qlab-layers beside the checkpoint's: journal.json (the run's key,
//                   the finished layers' count and reports) and layer-NNNNN.safetensors per layer. A
//                   layer's file is written (atomically) before the journal names it, so the journal
//                   never names a layer that is not whole on disk. The folder is locked while a run
//                   uses it; a second run into the same --out is refused.
// Lifecycle (qlab quantize): opened before calibration; record() after each layer; remove() once the
// checkpoint is in place; keep() on a cancel, and on an error while writing the checkpoint once every
// layer is quantized (a full disk, say: the command says where, and --resume continues); any other error
// removes it, as the run's outcome would be the same again.
// A run without resume finding finished layers refuses to start unless discard (--force); a key that
// differs (another source, format, method, calibration) is refused naming the first difference.
// Resuming replays each finished layer: its weights become the decoded codes (bit for bit the values
// the interrupted run held: the re-read check of the checkpoint compares them), its norms and biases
// are restored, and the calibration inputs are carried through it as the uninterrupted run did (after
// quantizing for GPTQ, before for AWQ), so the checkpoint is the one an uninterrupted run writes.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/model.h"
#include "engine/quant/gptq_model.h"
#include "engine/quant/quantized_linear.h"

namespace qlab::quant {

struct FinishedLayer {
  std::vector<std::pair<std::string, QuantizedLinear>> linears;  // "self_attn.q_proj" -> parts (no dequantized)
  std::vector<float> attn_norm, mlp_norm, bq, bk, bv;            // as the layer holds them now
  std::vector<LinearReport> reports;
  std::vector<AwqSearchReport> searches;
};

class LayerJournal {
 public:
  // The folder for a checkpoint written to out_dir.
  static std::filesystem::path folder_for(const std::filesystem::path& out_dir);

  LayerJournal(std::filesystem::path dir, nlohmann::json key, bool resume, bool discard);
  ~LayerJournal();
  LayerJournal(const LayerJournal&) = delete;
  LayerJournal& operator=(const LayerJournal&) = delete;

  int layers_done() const { return done_; }
  int resumed_layers() const { return resumed_; }
  const std::filesystem::path& dir() const { return dir_; }

  FinishedLayer load(int layer) const;
  void record(int layer, const FinishedLayer& f);  // layer must be layers_done()
  void remove();  // the checkpoint is in place
  void keep();    // interrupted: stays for --resume (unlocked)

 private:
  std::filesystem::path dir_;
  nlohmann::json key_;
  nlohmann::json reports_ = nlohmann::json::array();  // per finished layer
  int done_ = 0, resumed_ = 0, lock_fd_ = -1;
  bool closed_ = false;
};

// A Linear's parts without its dequantized copy (what a FinishedLayer keeps); q is unchanged after.
QuantizedLinear linear_parts_only(QuantizedLinear& q);
// The layer's norms and biases as it holds them now, into f.
void take_layer_vectors(const model::LayerWeights& lw, FinishedLayer& f);
// A finished layer put back into the model: each Linear's weight becomes its decoded codes (given to
// on_linear as the run gave it), the norms and biases are restored, the reports appended.
void replay_layer(FinishedLayer f, int layer, model::LayerWeights& lw, ModelQuantReport& report,
                  const LinearSink& on_linear);

}  // namespace qlab::quant
