#include "engine/train/corpus.h"

#include "engine/io/tokenizer.h"
#include "engine/train/bpe_trainer.h"

namespace qlab::train {

Corpus make_corpus(const CorpusSpec& spec, Progress& progress) {
  Corpus c;
  progress.report(0.0, "generating text");
  // Distinct seeds per split: held-out text shares the world, never a document.
  c.train_text = generate_corpus(spec.seed, spec.train_bytes, kEndOfText, spec.text);
  c.eval_text = generate_corpus(spec.seed + 1, spec.eval_bytes, kEndOfText, spec.text);
  c.calib_text = generate_corpus(spec.seed + 2, spec.calib_bytes, kEndOfText, spec.text);
  c.mc = generate_mc(spec.seed + 3, spec.mc_items, spec.text);

  progress.report(0.2, "training the tokenizer");
  BpeTrainOptions bo;
  bo.vocab_size = spec.vocab_size;
  bo.special_tokens = {kEndOfText};
  // The BPE sees text without the separators (special tokens are never merged across).
  std::string bpe_text = generate_corpus(spec.seed, std::min(spec.bpe_bytes, spec.train_bytes), "\n", spec.text);
  c.tokenizer_json = tokenizer_json(train_byte_bpe(bpe_text, bo));

  progress.report(0.4, "tokenizing");
  io::Tokenizer tok = io::Tokenizer::from_json_text(c.tokenizer_json, "trained tokenizer.json");
  c.train_tokens = tok.encode(c.train_text, false);
  c.eval_tokens = tok.encode(c.eval_text, false);
  c.calib_tokens = tok.encode(c.calib_text, false);
  progress.report(1.0, "corpus ready");
  return c;
}

}  // namespace qlab::train
