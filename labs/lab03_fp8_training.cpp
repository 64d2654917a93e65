// Lab 3 — FP8 training and inference.
//   lab03.train          the four-way run (fp32, bf16, fp8, fp8 without scaling) as live loss curves
//   lab03.fp8_counts     saturation and underflow counts of the FP8 runs
//   lab03.fp8_inference  perplexity of the trained model with FP8 weights
#include "labs/lab.h"

namespace qlab::labs {

namespace {

StepResult train_job(const JobContext&, Progress&, std::stop_token) {
  throw NotAvailable("needs the trainer (engine/train), not in this build yet");
}

StepResult counts_job(const JobContext&, Progress&, std::stop_token) {
  throw NotAvailable("needs the trainer's FP8 statistics (engine/train), not in this build yet");
}

StepResult inference_job(const JobContext&, Progress&, std::stop_token) {
  throw NotAvailable("needs the model runtime and perplexity (engine/model, engine/eval), not in this build yet");
}

}  // namespace

Lab make_lab03() {
  Lab l;
  l.number = 3;
  l.id = "lab03";
  l.milestone_id = "m3";
  l.steps = {
      Step{"lab03.train", train_job, false, true},
      Step{"lab03.fp8_counts", counts_job, false, true},
      Step{"lab03.fp8_inference", inference_job, false, true},
  };
  return l;
}

}  // namespace qlab::labs
