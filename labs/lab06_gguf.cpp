// Lab 6 — GGUF, llama.cpp's file format.
//   lab06.objectives   reading
//   lab06.convert      the current model written as GGUF in the lab's types (Q8_0 ... Q2_K, and three
//                      with an importance matrix from the calibration text): one table of size, bits
//                      per weight, perplexity, its change, KL-divergence, same top token, time
//   lab06.llama_cpp    one file tested with llama.cpp when the learner has it (else qlab's reader, and
//                      the screen says which), and an Ollama Modelfile beside it (lab06_llama_cpp.cpp)
//   lab06.reading      reading
// The files are the ones `qlab gguf` writes (byte for byte llama-quantize's tensors); they are scored
// as llama.cpp runs them (qlab's GGUF runtime), on the text as llama.cpp tokenizes it.
#include "labs/lab06_gguf.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/eval/perplexity.h"
#include "engine/gguf/gguf_convert.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_model.h"
#include "engine/gguf/gguf_tokenizer.h"
#include "engine/gguf/imatrix_collect.h"
#include "engine/gguf/imatrix_file.h"
#include "engine/model/model.h"

namespace qlab::labs {

namespace {

namespace fs = std::filesystem;

// Every occurrence of `what` in `s` written as a line break.
std::string as_line_breaks(const std::string& s, const std::string& what) {
  std::string out;
  out.reserve(s.size());
  std::size_t b = 0;
  for (std::size_t at; (at = s.find(what, b)) != std::string::npos; b = at + what.size()) {
    out.append(s, b, at - b);
    out.push_back('\n');
  }
  out.append(s, b, std::string::npos);
  return out;
}

std::string megabytes(std::uint64_t b) { return fmt::format("{:.2f} MB", static_cast<double>(b) / 1e6); }

}  // namespace

const std::vector<Lab06Type>& lab06_types() {
  static const std::vector<Lab06Type> t = {{"Q8_0"},         {"Q6_K"},         {"Q5_K_M"},      {"Q4_K_M"},
                                           {"Q3_K_M"},       {"Q2_K"},         {"Q4_K_M", true}, {"Q3_K_M", true},
                                           {"Q2_K", true}};
  return t;
}

Lab06Text lab06_text(const JobContext& ctx, const fs::path& folder, const io::ModelConfig& cfg) {
  const ScoringText chosen = scoring_text(ctx, ctx.param("text"), "eval.txt");
  gguf::HfVocab vocab = gguf::hf_vocab_metadata(ctx.model.dir, cfg);
  std::optional<io::Tokenizer> tok =
      gguf::tokenizer_from_metadata(vocab.kv, (ctx.model.dir / "tokenizer.json").string(), gguf::SpecialText::Plain);
  if (!tok) throw NotAvailable(fmt::format("{} has no tokenizer.json: a GGUF file needs one", ctx.model.display));
  // Control tokens' text (document separators such as <|endoftext|>) becomes a line break.
  std::string text = read_file(chosen.path);
  for (const auto& [k, v] : vocab.kv) {
    if (k != "tokenizer.ggml.tokens") continue;
    const auto tokens = v.as_strings(k);
    for (const auto& [k2, v2] : vocab.kv) {
      if (k2 != "tokenizer.ggml.token_type") continue;
      const auto types = v2.as_array<std::int32_t>(k2);
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (types[i] != 3 || tokens[i].empty()) continue;
        text = as_line_breaks(text, tokens[i]);
      }
    }
  }
  const fs::path plain = folder / "eval_plain.txt";
  write_file_atomic(plain, text);
  ScoringText st{plain, chosen.origin, chosen.generated};
  eval::PplSetup su = scoring_setup(ctx, cfg, *tok, st, ctx.param_int("chunks"));
  return Lab06Text{std::move(vocab), std::move(*tok), plain, std::move(su), chosen.origin};
}

StepResult lab06_convert_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!fs::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs a model: {} has no config.json", ctx.model.dir.string()));
  StepFolder folder(ctx.out_dir);
  progress.report(0.0, "loading the model");
  const model::Model base = model::Model::load(ctx.model.dir);
  const Lab06Text t = lab06_text(ctx, folder.path(), base.config());

  // The importance matrix: llama-imatrix's statistics over the calibration text, as it tokenizes it.
  const ScoringText calib = scoring_text(ctx, "", "calib.txt");
  const std::vector<std::int32_t> calib_tokens = t.tokenizer.encode(read_file(calib.path), true);
  gguf::ImatrixOptions io;
  io.n_ctx = t.setup.options.n_ctx;
  io.bos = t.setup.options.bos;
  io.dataset = calib.path.filename().string();
  io.backend = ctx.device.backend;
  const bool can_imatrix = static_cast<std::int64_t>(calib_tokens.size()) >= 2 * io.n_ctx;
  gguf::ConvertOptions with_imatrix;
  if (can_imatrix) {
    ProgressPart p(progress, 0.0, 0.1, "importance matrix");
    const gguf::Imatrix im = gguf::compute_imatrix(base, calib_tokens, io, p, stop);
    gguf::write_imatrix(folder.path() / "imatrix.gguf", im);
    with_imatrix.importance = gguf::importance_weights(im);
    with_imatrix.imatrix_file = "imatrix.gguf";
    with_imatrix.imatrix_dataset = io.dataset;
    with_imatrix.imatrix_chunks = im.chunk_count;
  }

  Table table;
  table.title = "GGUF files of the model, scored as llama.cpp runs them";
  table.header = {"type", "size", "bits/w", "perplexity", "change", "KLD", "same top", "time"};
  StepResult r;
  nlohmann::json rows = nlohmann::json::array();
  double base_ppl = 0;
  const auto& types = lab06_types();
  for (std::size_t i = 0; i < types.size(); ++i) {
    const Lab06Type& ty = types[i];
    if (ty.imatrix && !can_imatrix) continue;
    check_cancel(stop);
    const double lo = 0.1 + 0.9 * static_cast<double>(i) / static_cast<double>(types.size());
    const double hi = 0.1 + 0.9 * static_cast<double>(i + 1) / static_cast<double>(types.size());
    gguf::ConvertOptions o = ty.imatrix ? with_imatrix : gguf::ConvertOptions{};
    o.mix.file_type = *gguf::file_type_from_name(ty.file_type);
    const fs::path file = folder.path() / fmt::format("model-{}{}.gguf", ty.file_type, ty.imatrix ? "-imatrix" : "");
    ProgressPart pc(progress, lo, lo + 0.3 * (hi - lo), fmt::format("writing {}", ty.label()));
    const gguf::ConvertResult c = gguf::convert_to_gguf(ctx.model.dir, file, o, pc, stop);
    const model::Model q = gguf::load_gguf_model(std::make_shared<const gguf::GgufFile>(gguf::GgufFile::open(file)));
    ProgressPart pk(progress, lo + 0.3 * (hi - lo), hi, fmt::format("scoring {}", ty.label()));
    const eval::KldResult k = eval::kl_divergence(base, q, t.setup.tokens, t.setup.options, pk, stop);
    base_ppl = k.base.nll.ppl();
    const double ppl = k.test.nll.ppl();
    table.rows.push_back({ty.label(), megabytes(c.file_bytes), fmt::format("{:.2f}", c.bits_per_weight()),
                          fmt::format("{:.4f}", ppl), fmt::format("{:+.4f}", ppl - base_ppl),
                          fmt::format("{:.5f}", k.mean_kld()), fmt::format("{:.1f}%", 100 * k.same_top_fraction()),
                          fmt::format("{:.1f} s", c.seconds)});
    rows.push_back({{"type", ty.label()},         {"file", file.filename().string()}, {"bytes", c.file_bytes},
                    {"bits_per_weight", c.bits_per_weight()}, {"ppl", ppl},       {"ppl_change", ppl - base_ppl},
                    {"kld", k.mean_kld()},         {"same_top", k.same_top_fraction()}, {"seconds", c.seconds}});
    if (ctx.partial) {
      StepResult pr;
      pr.blocks.push_back(Text{fmt::format("So far: {} of {} files.", table.rows.size(), types.size())});
      pr.blocks.push_back(table);
      ctx.partial(std::move(pr));
    }
  }
  table.right_align.assign(table.header.size(), true);
  table.right_align[0] = false;
  r.blocks.push_back(Text{fmt::format("Scored: {}; perplexity of the model as stored: {:.4f}.", t.setup.protocol,
                                      base_ppl)});
  r.blocks.push_back(std::move(table));
  r.blocks.push_back(Text{fmt::format(
      "Each file is what `qlab gguf {} --type T` writes, byte for byte the tensors llama-quantize writes from the same "
      "weights. Bits per weight count every tensor, embeddings and norms included, as llama.cpp reports a file's "
      "size. Change and KLD are against the model as stored, on the same tokens; the text's special tokens were "
      "written as line breaks, because llama.cpp's perplexity reads their text as plain text.{}",
      ctx.model.builtin ? std::string("builtin") : ctx.model.display,
      can_imatrix ? fmt::format(" The +imatrix rows used an importance matrix from {} ({} tokens): the statistics "
                                "llama-imatrix computes, kept in imatrix.gguf.", calib.origin, calib_tokens.size())
                  : std::string(" The calibration text is too short for an importance matrix: no +imatrix rows."))});
  if (!ctx.out_dir.empty())
    r.blocks.push_back(Text{fmt::format("The files are in {}.", folder.path().string())});
  r.record = {{"base_ppl", base_ppl}, {"rows", rows}, {"n_ctx", t.setup.options.n_ctx}, {"chunks", t.setup.chunks},
              {"text", t.origin}};
  return r;
}

Lab make_lab06() {
  Lab l;
  l.number = 6;
  l.id = "lab06";
  l.milestone_id = "m6";
  std::vector<std::string> choices;
  for (const auto& t : lab06_types())
    if (!t.imatrix) choices.push_back(t.file_type);
  Step convert{"lab06.convert", lab06_convert_job, false, false};
  convert.params = {Param{"text", ParamKind::File, "", {}, 0, 0}, Param{"chunks", ParamKind::Integer, "0", {}, 0, 1 << 24}};
  Step test{"lab06.llama_cpp", lab06_llama_cpp_job, false, true};
  test.params = {Param{"type", ParamKind::Choice, "Q4_K_M", choices, 0, 0}, Param{"text", ParamKind::File, "", {}, 0, 0},
                 Param{"chunks", ParamKind::Integer, "0", {}, 0, 1 << 24}};
  l.steps = {Step{"lab06.objectives", {}, false, false}, std::move(convert), std::move(test),
             Step{"lab06.reading", {}, false, false}};
  return l;
}

}  // namespace qlab::labs
