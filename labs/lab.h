#pragma once
// A lab is a list of steps; a step has a content id (its words live in content/), an engine job, and
// the result that job returns. Labs know nothing of screens and are testable without a terminal.
//   ModelRef       the model the labs run on (built-in or an HF folder given with --model)
//   JobContext     what a job gets: the model, where it runs (the CPU or a GPU), the learner's typed
//                  input and settings, the folder for the files it writes (checkpoints, reports)
//   NotAvailable   thrown by a job whose engine part is not in this build yet (never fake numbers)
//   Step, Lab      the data; all_labs() lists the eight labs in module order
//   run_step       fills in the step's settings, runs its job, and turns Cancelled / NotAvailable /
//                  out of memory / Error into a StepResult: the one place that maps a job's ending
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/progress.h"
#include "engine/model/device.h"
#include "labs/params.h"
#include "labs/result.h"

namespace qlab::labs {

struct ModelRef {
  std::string display;            // "built-in" or the folder as given
  std::filesystem::path dir;      // HF layout: config.json, *.safetensors, tokenizer.json
  bool builtin = true;
};

struct JobContext {
  ModelRef model;
  // Where the job's model passes run (model::make_backend's choice, made once by the front end):
  // perplexity, KLD, calibration and GPTQ, the suite, the benchmark. Default: the CPU (backend null).
  // Quantizing, converting and training run on the CPU wherever this points.
  model::BackendChoice device;
  std::string input;  // what the learner typed, for steps that ask for input
  // Long jobs may hand over results so far (a loss curve while training); the tutor draws the
  // latest one while the job runs. May be empty.
  std::function<void(StepResult)> partial;
  ParamValues params;  // the learner's settings; run_step fills in every declared one
  // This step's own folder (under the learner's data folder, per model) for what the job writes:
  // a checkpoint to resume from, reports. Empty: the job keeps nothing on disk (tests, scripts).
  std::filesystem::path out_dir;
  // The built-in model's folder: its held-out and calibration texts are the fallback for a model
  // folder that has none. Empty: no fallback.
  std::filesystem::path builtin_dir;

  // A declared setting's value; Error when the step declares no such setting.
  const std::string& param(const std::string& id) const;
  std::int64_t param_int(const std::string& id) const;
};

class NotAvailable : public Error {
 public:
  explicit NotAvailable(const std::string& what) : Error(what) {}
};

using JobFn = std::function<StepResult(const JobContext&, Progress&, std::stop_token)>;

struct Step {
  std::string id;       // stable id: "lab01.properties"; content and progress use it
  JobFn job;            // empty: a reading step with nothing to run (the learner marks it read)
  bool asks_input = false;   // the tutor asks for a line of text first (JobContext::input)
  bool counts_for_milestone = true;
  std::vector<Param> params{};  // settings the learner can change on screen
  bool resumable = false;     // keeps a checkpoint in JobContext::out_dir and continues from it

  const Param* param(const std::string& id) const;
};

struct Lab {
  int number = 0;
  std::string id;            // "lab01"
  std::string milestone_id;  // "m1"
  std::vector<Step> steps;
  // false: the milestone needs every milestone step done; true: any one of them (lab 8: an engine
  // benchmarked, qlab's own or the learner's server).
  bool milestone_any_step = false;

  const Step* find(const std::string& step_id) const;
  // Steps whose successful run completes the milestone (all of them, or one: milestone_any_step).
  std::vector<std::string> milestone_steps() const;
};

const std::vector<Lab>& all_labs();
const Lab* find_lab(const std::string& id);

StepResult run_step(const Step& step, const JobContext& ctx, Progress& progress, std::stop_token stop);

// The individual labs (one file each).
Lab make_lab01();
Lab make_lab02();
Lab make_lab03();
Lab make_lab04();  // lab04_gptq.cpp
Lab make_lab05();  // lab05_awq.cpp
Lab make_lab06();  // lab06_gguf.cpp
Lab make_lab07();  // lab07_suite.cpp
Lab make_lab08();  // lab08_serving.cpp

}  // namespace qlab::labs
