// `qlab mc MODEL [--csv FILE]`: multiple-choice accuracy on questions in MMLU's CSV layout; by
// default the set the built-in model ships (its mmlu.csv, drawn from the same text generator as its
// training text). Scored two ways, both zero-shot: by the answer letter (the log-likelihood of
// " A" .. " D" after the lettered prompt, as lm-evaluation-harness scores MMLU) and by the answer
// text (of " answer." after "Question: ...\nAnswer:").
// The protocol and the reader are engine/eval/multiple_choice.h's; the model scores with the runtime's
// forward pass (float32 products over the weights as stored), so any --model can be scored.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/eval/multiple_choice.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"

namespace qlab::app {
namespace {

int run(const Args& a) {
  const auto dir = resolve_model_arg(a.positional().at(0));
  std::filesystem::path csv;
  if (a.has("csv")) {
    csv = a.require("csv");
  } else {
    csv = dir / "mmlu.csv";
    if (!std::filesystem::exists(csv))
      throw UsageError(fmt::format("give --csv FILE ({} has no mmlu.csv of its own)", dir.string()));
  }
  const auto items = eval::read_mc_csv(read_file(csv), csv.string());
  const auto limit = a.get_int("limit", 0, 1, 1 << 30);
  std::vector<eval::McItem> used(items.begin(),
                                  items.begin() + static_cast<std::ptrdiff_t>(limit > 0 ? std::min<std::size_t>(
                                                                                                  items.size(), limit)
                                                                                            : items.size()));
  if (!std::filesystem::exists(dir / "tokenizer.json")) fail("{} has no tokenizer.json: mc needs a tokenizer", dir.string());
  const DeviceArg device = choose_device(a, "mc");
  const model::Model m = model::Model::load(dir);
  const io::Tokenizer tok = io::Tokenizer::load(dir);
  const eval::McScore s = eval::mc_accuracy(m, tok, used, *device.backend);
  // Binomial standard error of an accuracy over n questions.
  auto err = [&](double p) { return s.items > 1 ? std::sqrt(p * (1 - p) / (s.items - 1)) : 0.0; };
  if (a.json()) {
    nlohmann::json j{{"model", dir.string()},
                              {"questions", csv.string()},
                              {"items", s.items},
                              {"letter_accuracy", s.letter_accuracy()},
                              {"letter_accuracy_error", err(s.letter_accuracy())},
                              {"text_accuracy", s.text_accuracy()},
                              {"text_accuracy_error", err(s.text_accuracy())},
                              {"chance", 0.25}};
    device.add_to(j);
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("{} questions from {}, zero-shot, float32{}\n", s.items, csv.string(),
             device.report() ? fmt::format(" (on {})", device.where) : std::string());
  fmt::print("by the answer letter (\" A\"..\" D\" after the prompt): {:5.1f}% +/- {:.1f}%  ({} right)\n",
             100 * s.letter_accuracy(), 100 * err(s.letter_accuracy()), s.letter_correct);
  fmt::print("by the answer text   (\" answer.\" after \"Answer:\"):    {:5.1f}% +/- {:.1f}%  ({} right)\n",
             100 * s.text_accuracy(), 100 * err(s.text_accuracy()), s.text_correct);
  fmt::print("guessing scores 25%\n");
  return 0;
}

std::vector<Option> options() {
  std::vector<Option> o = {
      {"csv", "FILE", "questions in MMLU's CSV layout (question, A, B, C, D, answer letter; no header row); "
                      "default: the model folder's mmlu.csv (the built-in model ships one)"},
      {"limit", "N", "score only the first N questions"}};
  return with_device_options(std::move(o));
}

const Registrar reg{Command{
    "mc", "multiple-choice accuracy on questions in MMLU's CSV layout (default: the built-in model's set)",
    "MODEL [--csv FILE] [--limit N] [--device D]",
    options(),
    "Zero-shot, float32. Two scores: by the answer letter (the log-likelihood of \" A\" .. \" D\" after the "
    "lettered prompt, as lm-evaluation-harness scores MMLU) and by the answer text. The +/- is the binomial "
    "standard error over the questions.",
    1, 1, run}};

}  // namespace
}  // namespace qlab::app
