#pragma once
// A small made-up world and the text written about it (deterministic from a seed).
//   WorldRng            splitmix64: the same numbers on every compiler and platform (std::
//                       distributions are implementation-defined, so they are not used)
//   generate_document   one short story or a run of plain statements, optionally followed by
//                       question/answer lines about it; with `sums_fraction`, also runs of
//                       two-digit sums and differences
//   generate_corpus     documents joined by a separator until a byte budget is reached
//   generate_mc         multiple-choice items (eval::McItem, engine/eval/multiple_choice.h: the MMLU
//                       layout and the prompt they are scored with, which the quiz documents use too)
// The world: people (with pronouns), objects, colours, places, fruits, counts and small sums. Each
// document draws its names and attributes at random, so answering a question about a story needs
// the story in context (binding "Anna" to "red"), not a memorised fact.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/eval/multiple_choice.h"

namespace qlab::train {

class WorldRng {
 public:
  explicit WorldRng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  // Uniform in [0, n) (n > 0), by rejection so every value is equally likely.
  std::uint32_t below(std::uint32_t n);
  double uniform();  // [0, 1)

 private:
  std::uint64_t s_;
};

struct TextOptions {
  double quiz_fraction = 0.4;   // share of documents followed by a lettered quiz (MMLU layout)
  double qa_fraction = 0.4;     // share followed by "Question: ... Answer: ..." lines
  // Share of documents that are two-digit sums and differences written in digits ("37 plus 48 is
  // 85."): arithmetic a small model learns only in part, harder than the story templates.
  // 0 keeps the text exactly as it is without the option.
  double sums_fraction = 0.0;
};

std::string generate_document(WorldRng& rng, const TextOptions& opt = {});

// Documents separated by `separator` (e.g. "\n\n"), until at least `bytes` bytes.
std::string generate_corpus(std::uint64_t seed, std::size_t bytes, const std::string& separator = "\n\n",
                            const TextOptions& opt = {});

std::vector<eval::McItem> generate_mc(std::uint64_t seed, int count, const TextOptions& opt = {});

}  // namespace qlab::train
