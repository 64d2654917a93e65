// The suite's data in the layouts learners have: texts (raw, JSONL, plain, parquet), MMLU folders (CSV,
// the Hub's parquet), and each wrong input named in one line.
#include <gtest/gtest.h>

#include <fstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "engine/eval/suite_mmlu.h"
#include "engine/suite/data.h"
#include "suite_test_util.h"

namespace qlab::suite {
namespace {

using namespace qlab::testing;

void put(const std::filesystem::path& p, const std::string& s) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

TEST(SuiteText, DefaultIsTheModelsOwnHeldOutText) {
  const TextData d = load_text({}, builtin_dir(), builtin_dir());
  EXPECT_EQ(d.text, read_file(builtin_dir() / "eval.txt"));
  EXPECT_TRUE(d.generated);
  EXPECT_EQ(d.hash.size(), 16u);
}

TEST(SuiteText, RawJsonlAndPlain) {
  const auto dir = scratch("suite-text");
  put(dir / "wiki.test.raw", " \n = A = \n \n x . \n = B = \n y \n");
  const TextData raw = load_text(dir / "wiki.test.raw", builtin_dir(), builtin_dir());
  EXPECT_EQ(raw.text, " \n = A = \n \n x . \n = B = \n y \n");
  EXPECT_EQ(raw.pages.size(), 2u);
  put(dir / "docs.jsonl", "{\"text\": \"one\"}\n{\"text\": \"two\"}\n");
  const TextData j = load_text(dir / "docs.jsonl", builtin_dir(), builtin_dir());
  EXPECT_EQ(j.text, "one\n\ntwo");
  EXPECT_EQ(j.pages, (std::vector<std::string>{"one", "two"}));
  put(dir / "notes.txt", "plain words");
  EXPECT_EQ(load_text(dir / "notes.txt", builtin_dir(), builtin_dir()).pages.size(), 1u);
  EXPECT_NE(error_of([&] { load_text(dir / "missing.txt", builtin_dir(), builtin_dir()); }).find("no such file"),
            std::string::npos);
  std::filesystem::create_directories(dir / "empty");
  EXPECT_NE(error_of([&] { load_text(dir / "empty", builtin_dir(), builtin_dir()); }).find("no WikiText-2 test split"),
            std::string::npos);
}

TEST(SuiteText, ParquetOfAnotherDatasetAndCutShortParquet) {
  const auto dir = scratch("suite-text");
  // A real parquet file that is not WikiText (apache/parquet-testing's alltypes).
  const std::string e = error_of([&] {
    load_text(fixtures() / "parquet" / "alltypes_plain.parquet", builtin_dir(), builtin_dir());
  });
  EXPECT_NE(e.find("a parquet file of another dataset (columns: id (int32)"), std::string::npos) << e;
  std::string bytes = read_file(fixtures() / "parquet" / "alltypes_plain.parquet");
  put(dir / "cut.parquet", bytes.substr(0, bytes.size() / 2));
  const std::string c = error_of([&] { load_text(dir / "cut.parquet", builtin_dir(), builtin_dir()); });
  EXPECT_NE(c.find("cut short"), std::string::npos) << c;
  EXPECT_EQ(c.find('\n'), std::string::npos);
}

MmluData csv_folder(const std::filesystem::path& dir, int subjects, int dev) {
  int n = 0;
  for (const auto& [s, c] : eval::mmlu_subjects()) {
    if (n++ >= subjects) break;
    put(dir / "test" / fmt::format("{}_test.csv", s), fmt::format("\"What, {}?\",a,b,c,d,B\n", s));
    std::string d;
    for (int i = 0; i < dev; ++i) d += fmt::format("q{},a,b,c,d,A\n", i);
    put(dir / "dev" / fmt::format("{}_dev.csv", s), d);
  }
  return load_mmlu(dir, builtin_dir(), builtin_dir(), dev >= 5 ? 5 : 0);
}

TEST(SuiteMmlu, CsvFolderInMmluOrder) {
  const auto dir = scratch("suite-mmlu");
  const MmluData d = csv_folder(dir, 57, 5);
  ASSERT_EQ(d.set.test.size(), 57u);
  EXPECT_EQ(d.set.test.front().subject, "abstract_algebra");
  EXPECT_EQ(d.set.test.back().subject, "world_religions");
  EXPECT_EQ(d.set.test.front().question, "What, abstract_algebra?");
  EXPECT_EQ(d.set.test.front().answer, 1);
  EXPECT_EQ(d.set.dev.at("anatomy").size(), 5u);
}

TEST(SuiteMmlu, MissingSubjectsAndMissingDevAreNamed) {
  const auto dir = scratch("suite-mmlu");
  const std::string e = error_of([&] { csv_folder(dir, 50, 5); });
  EXPECT_NE(e.find("MMLU test questions for 50 of its 57 subjects (missing: professional_psychology, public_relations"), std::string::npos) << e;
  const auto dir2 = scratch("suite-mmlu2");
  const std::string f = error_of([&] { csv_folder(dir2, 57, 3); });
  EXPECT_TRUE(f.empty()) << f;  // 0-shot needs no dev
  const std::string g = error_of([&] { load_mmlu(dir2, builtin_dir(), builtin_dir(), 5); });
  EXPECT_NE(g.find("5-shot needs 5 dev questions of abstract_algebra, and there are 3"), std::string::npos) << g;
  const std::string h = error_of([&] { load_mmlu({}, builtin_dir(), builtin_dir(), 5); });
  EXPECT_NE(h.find("0-shot only"), std::string::npos) << h;
}

TEST(SuiteMmlu, HubParquetEqualsTheCsvLayout) {
  const auto gen = fixtures() / "parquet" / "gen";
  if (!std::filesystem::exists(gen / "expected.json"))
    GTEST_SKIP() << "fixture not made yet: run `python3 tests/fixtures/gen_parquet.py --out tests/fixtures/parquet/gen` (needs "
              "pyarrow, or fastparquet with pandas) and commit the folder";
  for (int k : {0, 5}) {
    const MmluData p = load_mmlu(gen / "mmlu", builtin_dir(), builtin_dir(), k);
    const MmluData c = load_mmlu(gen / "mmlu_csv", builtin_dir(), builtin_dir(), k);
    EXPECT_EQ(p.hash, c.hash);
    ASSERT_EQ(p.set.test.size(), c.set.test.size());
  }
  // pyarrow writes data pages v1 and v2, fastparquet v1 only.
  for (const char* name : {"wikitext_zstd_v1_dict.parquet", "wikitext_zstd_v2_dict.parquet"}) {
    if (!std::filesystem::exists(gen / name)) continue;
    SCOPED_TRACE(name);
    EXPECT_EQ(load_text(gen / name, builtin_dir(), builtin_dir()).text, read_file(gen / "wiki.test.raw"));
  }
  const TextData raw = load_text(gen / "wiki.test.raw", builtin_dir(), builtin_dir());
  const TextData pages = load_text(gen / "wikitext_page.parquet", builtin_dir(), builtin_dir());
  EXPECT_EQ(pages.pages, raw.pages);
  EXPECT_NE(error_of([&] { load_text(gen / "other_dataset.parquet", builtin_dir(), builtin_dir()); })
                .find("another dataset (columns: sentence (string), label (int64))"),
            std::string::npos);
}

}  // namespace
}  // namespace qlab::suite
