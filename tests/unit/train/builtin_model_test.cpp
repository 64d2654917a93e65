// The shipped built-in model (assets/builtin) against what the course needs of it: made by the
// `builtin` preset (its texts are the preset's), a real model (held-out perplexity at most a third
// of the best unigram model's, multiple-choice answers well above chance), and one that rounding
// its weights visibly hurts, more the fewer the bits. The references are computed here: the texts
// from the world generator, the unigram model by counting, the rounded models by the block formats.
// Thresholds sit well inside what the committed model measures, so a retrained model that still
// does the job passes; one that shrugs off 4-bit rounding (as a wide, briefly trained one does) fails.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/core/atomic_file.h"
#include "engine/eval/multiple_choice.h"
#include "engine/eval/perplexity.h"
#include "engine/formats/block.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "engine/quant/rtn.h"
#include "engine/train/corpus.h"
#include "engine/train/evaluate.h"
#include "engine/train/text_world.h"
#include "engine/train/train_presets.h"

namespace qlab::train {
namespace {

namespace fs = std::filesystem;

fs::path builtin_dir() { return fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin"; }

// Enough chunks of held-out text that a 1% change in perplexity is far outside the noise of the
// comparison (the same tokens are scored by every variant), few enough for a sanitizer build.
constexpr std::int64_t kChunks = 48;

class BuiltinModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new model::Model(model::Model::load(builtin_dir()));
    const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
    ids_ = new std::vector<std::int32_t>(tok.encode(read_file(builtin_dir() / "eval.txt"), false));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete ids_;
  }
  static eval::PplOptions ppl_options() {
    eval::PplOptions o;
    o.n_ctx = model_->config().max_position_embeddings;
    o.bos = model_->config().bos_token_id >= 0 ? model_->config().bos_token_id : 0;
    o.max_chunks = kChunks;
    return o;
  }
  // Perplexity with every linear weight rounded to `format` (embeddings kept, as `qlab ppl --quant`).
  static double ppl(const std::string& format) {
    model::Model m = *model_;
    if (!format.empty()) {
      const auto spec = formats::block_format_from_name(format);
      EXPECT_TRUE(spec.has_value()) << format;
      const auto st = quant::fake_quantize_model(m, *spec);
      EXPECT_EQ(st.matrices, 7 * m.config().num_hidden_layers) << format;
    }
    return eval::perplexity(m, *ids_, ppl_options()).nll.ppl();
  }
  static model::Model* model_;
  static std::vector<std::int32_t>* ids_;
};
model::Model* BuiltinModel::model_ = nullptr;
std::vector<std::int32_t>* BuiltinModel::ids_ = nullptr;

TEST_F(BuiltinModel, TextsAreThePresetsTexts) {
  const CorpusSpec& spec = train_preset("builtin").corpus;
  EXPECT_EQ(read_file(builtin_dir() / "eval.txt"), generate_corpus(spec.seed + 1, spec.eval_bytes, kEndOfText, spec.text));
  EXPECT_EQ(read_file(builtin_dir() / "calib.txt"),
            generate_corpus(spec.seed + 2, spec.calib_bytes, kEndOfText, spec.text));
  EXPECT_EQ(read_file(builtin_dir() / "mmlu.csv"), eval::mc_csv(generate_mc(spec.seed + 3, spec.mc_items, spec.text)));
  EXPECT_EQ(model_->config().vocab_size, spec.vocab_size);
}

TEST_F(BuiltinModel, HeldOutPerplexityIsUnderAThirdOfTheBestUnigramModels) {
  // A unigram model fitted on the held-out tokens themselves: no unigram model scores them better,
  // so this bar is at least as high as one fitted on the training text.
  std::map<std::int32_t, double> count;
  for (auto t : *ids_) count[t] += 1;
  const double n = static_cast<double>(ids_->size());
  double nll = 0;
  for (auto t : *ids_) nll -= std::log(count[t] / n);
  const double unigram = std::exp(nll / n);
  const double model = ppl("");
  EXPECT_GT(unigram, 30.0);  // the text is not a handful of tokens
  EXPECT_LT(model, unigram / 3) << "model " << model << ", unigram " << unigram;
}

TEST_F(BuiltinModel, AnswersMultipleChoiceQuestionsWellAboveChance) {
  // The first 80 items of the set (mmlu.csv, as checked above): at 1/4 chance, more than half right
  // by luck has odds under 1 in a million.
  const CorpusSpec& spec = train_preset("builtin").corpus;
  std::vector<eval::McItem> items = generate_mc(spec.seed + 3, spec.mc_items, spec.text);
  items.resize(80);
  const TrainModel m = TrainModel::load(builtin_dir());
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  CastContext f32;
  const eval::McScore s = mc_accuracy(m, tok, items, f32);
  ASSERT_EQ(s.items, 80);
  // Chance is 1/4; scored by the answer's text (the letter mapping is beyond a model this size).
  EXPECT_GT(s.text_accuracy(), 0.5);
  // The runtime, scoring with its own forward pass under the same protocol, picks the same answers
  // (the two passes round differently, so a near tie may go the other way: at most one item).
  const eval::McScore r = eval::mc_accuracy(*model_, tok, items);
  ASSERT_EQ(r.items, 80);
  EXPECT_NEAR(r.text_correct, s.text_correct, 1);
  EXPECT_NEAR(r.letter_correct, s.letter_correct, 1);
}

TEST_F(BuiltinModel, RoundingTheWeightsCostsMoreTheFewerTheBits) {
  const double f32 = ppl("");
  const double int8 = ppl("int8-ch"), int4 = ppl("int4-ch"), int3 = ppl("int3-ch");
  const double g32 = ppl("int4-g32");
  // 8 bits: no visible change. 4 bits per row: visibly worse. 3 bits: worse again.
  EXPECT_NEAR(int8, f32, 0.003 * f32);
  EXPECT_GT(int4, 1.01 * f32) << "int4-ch " << int4 << " vs " << f32;
  EXPECT_GT(int3, int4 + 0.01 * f32) << "int3-ch " << int3 << " vs int4-ch " << int4;
  // A scale per 32 weights instead of per row recovers part of the loss.
  EXPECT_LT(g32, int4) << "int4-g32 " << g32 << " vs int4-ch " << int4;
  EXPECT_GT(g32, int8);
}

}  // namespace
}  // namespace qlab::train
