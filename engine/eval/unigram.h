#pragma once
// The unigram baseline: a model that ignores context and predicts each token by its frequency in
// `fit` (add-one counts over the vocabulary), scored on exactly the targets a perplexity set-up scores
// (plan_windows of its protocol). A language model should beat it by far; the labs show it beside
// every held-out perplexity as the floor any model must clear.
#include <cstdint>
#include <span>

#include "engine/eval/perplexity.h"
#include "engine/eval/ppl_setup.h"

namespace qlab::eval {

NllStats unigram_perplexity(std::span<const std::int32_t> fit, int vocab, const PplSetup& scored);

}  // namespace qlab::eval
