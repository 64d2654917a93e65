#pragma once
// What labs 4 (GPTQ group sizes) and 5 (AWQ vs GPTQ vs RTN) share: one integer quantization of the
// current model (gptq, awq or rtn at 4 bits and a group size), written as the checkpoint a server loads
// where the model's shapes allow (GPTQ v1 for gptq and rtn, AutoAWQ GEMM for awq, in the step's folder),
// and scored against the model as stored on the same tokens: perplexity, KL-divergence, same top token.
// The numbers are those of `qlab quantize MODEL --method M --format int4-gG` followed by `qlab ppl` of
// the checkpoint (the same calibration: the model's calib.txt, 128 windows, seed 0).
//   IntQuantRunner   the model, its scoring text and calibration windows, loaded once per step
//   IntQuantRow      one run's measured row (and the AWQ scale searches, for lab 5's chart)
//   run_variants     the variants in order, the table so far handed to the tutor after each
//   int_quant_table  the rows as the labs' table
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/eval/ppl_setup.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "engine/quant/calibration.h"
#include "engine/quant/gptq_model.h"
#include "labs/lab.h"
#include "labs/result.h"

namespace qlab::labs {

struct IntQuantVariant {
  std::string method;        // gptq | awq | rtn
  std::int64_t group = 128;  // -1: one group per row
  bool act_order = false;
  std::string label() const;      // "GPTQ g128", "RTN per-row", "GPTQ g64 act-order"
  std::string folder() const;     // "gptq-int4-g128", ...
};

struct IntQuantRow {
  IntQuantVariant variant;
  double bits_per_weight = 0;    // Linear weights only: from the written bytes, else from the format's sizes
  std::uint64_t linear_bytes = 0;
  double ppl = 0, kld = 0, same_top = 0;
  double seconds = 0;            // quantization (calibration included), not writing or scoring
  std::filesystem::path checkpoint;  // empty: scored in memory only (see note)
  std::string note;              // why no checkpoint was written
  quant::ModelQuantReport report;
};

class IntQuantRunner {
 public:
  // Loads the model, its scoring text (the step's "text" and "chunks" settings) and, for calibrated
  // methods, the calibration text (the model's calib.txt, else the built-in model's).
  IntQuantRunner(const JobContext& ctx, const std::filesystem::path& folder, Progress& progress);
  IntQuantRow run(const IntQuantVariant& v, Progress& progress, std::stop_token stop);

  double base_ppl() const { return base_ppl_; }
  const eval::PplSetup& setup() const { return setup_; }
  const std::string& text_origin() const { return text_origin_; }
  const std::string& calib_origin() const { return calib_origin_; }
  std::int64_t calib_samples() const;  // of the last calibrated run (0 before one)
  std::int64_t calib_seq_len() const;

 private:
  const quant::CalibrationSet& calibration(const std::string& method);

  const JobContext& ctx_;
  std::filesystem::path folder_;
  model::Model base_;
  io::Tokenizer tok_;
  eval::PplSetup setup_;
  std::string text_origin_, calib_origin_;
  std::filesystem::path calib_path_;
  std::optional<quant::CalibrationSet> gptq_calib_, awq_calib_;
  const quant::CalibrationSet* last_calib_ = nullptr;
  double base_ppl_ = 0;
};

std::vector<IntQuantRow> run_variants(IntQuantRunner& runner, const std::vector<IntQuantVariant>& variants,
                                      const std::string& title, const JobContext& ctx, Progress& progress,
                                      std::stop_token stop);
// The scoring settings the two steps share: text ("" = the model's held-out text) and chunks (0 = all).
std::vector<Param> scoring_params();

// Columns: method, group, bits/w, size, perplexity, change, KLD, same top, time, checkpoint.
Table int_quant_table(const std::string& title, const std::vector<IntQuantRow>& rows, double base_ppl);
nlohmann::json int_quant_record(const std::vector<IntQuantRow>& rows, double base_ppl);

}  // namespace qlab::labs
