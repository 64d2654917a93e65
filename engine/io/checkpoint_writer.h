#pragma once
// A Hugging Face model folder, written as transformers' save_pretrained lays one out, by whatever makes
// one (synth-model now, the exporters next), without holding the model in memory and without ever
// leaving a half-written folder where the caller asked for one.
//   CheckpointWriter(out_dir)     refuses an out_dir that exists and is not an empty folder (or, with
//                                 replace_existing, a model folder: replaced whole at finish())
//   add(header, bytes | fill)     tensors pushed in the caller's order (layer by layer)
//   write_file / write_json / copy_file   config.json, tokenizer files, any other file of the folder
//   finish()                      names the shards, writes the index, moves the folder into place
//   cancel(), or destruction without finish()   removes everything written
//   suspend()                     a resumable writer's cancel: keeps its complete shards for --resume
//
// Sharding follows transformers' shard_checkpoint: greedy in the order tensors arrive, a shard closed
// when the next tensor would take its data past max_shard_bytes (tensor bytes; headers not counted),
// never left empty (a tensor larger than the limit fills a shard alone). One shard is model.safetensors;
// n shards are model-0000k-of-0000n.safetensors with model.safetensors.index.json holding
// {"metadata": {"total_size": tensor bytes, ...}, "weight_map": {tensor: file}} (keys sorted, indent 2).
//
// Within a shard the tensors are laid out as the safetensors library lays them out (by dtype, then name;
// safetensors.h), so a shard is byte-identical to safetensors.torch.save_file of its tensors. That layout
// needs every tensor of the shard before the first byte of data, so a shard is written when it closes
// (the add() that overflows it, or finish()), and where the bytes wait until then depends on the call:
//   add(header, fill)    nowhere: fill(byte_offset, chunk) is called then, chunk by chunk, and writes
//                        straight into the shard (fill must stay valid until the shard closes)
//   add(header, bytes)   copied at once to a spill file beside the shard, and from there into the shard
//                        (disk: the shard's bytes twice while it is open; memory: one chunk)
// Naming: how many shards there are is known only at finish(), so each shard is written under a
// temporary name (shard-00001.safetensors) in the staging folder and finish() renames them; renames
// within one folder are cheap, and every byte of a shard is still written once.
// Staging: everything is written into <out_dir>.partial-<pid> beside out_dir, and finish() renames that
// folder to out_dir (replacing an empty out_dir the user made). On any error, on cancel and on
// destruction without finish() the staging folder is removed, so out_dir appears whole or not at all.
// The run holds an flock on its staging folder until the rename; the kernel drops it however the
// process ends (SIGKILL, a crash), so the next writer beside it removes the folders nobody holds and
// leaves those of runs going on now. An out_dir that is a symbolic link is written through: the
// checkpoint lands where it points and the link stays.
// Resuming (`qlab quantize --resume`): a writer given a resume_key records every shard it closes before
// finish() -- written, fsynced and renamed, so complete on disk -- in its staging folder's journal
// (qlab-resume.json: the key, each shard's file and tensor headers, and the caller's journal_extra()).
// A run that ends without finish() after such a shard (SIGKILL, a power loss, or suspend() on a cancel)
// leaves that staging folder. The next writer with the same key:
//   resume set     adopts the folder: its recorded shards stay (their files checked against the journal),
//                  anything else in it is removed, and add() of a tensor they hold checks its header and
//                  writes nothing (holds() tells the caller, so it can skip the work of making it). The
//                  shards are cut as before, so the result is the folder one uninterrupted run writes.
//   resume unset   refuses to start (the interrupted work is the user's), unless replace_existing.
// A key that differs is refused with the first setting that differs (or, with discard_other, the folder
// is removed: a tutor step that continues its own run when it can and starts over when its settings
// changed). Writers without a key remove such folders as any other abandoned staging folder.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"

namespace qlab::io {

struct CheckpointOptions {
  std::uint64_t max_shard_bytes = 5'000'000'000;  // transformers' default max_shard_size "5GB"
  std::map<std::string, std::string> shard_metadata = {{"format", "pt"}};  // __metadata__ of each shard
  nlohmann::json index_metadata = nlohmann::json::object();  // more "metadata" of the index (total_parameters)
  std::size_t chunk_bytes = std::size_t{16} << 20;           // largest piece of a tensor in memory at once
  std::stop_token stop;                                      // checked between chunks: Cancelled
  // An out_dir that is a model folder (it holds config.json) is replaced at finish(): the old folder is
  // moved aside, the new one renamed into place, then the old one removed (`--force`). Anything else
  // that exists (a file, a folder that is not a model) is still refused.
  bool replace_existing = false;
  // Called by finish() on the complete staging folder (shards named, index written) before it is moved
  // into place: a re-read check that throws leaves out_dir as it was (the staging folder is removed).
  std::function<void(const std::filesystem::path& staged)> verify;
  // Resumable writing (above): null for a writer that cannot be resumed.
  nlohmann::json resume_key;
  bool resume = false;                           // adopt an interrupted run's staging folder with this key
  bool discard_other = false;  // with resume: an interrupted run with another key is discarded, not refused
  std::function<nlohmann::json()> journal_extra; // recorded with each shard (state the caller needs back)
};

// Fills `chunk` with bytes [byte_offset, byte_offset + chunk.size()) of the tensor.
using TensorFill = std::function<void(std::uint64_t byte_offset, std::span<std::byte> chunk)>;

struct CheckpointResult {
  std::vector<std::filesystem::path> files;  // in out_dir: the other files in the order written, shards, index
  std::uint64_t bytes = 0;                   // on disk, every file
  std::uint64_t tensor_bytes = 0;            // the index's total_size
  std::size_t shards = 0;
};

// The shards greedy packing makes of these tensors in this order (indices into `tensors`).
std::vector<std::vector<std::size_t>> plan_shards(const std::vector<TensorHeader>& tensors,
                                                  std::uint64_t max_shard_bytes);
// Bytes the shard files of these tensors will take (to check free space before writing).
std::uint64_t checkpoint_shard_bytes(const std::vector<TensorHeader>& tensors, const CheckpointOptions& options = {});
// The shard file names of a checkpoint of n shards, in order.
std::string shard_file_name(std::size_t index, std::size_t n);
// The first setting in which two resume keys differ ("method: \"nvfp4\" then, \"fp8\" now"), for a refusal.
std::string resume_key_difference(const nlohmann::json& then, const nlohmann::json& now);

class CheckpointWriter {
 public:
  explicit CheckpointWriter(std::filesystem::path out_dir, CheckpointOptions options = {});
  // The constructor's refusal of an out_dir, for a caller with long work to do before it writes.
  static void check_out_dir(const std::filesystem::path& out_dir, bool replace_existing);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  void add(TensorHeader header, std::span<const std::byte> bytes);
  void add(TensorHeader header, TensorFill fill);

  // A file of the folder by plain name ("config.json", "tokenizer.json"); write_json writes dump(2) + "\n".
  void write_file(const std::string& name, std::string_view bytes);
  void write_json(const std::string& name, const nlohmann::json& j);
  void copy_file(const std::filesystem::path& from, const std::string& name = {});

  CheckpointResult finish();
  void cancel();
  // A cancel that keeps the complete shards, the journal and the staging folder for a later run with
  // resume (the open shard is dropped); a writer without a resume_key, or with no complete shard, cancels.
  // Returns the shards kept (again, when called after the writer suspended itself on a cancel).
  std::size_t suspend();

  // Resuming: the shards adopted from an interrupted run, the journal_extra() recorded with its last one,
  // and whether a tensor is in those shards already.
  std::size_t resumed_shards() const { return resumed_shards_; }
  const nlohmann::json& resumed_extra() const { return resumed_extra_; }
  bool holds(const std::string& tensor) const { return resumed_.count(tensor) != 0; }
  // The complete shards so far (adopted ones included).
  std::size_t complete_shards() const { return written_.size(); }

  const std::filesystem::path& out_dir() const { return out_; }
  const std::filesystem::path& staging_dir() const { return staging_; }

 private:
  struct Pending {
    TensorHeader header;
    std::uint64_t bytes = 0;
    TensorFill fill;               // or, when empty, the bytes sit in the spill file at spill_offset
    std::uint64_t spill_offset = 0;
  };
  struct Written {
    std::string temp_name;
    std::vector<TensorHeader> tensors;  // in the order added (the index's names, the journal's headers)
  };
  void add_pending(Pending p);
  void close_shard(bool record);
  void check_open() const;
  void abandon();  // inside a catch block: suspend() on a cancel, cancel() on anything else
  bool skip_resumed(const TensorHeader& header);
  void adopt_or_refuse_interrupted(const std::string& name);
  void adopt(const std::filesystem::path& dir, int lock_fd, const nlohmann::json& journal);
  void write_journal();
  std::string checked_file_name(const std::string& name);

  std::filesystem::path out_, parent_, staging_;
  std::filesystem::path target_;    // out_ with its links followed: where the staging folder is renamed to
  int lock_fd_ = -1;                // the flock on staging_
  CheckpointOptions opt_;
  std::vector<Pending> shard_;      // the open shard
  std::uint64_t shard_bytes_ = 0;
  int spill_fd_ = -1;
  std::uint64_t spill_size_ = 0;
  std::vector<Written> written_;   // closed shards
  std::set<std::string> tensor_names_, file_names_;
  std::vector<std::string> files_;  // the other files, in the order written
  std::uint64_t tensor_bytes_ = 0;
  bool done_ = false, suspended_ = false;
  // Resuming
  std::map<std::string, TensorHeader> resumed_;  // the tensors of the adopted shards
  std::size_t resumed_shards_ = 0;
  nlohmann::json resumed_extra_;
};

}  // namespace qlab::io
