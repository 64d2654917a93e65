// `qlab` with no command (or with --model DIR): the tutor on the terminal.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "engine/core/error.h"
#include "engine/sysinfo/sysinfo.h"
#include "labs/content.h"
#include "labs/progress_file.h"
#include "tui/terminal.h"

namespace qlab::app {

namespace {

std::vector<std::string> machine_lines() {
  sysinfo::SystemInfo s = sysinfo::detect_system();
  std::vector<std::string> lines = {sysinfo::hardware_line(s)};
  for (const auto& g : s.gpus)
    lines.push_back(fmt::format("GPU: {}{}: {}", g.name,
                                g.compute_capability ? fmt::format(", compute capability {}.{}", g.compute_capability->major,
                                                                   g.compute_capability->minor)
                                                     : std::string(", compute capability unknown"),
                                sysinfo::fp4_support_text(sysinfo::fp4_support(g))));
  if (s.unified_memory) lines.push_back("Memory is unified: CPU and GPU share one pool.");
  for (const auto& n : s.notes) lines.push_back("Note: " + n);
  return lines;
}

int run_tutor(const Args& a) {
  if (a.has("ascii") && a.has("unicode")) throw UsageError("--ascii and --unicode exclude each other");
  const DeviceRequest device = device_request(a);
  // auto looks for a GPU on a thread after the first frame (starting CUDA takes a moment); a device
  // named on the command line is set up now, so --device cuda without a usable GPU says why at once.
  model::BackendChoice chosen;
  if (device.device != model::Device::Auto) chosen = model::make_backend(device.device, device.math);

  labs::ModelRef model;
  if (auto arg = a.get("model"); arg && *arg != "builtin") {
    // a folder, or a Hugging Face repo id found in the Hugging Face cache
    std::filesystem::path dir;
    try {
      dir = resolve_model_arg(*arg);
    } catch (const Error& e) {
      fail("--model: {}", e.what());
    }
    std::error_code ec;
    if (!std::filesystem::exists(dir / "config.json", ec))
      fail("--model {}: {} has no config.json (give a Hugging Face model folder or repo id)", *arg, dir.string());
    model.display = *arg;
    model.dir = dir;
    model.builtin = false;
  } else {
    model.display = "built-in";
    model.dir = builtin_model_dir();
    model.builtin = true;
  }
  // The arguments are checked first, so a wrong --model says so even where there is no terminal.
  if (!::isatty(STDOUT_FILENO) || !::isatty(STDIN_FILENO)) {
    std::fprintf(stderr,
                 "qlab: the tutor draws on a terminal, and standard %s is not one.\n"
                 "Run qlab in a terminal, or use a command for scripts: qlab --help\n",
                 ::isatty(STDOUT_FILENO) ? "input" : "output");
    return 2;
  }

  std::filesystem::path ppath = a.has("progress") ? std::filesystem::path(a.require("progress"))
                                                  : labs::ProgressFile::default_path();
  labs::ProgressFile progress(ppath);
  std::vector<std::string> notices;
  try {
    progress.load();
  } catch (const Error& e) {
    notices.push_back(e.what());
  }

  tui::TerminalOptions opt;
  opt.glyphs = a.has("ascii") ? "ascii" : a.has("unicode") ? "unicode" : "";
  opt.no_color = a.has("no-color");
  opt.first_frame_file = std::getenv("QLAB_FIRST_FRAME_FILE");

  tui::AppEnv env;
  env.content = &labs::content();
  env.progress = &progress;
  env.model = model;
  // Steps keep their drawn results and checkpoints beside the progress file, one folder per model.
  env.runs_dir = progress.path().parent_path() / "runs";
  env.builtin_dir = builtin_model_dir();
  env.detect_machine = machine_lines;
  if (device.device == model::Device::Auto)
    env.choose_device = [math = device.math] { return model::make_backend(model::Device::Auto, math); };
  else
    env.device = chosen;
  env.terminal = tui::probe_terminal(opt);
  env.glyph_set = tui::pick_glyph_set(env.terminal.codeset, env.terminal.term, opt.glyphs);
  env.notices = std::move(notices);
  return tui::run_terminal(std::move(env), opt);
}

const Registrar reg{Command{
    "tutor",
    "open the tutor (the same as running qlab with no command)",
    "[--model DIR|ORG/NAME] [--progress FILE] [--device D] [--gpu-math M] [--ascii|--unicode] [--no-color]",
    with_device_options({
        {"model", "DIR|ORG/NAME",
         "run the labs on this Hugging Face model folder, or on a repo id (meta-llama/Llama-3.1-8B) found in the "
         "Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub), instead of the built-in model"},
        {"progress", "FILE", "progress file (default: $XDG_DATA_HOME/qlab/progress.json)"},
        {"ascii", "", "draw with plain ASCII characters only"},
        {"unicode", "", "draw with box and block characters even if the locale is not UTF-8"},
        {"no-color", "", "no colours (the NO_COLOR environment variable does the same)"},
    }),
    "Keys: arrows or h/j/k/l move, Enter opens or runs, Esc cancels, q goes back, s changes a step's settings (the "
    "text a perplexity step scores, a format, how many chunks), ? shows every key. Steps keep their results and "
    "checkpoints in a runs folder beside the progress file. Model passes (perplexity, calibration, GPTQ, the "
    "benchmark) run on the GPU when one is usable; the home screen says where.",
    0,
    0,
    run_tutor,
}};

}  // namespace

}  // namespace qlab::app
