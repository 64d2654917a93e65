#pragma once
// A small made-up world and the text written about it (deterministic from a seed).
//   WorldRng            splitmix64: the same numbers on every compiler and platform (std::
//                       distributions are implementation-defined, so they are not used)
//   generate_document   one short story or a run of plain statements, optionally followed by
//                       question/answer lines about it; with `sums_fraction`, also runs of
//                       two-digit sums and differences
//   generate_corpus     documents joined by a separator until a byte budget is reached
//   McItem / generate_mc  multiple-choice items in the MMLU CSV layout (question, A, B, C, D, answer)
//   mc_csv              the items as CSV text (RFC 4180 quoting), no header row, as MMLU ships them
//   mc_prompt           the prompt an item is scored with ("...\nAnswer:"), the same layout the
//                       training text uses for its quiz documents
// The world: people (with pronouns), objects, colours, places, fruits, counts and small sums. Each
// document draws its names and attributes at random, so answering a question about a story needs
// the story in context (binding "Anna" to "red"), not a memorised fact.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

struct McItem {
  std::string question;         // story and question, newline-separated
  std::string choices[4];
  int answer = 0;               // 0..3 = A..D
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

std::vector<McItem> generate_mc(std::uint64_t seed, int count, const TextOptions& opt = {});
std::string mc_csv(const std::vector<McItem>& items);
// The inverse, for any file in MMLU's CSV layout (RFC 4180 quoting, no header row; six fields:
// question, four choices, the answer letter A-D). Error naming `where`, the row and what is wrong.
std::vector<McItem> parse_mc_csv(std::string_view text, const std::string& where);
// "question\nA. a\nB. b\nC. c\nD. d\nAnswer:" — the answer is then " A" .. " D".
std::string mc_prompt(const McItem& item);

}  // namespace qlab::train
