#pragma once
// Unicode property tables for the tokenizer, generated into unicode_tables.cpp by
// scripts/gen_unicode_tables.py (sorted, non-overlapping code point ranges; binary-searched).
//   kClassRanges        letter (\p{L}), number (\p{N}), White_Space (\s), regex word (\w) flags
//   kCombiningRanges    canonical combining class, nonzero entries only
//   kDecompositions     canonical decompositions, one level, and whether the pair recomposes
#include <cstddef>
#include <cstdint>

namespace qlab::io::unicode {

enum ClassFlag : std::uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kWord = 8 };

struct ClassRange {
  char32_t first, last;
  std::uint8_t flags;
};
struct CombiningRange {
  char32_t first, last;
  std::uint8_t ccc;
};
struct Decomposition {
  char32_t cp, first, second;  // second == 0: singleton decomposition
  std::uint8_t composes;       // 1: (first, second) recomposes to cp under NFC
};

extern const ClassRange kClassRanges[];
extern const std::size_t kClassRangeCount;
extern const CombiningRange kCombiningRanges[];
extern const std::size_t kCombiningRangeCount;
extern const Decomposition kDecompositions[];
extern const std::size_t kDecompositionCount;

}  // namespace qlab::io::unicode
