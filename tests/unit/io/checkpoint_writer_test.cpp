// The checkpoint writer against transformers' own sharded folder (tests/fixtures/models/llama_sharded,
// saved by save_pretrained with max_shard_size 100KB): pushed the same tensors in the same order, it
// writes the same files byte for byte. Then the greedy boundaries, a round trip through the reader,
// and the promises: an existing folder refused, nothing left behind by cancel, errors or a stop.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <stop_token>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/progress.h"
#include "engine/io/checkpoint_writer.h"
#include "engine/io/safetensors.h"
#include "tests/unit/io/io_test_util.h"
#include "tests/folder_files.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return b;
}

// n bytes counting up from `first` (mod 256)
std::vector<std::byte> ramp(std::size_t n, int first = 0) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((first + static_cast<int>(i)) & 0xff);
  return b;
}

TensorFill fill_from(std::vector<std::byte> b) {
  return [b = std::move(b)](std::uint64_t off, std::span<std::byte> chunk) {
    std::memcpy(chunk.data(), b.data() + off, chunk.size());
  };
}

// Nothing of the checkpoint in `dir`: no output folder, no staging folder beside it.
void expect_nothing_left(const ScratchDir& dir, const std::string& leaf) {
  EXPECT_FALSE(fs::exists(dir / leaf)) << leaf;
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
}

TEST(CheckpointWriter, WritesTransformersShardedFolderByteForByte) {
  const fs::path fixture = source_dir() / "tests" / "fixtures" / "models" / "llama_sharded";
  const TensorStore store = TensorStore::open(fixture);
  // The state dict's order (the modules' order in LlamaForCausalLM), the order save_pretrained shards in.
  std::vector<std::string> order = {"model.embed_tokens.weight"};
  for (int l = 0; l < 2; ++l)
    for (const char* t : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm",
                          "post_attention_layernorm"})
      order.push_back(fmt::format("model.layers.{}.{}.weight", l, t));
  order.push_back("model.norm.weight");
  order.push_back("lm_head.weight");
  ASSERT_EQ(order.size(), store.size());

  ScratchDir dir;
  CheckpointOptions o;
  o.max_shard_bytes = 100'000;  // "100KB"
  o.index_metadata = {{"total_parameters", 106816}};
  o.chunk_bytes = 1000;  // many chunks per tensor, partial last ones
  CheckpointWriter w(dir / "out", o);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const TensorRef& t = store.at(order[i]);
    TensorHeader h{t.name, t.dtype, t.shape};
    if (i % 2)  // both ways of giving bytes
      w.add(h, t.bytes);
    else
      w.add(h, fill_from(std::vector<std::byte>(t.bytes.begin(), t.bytes.end())));
  }
  w.copy_file(fixture / "config.json");
  const CheckpointResult r = w.finish();
  EXPECT_EQ(r.shards, 5u);
  EXPECT_EQ(r.tensor_bytes, 427264u);
  ASSERT_EQ(r.files.size(), 7u);  // config.json, five shards, the index
  EXPECT_EQ(r.files.front().filename(), "config.json");
  for (const auto& f : r.files) EXPECT_EQ(read_raw(f), read_raw(fixture / f.filename())) << f.filename();
  expect_nothing_left(dir, "absent");
}

TEST(CheckpointWriter, ShardsGreedilyInTheOrderGiven) {
  // 40 + 40 fit a 100-byte shard, a third 40 does not; 100 fills one alone; 150 is over the limit and
  // gets a shard of its own; the last 10 starts another (transformers' shard_checkpoint rule).
  const std::vector<std::size_t> sizes = {40, 40, 40, 100, 150, 10};
  std::vector<TensorHeader> headers;
  for (std::size_t i = 0; i < sizes.size(); ++i)
    headers.push_back({fmt::format("t{}", i), DType::U8, {static_cast<std::int64_t>(sizes[i])}});
  const auto plan = plan_shards(headers, 100);
  EXPECT_EQ(plan, (std::vector<std::vector<std::size_t>>{{0, 1}, {2}, {3}, {4}, {5}}));

  ScratchDir dir;
  CheckpointOptions o;
  o.max_shard_bytes = 100;
  CheckpointWriter w(dir / "m", o);
  for (std::size_t i = 0; i < sizes.size(); ++i) w.add(headers[i], ramp(sizes[i], static_cast<int>(i)));
  const CheckpointResult r = w.finish();
  EXPECT_EQ(r.shards, 5u);
  const nlohmann::json index = nlohmann::json::parse(read_raw(dir / "m" / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"], (nlohmann::json{{"total_size", 380}}));
  const std::vector<std::string> want = {"model-00001-of-00005.safetensors", "model-00001-of-00005.safetensors",
                                         "model-00002-of-00005.safetensors", "model-00003-of-00005.safetensors",
                                         "model-00004-of-00005.safetensors", "model-00005-of-00005.safetensors"};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string file = index["weight_map"][fmt::format("t{}", i)];
    EXPECT_EQ(file, want[i]) << i;
    // the shard named holds the tensor, with its bytes
    const TensorStore shard = TensorStore::open(dir / "m" / file);
    const TensorRef& t = shard.at(fmt::format("t{}", i));
    EXPECT_EQ(std::vector<std::byte>(t.bytes.begin(), t.bytes.end()), ramp(sizes[i], static_cast<int>(i)));
  }
  EXPECT_EQ(checkpoint_shard_bytes(headers, o), r.bytes - fs::file_size(dir / "m" / "model.safetensors.index.json"));
}

TEST(CheckpointWriter, RoundTripsMixedDtypesThroughTheReader) {
  ScratchDir dir;
  CheckpointOptions o;
  o.max_shard_bytes = 64;
  o.chunk_bytes = 24;
  CheckpointWriter w(dir / "m", o);
  w.add({"a.f32", DType::F32, {2, 3}}, ramp(24, 1));
  w.add({"b.bf16", DType::BF16, {5}}, fill_from(ramp(10, 7)));
  w.add({"c.i64", DType::I64, {4}}, ramp(32, 9));
  w.add({"d.e4m3", DType::F8_E4M3, {3, 3}}, fill_from(ramp(9, 11)));
  w.add({"e.empty", DType::F32, {0, 4}}, std::span<const std::byte>{});
  w.write_json("config.json", {{"hidden_size", 3}});
  const CheckpointResult r = w.finish();
  EXPECT_EQ(r.tensor_bytes, 24u + 10 + 32 + 9);
  const TensorStore s = TensorStore::open(dir / "m");
  ASSERT_EQ(s.size(), 5u);
  auto expect_bytes = [&](const std::string& name, const std::vector<std::byte>& want) {
    const TensorRef& t = s.at(name);
    EXPECT_EQ(std::vector<std::byte>(t.bytes.begin(), t.bytes.end()), want) << name;
  };
  expect_bytes("a.f32", ramp(24, 1));
  expect_bytes("b.bf16", ramp(10, 7));
  expect_bytes("c.i64", ramp(32, 9));
  expect_bytes("d.e4m3", ramp(9, 11));
  EXPECT_EQ(s.at("d.e4m3").shape, (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(s.at("e.empty").numel(), 0);
  EXPECT_EQ(read_raw(dir / "m" / "config.json"), "{\n  \"hidden_size\": 3\n}\n");
}

TEST(CheckpointWriter, OneShardIsModelSafetensorsWithoutAnIndex) {
  ScratchDir dir;
  fs::create_directory(dir / "empty");  // an empty folder the user made is fine
  CheckpointWriter w(dir / "empty");
  w.add({"x", DType::U8, {3}}, bytes_of({1, 2, 3}));
  const CheckpointResult r = w.finish();
  EXPECT_EQ(r.shards, 1u);
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].filename(), "model.safetensors");
  EXPECT_FALSE(fs::exists(dir / "empty" / "model.safetensors.index.json"));
  EXPECT_EQ(TensorStore::open(dir / "empty").metadata().at("format"), "pt");
}

TEST(CheckpointWriter, RefusesAFolderInUse) {
  ScratchDir dir;
  fs::create_directory(dir / "busy");
  write_raw(dir / "busy" / "keep.txt", "mine");
  expect_error([&] { CheckpointWriter w(dir / "busy"); }, {"busy", "already exists and is not an empty folder"});
  EXPECT_EQ(read_raw(dir / "busy" / "keep.txt"), "mine");
  write_raw(dir / "file", "x");
  expect_error([&] { CheckpointWriter w(dir / "file"); }, {"already exists"});
  expect_error([&] { CheckpointWriter w(dir / "no" / "such" / "parent"); }, {"does not exist"});
  expect_nothing_left(dir, "absent");
}

// --force: a model folder is replaced whole, and only once the new one has passed its check; a folder
// that is not a model, or a file, is never replaced.
TEST(CheckpointWriter, ReplacesAModelFolderOnlyAfterItsCheckPasses) {
  ScratchDir dir;
  fs::create_directory(dir / "old");
  write_raw(dir / "old" / "config.json", "{}");
  write_raw(dir / "old" / "extra.txt", "from the old run");
  CheckpointOptions force;
  force.replace_existing = true;
  {  // the check fails: the old folder is untouched, nothing else is left
    CheckpointOptions o = force;
    o.verify = [](const fs::path& staged) {
      EXPECT_TRUE(fs::exists(staged / "model.safetensors"));
      fail("re-read check: a weight differs");
    };
    CheckpointWriter w(dir / "old", o);
    w.add({"x", DType::U8, {1}}, bytes_of({9}));
    expect_error([&] { w.finish(); }, {"a weight differs"});
  }
  EXPECT_EQ(read_raw(dir / "old" / "extra.txt"), "from the old run");
  {
    CheckpointOptions o = force;
    bool checked = false;
    o.verify = [&](const fs::path&) { checked = true; };
    CheckpointWriter w(dir / "old", o);
    w.write_file("config.json", "{\"new\": true}");
    w.add({"x", DType::U8, {1}}, bytes_of({7}));
    w.finish();
    EXPECT_TRUE(checked);
  }
  EXPECT_FALSE(fs::exists(dir / "old" / "extra.txt"));  // replaced whole, not merged
  EXPECT_EQ(read_raw(dir / "old" / "config.json"), "{\"new\": true}");
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
    EXPECT_EQ(e.path().filename().string().find(".replaced-"), std::string::npos) << e.path();
  }
  // not a model folder, or a file: refused even with replace_existing
  fs::create_directory(dir / "home");
  write_raw(dir / "home" / "notes.txt", "mine");
  expect_error([&] { CheckpointWriter w(dir / "home", force); }, {"not a model folder"});
  write_raw(dir / "file", "x");
  expect_error([&] { CheckpointWriter w(dir / "file", force); }, {"not a model folder"});
  EXPECT_EQ(read_raw(dir / "home" / "notes.txt"), "mine");
}

TEST(CheckpointWriter, CancelAndErrorsLeaveNothing) {
  ScratchDir dir;
  {  // cancel after tensors of both kinds and a file, one shard already closed
    CheckpointOptions o;
    o.max_shard_bytes = 4;
    CheckpointWriter w(dir / "a", o);
    w.add({"x", DType::U8, {4}}, bytes_of({1, 2, 3, 4}));
    w.add({"y", DType::U8, {2}}, fill_from(bytes_of({5, 6})));
    w.write_file("config.json", "{}");
    EXPECT_TRUE(fs::exists(w.staging_dir()));
    w.cancel();
    EXPECT_FALSE(fs::exists(w.staging_dir()));
    expect_error([&] { w.add({"z", DType::U8, {1}}, bytes_of({7})); }, {"already finished or cancelled"});
  }
  expect_nothing_left(dir, "a");
  {  // destroyed without finish()
    CheckpointWriter w(dir / "b");
    w.add({"x", DType::U8, {1}}, bytes_of({1}));
  }
  expect_nothing_left(dir, "b");
  {  // a fill that fails while the shard is written
    CheckpointWriter w(dir / "c");
    w.add({"x", DType::U8, {8}}, [](std::uint64_t, std::span<std::byte>) { fail("the source went away"); });
    expect_error([&] { w.finish(); }, {"the source went away"});
  }
  expect_nothing_left(dir, "c");
  {  // a stop requested mid-way
    std::stop_source stop;
    CheckpointOptions o;
    o.stop = stop.get_token();
    CheckpointWriter w(dir / "d", o);
    w.add({"x", DType::U8, {8}}, bytes_of({1, 2, 3, 4, 5, 6, 7, 8}));
    stop.request_stop();
    EXPECT_THROW(w.finish(), qlab::Cancelled);
  }
  expect_nothing_left(dir, "d");
}

TEST(CheckpointWriter, BadNamesAreErrorsThatCleanUp) {
  ScratchDir dir;
  {
    CheckpointOptions o;
    o.max_shard_bytes = 1;
    CheckpointWriter w(dir / "dup", o);
    w.add({"x", DType::U8, {1}}, bytes_of({1}));
    w.add({"y", DType::U8, {1}}, bytes_of({2}));  // closes the shard holding x
    expect_error([&] { w.add({"x", DType::U8, {1}}, bytes_of({3})); }, {"tensor 'x' is given twice"});
    EXPECT_FALSE(fs::exists(w.staging_dir()));
  }
  expect_nothing_left(dir, "dup");
  for (const char* bad : {"model.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                          "../escape", "a/b", ""}) {
    CheckpointWriter w(dir / "names");
    expect_error([&] { w.write_file(bad, "x"); }, {"names"});
  }
  expect_nothing_left(dir, "names");
  {
    CheckpointWriter w(dir / "short");
    expect_error([&] { w.add({"x", DType::F32, {2}}, bytes_of({1, 2, 3})); }, {"needs 8 bytes, 3 given"});
  }
  {
    CheckpointWriter w(dir / "none");
    expect_error([&] { w.finish(); }, {"no tensors"});
  }
  expect_nothing_left(dir, "none");
}

}  // namespace
}  // namespace qlab::io


namespace qlab::io {
namespace {

using namespace qlab::io::testing;

// ---- resuming ----------------------------------------------------------------------------------------

namespace resume {

// Five 40-byte tensors and a 100-byte shard limit: shards {a, b}, {c, d}, {e}.
const char* const kNames[] = {"a", "b", "c", "d", "e"};

CheckpointOptions options(const nlohmann::json& key, bool resume = false) {
  CheckpointOptions o;
  o.max_shard_bytes = 100;
  o.resume_key = key;
  o.resume = resume;
  o.journal_extra = [] { return nlohmann::json{{"note", "state of the caller"}}; };
  return o;
}

void add(CheckpointWriter& w, const char* name, int first) {
  w.add(TensorHeader{name, DType::U8, {40}}, fill_from(ramp(40, first)));
}

std::vector<fs::path> staging_folders(const ScratchDir& dir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().find(".partial-") != std::string::npos) v.push_back(e.path());
  return v;
}

}  // namespace resume

// A resumable writer stopped after two complete shards (and part of a third) keeps them; the next one
// with the same key adopts them, skips their tensors and writes exactly what one uninterrupted run does.
TEST(CheckpointWriter, ResumeKeepsCompleteShardsAndWritesTheSameFolder) {
  using namespace resume;
  ScratchDir dir;
  const nlohmann::json key = {{"source", "m"}, {"method", "fp8"}};
  {
    CheckpointWriter w(dir / "ref", options(key));
    for (int i = 0; i < 5; ++i) add(w, kNames[i], 10 * i);
    w.finish();
  }
  {
    CheckpointWriter w(dir / "out", options(key));
    for (int i = 0; i < 5; ++i) add(w, kNames[i], 10 * i);  // e's add closes shard {c, d}; e is open
    EXPECT_EQ(w.complete_shards(), 2u);
    EXPECT_EQ(w.suspend(), 2u);
  }
  const auto left = staging_folders(dir);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(qlab::testing::folder_files(left[0]).size(), 3u)
      << "two shards and the journal; the open shard's spill is gone";

  // Without resume the interrupted run is not thrown away silently.
  try {
    CheckpointWriter w(dir / "out", options(key));
    FAIL() << "an interrupted run was discarded without --force";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 complete shards"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  // Other settings: refused, naming the setting.
  try {
    CheckpointWriter w(dir / "out", options({{"source", "m"}, {"method", "nvfp4"}}, true));
    FAIL() << "resumed with other settings";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("method: \"fp8\" then, \"nvfp4\" now"), std::string::npos) << e.what();
  }
  ASSERT_EQ(staging_folders(dir), left) << "a refusal leaves the interrupted run as it was";

  CheckpointWriter w(dir / "out", options(key, true));
  EXPECT_EQ(w.resumed_shards(), 2u);
  EXPECT_EQ(w.resumed_extra(), (nlohmann::json{{"note", "state of the caller"}}));
  EXPECT_TRUE(w.holds("a") && w.holds("d"));
  EXPECT_FALSE(w.holds("e"));
  // A tensor the shards hold is checked, not written: another shape is an error.
  EXPECT_THROW(w.add(TensorHeader{"b", DType::U8, {41}}, fill_from(ramp(41))), Error);
}

TEST(CheckpointWriter, ResumedFolderEqualsOneRunByteForByte) {
  using namespace resume;
  ScratchDir dir;
  const nlohmann::json key = {{"k", 1}};
  {
    CheckpointWriter w(dir / "ref", options(key));
    for (int i = 0; i < 5; ++i) add(w, kNames[i], 10 * i);
    w.write_file("config.json", "{}\n");
    w.finish();
  }
  {
    // cancelled while the fourth tensor is written: the writer keeps what is complete by itself
    std::stop_source stop;
    CheckpointOptions o = options(key);
    o.stop = stop.get_token();
    CheckpointWriter w(dir / "out", o);
    for (int i = 0; i < 3; ++i) add(w, kNames[i], 10 * i);  // {a, b} complete, c open
    stop.request_stop();
    EXPECT_THROW(w.add(TensorHeader{"d", DType::U8, {40}}, ramp(40, 30)), Cancelled);
    EXPECT_EQ(w.suspend(), 1u);
  }
  CheckpointWriter w(dir / "out", options(key, true));
  ASSERT_EQ(w.resumed_shards(), 1u);
  for (int i = 0; i < 5; ++i) {
    if (w.holds(kNames[i])) {
      w.add(TensorHeader{kNames[i], DType::U8, {40}}, [](std::uint64_t, std::span<std::byte>) {
        ADD_FAILURE() << "a tensor of an adopted shard was produced again";
      });
    } else {
      add(w, kNames[i], 10 * i);
    }
  }
  w.write_file("config.json", "{}\n");
  w.finish();
  EXPECT_EQ(qlab::testing::folder_files(dir / "out"), qlab::testing::folder_files(dir / "ref"));
  EXPECT_TRUE(staging_folders(dir).empty());
}

// A shard whose size is not the journal's (damaged after the run) is refused, and --force discards the run.
TEST(CheckpointWriter, ResumeRefusesADamagedShardAndForceDiscards) {
  using namespace resume;
  ScratchDir dir;
  const nlohmann::json key = {{"k", 1}};
  {
    CheckpointWriter w(dir / "out", options(key));
    for (int i = 0; i < 5; ++i) add(w, kNames[i], 10 * i);
    w.suspend();
  }
  const auto left = staging_folders(dir);
  ASSERT_EQ(left.size(), 1u);
  fs::resize_file(left[0] / "shard-00002.safetensors", 50);
  try {
    CheckpointWriter w(dir / "out", options(key, true));
    FAIL() << "a damaged shard was adopted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard-00002.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
  }
  // A resuming writer that discards other runs' folders: another key starts over instead of refusing.
  {
    CheckpointOptions other = options({{"k", 2}}, true);
    other.discard_other = true;
    CheckpointWriter w(dir / "out", other);
    EXPECT_EQ(w.resumed_shards(), 0u);
    EXPECT_FALSE(fs::exists(left[0] / "qlab-resume.json")) << "the other run's shards are gone";
    EXPECT_FALSE(fs::exists(left[0] / "shard-00001.safetensors"));
    for (int i = 0; i < 5; ++i) add(w, kNames[i], 10 * i);
    EXPECT_EQ(w.suspend(), 2u);
  }
  CheckpointOptions o = options(key);
  o.replace_existing = true;
  CheckpointWriter w(dir / "out", o);
  EXPECT_EQ(w.resumed_shards(), 0u);
  EXPECT_EQ(staging_folders(dir).size(), 1u) << "only this run's";
  w.cancel();
  EXPECT_TRUE(staging_folders(dir).empty());
}

}  // namespace
}  // namespace qlab::io
