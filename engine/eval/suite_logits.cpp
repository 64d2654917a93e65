#include "engine/eval/suite_logits.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/model/backend.h"
#include "engine/model/forward.h"

namespace qlab::eval {

namespace {

constexpr char kMagic[8] = {'Q', 'L', 'A', 'B', 'L', 'O', 'G', 'T'};
constexpr char kChunkMagic[4] = {'C', 'H', 'N', 'K'};
constexpr std::uint32_t kCodecPlanesZlib = 1;
constexpr std::size_t kRecordHead = 4 + 8 + 4 + 8 + 4;

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // the platforms qlab builds for are little-endian (DESIGN.md)
  out.append(b, sizeof(T));
}

template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string header_bytes(const LogitStoreHeader& h) {
  std::string s(kMagic, 8);
  put<std::uint32_t>(s, kLogitStoreVersion);
  put<std::uint32_t>(s, kCodecPlanesZlib);
  put<std::int64_t>(s, h.n_ctx);
  put<std::int32_t>(s, h.vocab);
  put<std::int32_t>(s, h.bos);
  put<std::int64_t>(s, h.n_chunks);
  put<std::uint64_t>(s, h.tokens_hash);
  put<std::uint32_t>(s, static_cast<std::uint32_t>(h.key.size()));
  s += h.key;
  return s;
}

struct Parsed {
  LogitStoreHeader h;
  std::uint64_t header_end = 0;
};

// The header of an open file; Error naming it when the bytes are not a store of this version.
Parsed parse_header(std::ifstream& f, const std::filesystem::path& path) {
  char fixed[8 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 4];
  if (!f.read(fixed, sizeof fixed))
    fail("{}: too short for a qlab logit store (cut off while written?); delete it to compute the baseline again",
         path.string());
  if (std::memcmp(fixed, kMagic, 8) != 0)
    fail("{}: not a qlab logit store (no QLABLOGT signature)", path.string());
  const auto version = get<std::uint32_t>(fixed + 8);
  if (version != kLogitStoreVersion)
    fail("{}: a logit store of format version {} (this qlab reads version {}); it was written by {} qlab", path.string(),
         version, kLogitStoreVersion, version < kLogitStoreVersion ? "an older" : "a newer");
  if (get<std::uint32_t>(fixed + 12) != kCodecPlanesZlib)
    fail("{}: unknown codec {} in a logit store", path.string(), get<std::uint32_t>(fixed + 12));
  Parsed p;
  p.h.n_ctx = get<std::int64_t>(fixed + 16);
  p.h.vocab = get<std::int32_t>(fixed + 24);
  p.h.bos = get<std::int32_t>(fixed + 28);
  p.h.n_chunks = get<std::int64_t>(fixed + 32);
  p.h.tokens_hash = get<std::uint64_t>(fixed + 40);
  const auto key_len = get<std::uint32_t>(fixed + 48);
  if (p.h.n_ctx < 4 || p.h.vocab < 1 || p.h.n_chunks < 1 || key_len > (1u << 20))
    fail("{}: a logit store header with impossible values (context {}, vocabulary {}, {} chunks)", path.string(),
         p.h.n_ctx, p.h.vocab, p.h.n_chunks);
  p.h.key.resize(key_len);
  if (key_len && !f.read(p.h.key.data(), key_len)) fail("{}: logit store header cut short", path.string());
  p.header_end = sizeof fixed + key_len;
  return p;
}

std::int64_t scored_rows(const LogitStoreHeader& h) { return h.n_ctx - 1 - h.n_ctx / 2; }

// Float rows -> 4 byte planes -> zlib (level 1: the store is written once per text, read once per variant).
std::string compress_rows(std::span<const float> rows) {
  const std::size_t n = rows.size();
  std::string planes(n * 4, '\0');
  const auto* src = reinterpret_cast<const unsigned char*>(rows.data());
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t b = 0; b < 4; ++b) planes[b * n + i] = static_cast<char>(src[i * 4 + 3 - b]);
  uLongf len = compressBound(static_cast<uLong>(planes.size()));
  std::string out(len, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &len, reinterpret_cast<const Bytef*>(planes.data()),
                static_cast<uLong>(planes.size()), 1) != Z_OK)
    fail("zlib could not compress a chunk of logits");
  out.resize(len);
  return out;
}

}  // namespace

std::uint64_t hash_tokens(std::span<const std::int32_t> tokens) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::int32_t t : tokens)
    for (int b = 0; b < 4; ++b) {
      h ^= static_cast<std::uint8_t>(static_cast<std::uint32_t>(t) >> (8 * b));
      h *= 1099511628211ull;
    }
  return h;
}

double logit_store_raw_bytes(const LogitStoreHeader& h) {
  return 4.0 * static_cast<double>(scored_rows(h)) * static_cast<double>(h.vocab) * static_cast<double>(h.n_chunks);
}

std::optional<LogitStoreHeader> LogitStore::peek(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot open {}", path.string());
  return parse_header(f, path).h;
}

LogitStore LogitStore::open_for_read(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot open the logit store {}", path.string());
  const Parsed p = parse_header(f, path);
  LogitStore s;
  s.path_ = path;
  s.h_ = p.h;
  const std::uint64_t size = std::filesystem::file_size(path);
  std::uint64_t at = p.header_end;
  const std::uint64_t raw = static_cast<std::uint64_t>(scored_rows(p.h)) * static_cast<std::uint64_t>(p.h.vocab) * 4;
  while (at + kRecordHead <= size && s.chunks_done() < p.h.n_chunks) {
    char head[kRecordHead];
    f.seekg(static_cast<std::streamoff>(at));
    if (!f.read(head, kRecordHead)) break;
    if (std::memcmp(head, kChunkMagic, 4) != 0) break;
    const auto chunk = get<std::int64_t>(head + 4);
    const auto rows = get<std::uint32_t>(head + 12);
    const auto bytes = get<std::uint64_t>(head + 16);
    if (chunk != s.chunks_done() || rows != scored_rows(p.h) || bytes > 2 * raw + 1024 || at + kRecordHead + bytes > size)
      break;
    s.offsets_.push_back(at);
    at += kRecordHead + bytes;
  }
  s.end_ = at;
  return s;
}

LogitStore LogitStore::open_for_append(const std::filesystem::path& path, const LogitStoreHeader& h) {
  if (auto have = peek(path)) {
    if (!(*have == h))
      fail("{} holds the logits of another baseline or text (its key: {}); delete it to compute this one", path.string(),
           have->key);
    LogitStore s = open_for_read(path);
    std::filesystem::resize_file(path, s.end_);  // drop a record cut short
    return s;
  }
  std::filesystem::create_directories(path.parent_path());
  const std::string head = header_bytes(h);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f.write(head.data(), static_cast<std::streamsize>(head.size())) || !f.flush())
      fail("cannot write the logit store {}", path.string());
  }
  LogitStore s;
  s.path_ = path;
  s.h_ = h;
  s.end_ = head.size();
  return s;
}

void LogitStore::append(std::span<const float> rows) {
  if (static_cast<std::int64_t>(rows.size()) != scored_rows(h_) * h_.vocab)
    fail("logit store {}: a chunk of {} values, not {} rows of {}", path_.string(), rows.size(), scored_rows(h_), h_.vocab);
  if (complete()) fail("logit store {}: already holds all {} chunks", path_.string(), h_.n_chunks);
  const std::string z = compress_rows(rows);
  std::string rec(kChunkMagic, 4);
  put<std::int64_t>(rec, chunks_done());
  put<std::uint32_t>(rec, static_cast<std::uint32_t>(scored_rows(h_)));
  put<std::uint64_t>(rec, z.size());
  put<std::uint32_t>(rec, static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(rows.data()),
                                                            static_cast<uInt>(rows.size() * 4))));
  std::ofstream f(path_, std::ios::binary | std::ios::app);
  if (!f.write(rec.data(), static_cast<std::streamsize>(rec.size())) ||
      !f.write(z.data(), static_cast<std::streamsize>(z.size())) || !f.flush())
    fail("cannot append to the logit store {} (disk full?)", path_.string());
  offsets_.push_back(end_);
  end_ += rec.size() + z.size();
}

void LogitStore::read(std::int64_t c, std::vector<float>& out) const {
  if (c < 0 || c >= chunks_done()) fail("logit store {}: no chunk {}", path_.string(), c);
  std::ifstream f(path_, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offsets_[static_cast<std::size_t>(c)]));
  char head[kRecordHead];
  if (!f.read(head, kRecordHead)) fail("logit store {}: chunk {} cannot be read", path_.string(), c);
  const auto bytes = get<std::uint64_t>(head + 16);
  const auto crc = get<std::uint32_t>(head + 24);
  std::string z(bytes, '\0');
  if (!f.read(z.data(), static_cast<std::streamsize>(bytes)))
    fail("logit store {}: chunk {} cut short", path_.string(), c);
  const std::size_t n = static_cast<std::size_t>(scored_rows(h_) * h_.vocab);
  std::string planes(n * 4, '\0');
  uLongf len = static_cast<uLongf>(planes.size());
  if (uncompress(reinterpret_cast<Bytef*>(planes.data()), &len, reinterpret_cast<const Bytef*>(z.data()),
                 static_cast<uLong>(z.size())) != Z_OK ||
      len != planes.size())
    fail("logit store {}: chunk {} does not decompress (damaged file: delete it to compute the baseline again)",
         path_.string(), c);
  out.resize(n);
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t b = 0; b < 4; ++b) dst[i * 4 + 3 - b] = static_cast<unsigned char>(planes[b * n + i]);
  if (static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(out.data()), static_cast<uInt>(n * 4))) != crc)
    fail("logit store {}: chunk {} fails its checksum (damaged file: delete it to compute the baseline again)",
         path_.string(), c);
}

namespace {

// Chunks per forward_batch call: WindowRunner's rule in perplexity.cpp.
std::int64_t batch_size(const model::Model& m, const model::Backend& be, std::int64_t n_ctx) {
  constexpr double kMaxLogitBytes = 256.0 * 1024 * 1024;
  const double window_bytes = 4.0 * static_cast<double>(n_ctx) * m.vocab_size();
  const auto by_memory = static_cast<std::int64_t>(std::max(1.0, kMaxLogitBytes / window_bytes));
  return std::clamp<std::int64_t>(be.sequences_per_batch(m.config(), n_ctx), 1, by_memory);
}

// Runs chunks [c0, c0 + n) on the backend and leaves each one's rows first .. n_ctx-1 in its memory.
class ChunkRunner {
 public:
  ChunkRunner(const model::Model& m, const PplOptions& opt)
      : m_(m), opt_(opt), be_(opt.backend ? *opt.backend : model::cpu_backend()) {
    for (std::int64_t b = 0; b < batch_size(m, be_, opt.n_ctx); ++b) caches_.emplace_back(m.config(), opt.n_ctx, 0, be_);
  }
  model::Backend& backend() { return be_; }
  std::int64_t max_batch() const { return static_cast<std::int64_t>(caches_.size()); }
  std::int64_t rows_per_chunk() const { return opt_.n_ctx - opt_.n_ctx / 2; }
  const float* logits() const { return logits_.get(); }

  void run(std::span<const std::int32_t> tokens, std::int64_t c0, std::int64_t n) {
    ids_.clear();
    std::vector<model::KVCache*> caches;
    for (std::int64_t k = 0; k < n; ++k) {
      const std::size_t at = ids_.size();
      const auto begin = tokens.begin() + (c0 + k) * opt_.n_ctx;
      ids_.insert(ids_.end(), begin, begin + opt_.n_ctx);
      if (opt_.bos) ids_[at] = *opt_.bos;
      caches_[static_cast<std::size_t>(k)].clear();
      caches.push_back(&caches_[static_cast<std::size_t>(k)]);
    }
    const std::int64_t need = n * rows_per_chunk() * m_.vocab_size();
    if (size_ < need) {
      logits_.reset();
      logits_ = be_.alloc(need);
      size_ = need;
    }
    model::forward_batch_on_backend(m_, caches, ids_, rows_per_chunk(), logits_.get());
  }

 private:
  const model::Model& m_;
  const PplOptions& opt_;
  model::Backend& be_;
  std::vector<model::KVCache> caches_;
  std::vector<std::int32_t> ids_;
  std::shared_ptr<float> logits_;
  std::int64_t size_ = 0;
};

void check_plan(const model::Model& m, std::span<const std::int32_t> tokens, const PplOptions& opt,
                const LogitStoreHeader& h) {
  if (m.vocab_size() != h.vocab)
    fail("the model has a vocabulary of {}, the baseline's logits one of {}: KL-divergence compares variants of one "
         "model with one tokenizer",
         m.vocab_size(), h.vocab);
  if (opt.n_ctx != h.n_ctx || static_cast<std::int64_t>(tokens.size()) < h.n_chunks * h.n_ctx ||
      opt.bos.value_or(-1) != h.bos)
    fail("the baseline's logits were made with context {} over {} chunks; this run asks context {} over {} tokens",
         h.n_ctx, h.n_chunks, opt.n_ctx, tokens.size());
  for (std::int64_t i = 0; i < h.n_chunks * h.n_ctx; ++i)
    if (tokens[static_cast<std::size_t>(i)] < 0 || tokens[static_cast<std::size_t>(i)] >= m.vocab_size())
      fail("token id {} at index {} is out of range for the model's vocabulary of {}", tokens[static_cast<std::size_t>(i)],
           i, m.vocab_size());
}

}  // namespace

void write_base_logits(const model::Model& m, std::span<const std::int32_t> tokens, const PplOptions& opt,
                       LogitStore& store, std::int64_t upto, Progress& progress, std::stop_token stop) {
  const LogitStoreHeader& h = store.header();
  check_plan(m, tokens, opt, h);
  upto = std::min(upto, h.n_chunks);
  ChunkRunner runner(m, opt);
  const std::int64_t n_scored = scored_rows(h), rows = runner.rows_per_chunk(), V = m.vocab_size();
  std::vector<float> host(static_cast<std::size_t>(n_scored * V));
  const std::int64_t start = store.chunks_done();
  while (store.chunks_done() < upto) {
    check_cancel(stop);
    const std::int64_t c0 = store.chunks_done(), n = std::min(runner.max_batch(), upto - c0);
    runner.run(tokens, c0, n);
    for (std::int64_t k = 0; k < n; ++k) {
      runner.backend().download(runner.logits() + k * rows * V, n_scored * V, host.data());
      store.append(host);
    }
    progress.report(static_cast<double>(store.chunks_done() - start) / static_cast<double>(upto - start),
                    fmt::format("chunk {}/{}", store.chunks_done(), upto));
  }
}

void compare_with_base(const model::Model& test, std::span<const std::int32_t> tokens, const PplOptions& opt,
                       const LogitStore& store, std::int64_t from_chunk, std::int64_t upto,
                       const std::function<void(std::int64_t, std::span<const TokenCompare>)>& on_chunk,
                       Progress& progress, std::stop_token stop) {
  const LogitStoreHeader& h = store.header();
  check_plan(test, tokens, opt, h);
  ChunkRunner runner(test, opt);
  model::Backend& be = runner.backend();
  const std::int64_t n_scored = scored_rows(h), rows = runner.rows_per_chunk(), V = test.vocab_size();
  const std::int64_t first = opt.n_ctx / 2, end = std::min(upto, store.chunks_done());
  std::vector<float> base;
  std::shared_ptr<float> base_dev;  // the stored rows in the backend's memory (not needed on the host)
  if (!be.host_memory()) base_dev = be.alloc(n_scored * V);
  std::vector<TokenCompare> out(static_cast<std::size_t>(n_scored));
  for (std::int64_t c0 = from_chunk; c0 < end;) {
    check_cancel(stop);
    const std::int64_t n = std::min(runner.max_batch(), end - c0);
    runner.run(tokens, c0, n);
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t c = c0 + k;
      store.read(c, base);
      const float* b = base.data();
      if (base_dev) {
        be.upload(base.data(), n_scored * V, base_dev.get());
        b = base_dev.get();
      }
      const std::int32_t* targets = tokens.data() + c * opt.n_ctx + first + 1;
      be.kl_rows(b, runner.logits() + k * rows * V, n_scored, V, targets, out.data());
      on_chunk(c, out);
    }
    c0 += n;
    progress.report(static_cast<double>(c0 - from_chunk) / static_cast<double>(std::max<std::int64_t>(1, end - from_chunk)),
                    fmt::format("chunk {}/{}", c0, end));
  }
}

}  // namespace qlab::eval
