// The byte-exact vectors of shared/reference/gguf.md section 7, generated there by ggml's own
// reference quantizers (x86-64, no imatrix): a 32-element legacy vector and a 256-element vector
// from an integer LCG. Every type's bytes must match, and its dequantized values must match the
// first values listed there.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/gguf/quantize.h"

namespace {

using qlab::gguf::GgmlType;

std::vector<std::byte> hex(std::string s) {
  std::erase_if(s, [](char c) { return c == ' ' || c == '\n'; });
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<std::byte>(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<float> legacy_vector() {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) * 0.25f;
  return x;
}

std::vector<float> lcg_vector() {
  std::vector<float> x(256);
  std::uint32_t s = 12345;
  for (int i = 0; i < 256; ++i) {
    s = s * 1103515245u + 12345u;
    const int v = static_cast<int>((s >> 8) % 2001) - 1000;
    x[i] = (static_cast<float>(v) / 1000.0f) * (1.0f + static_cast<float>((i / 32) % 4));
  }
  x[5] = 7.5f;
  return x;
}

void expect_bytes(GgmlType t, const std::vector<float>& x, const std::string& want_hex) {
  SCOPED_TRACE(std::string(qlab::gguf::type_name(t)));
  const auto got = qlab::gguf::quantize_tensor(t, x.data(), 1, static_cast<std::int64_t>(x.size()));
  EXPECT_EQ(got, hex(want_hex));
}

TEST(ReferenceVectors, InputGeneratorMatchesTheDocument) {
  const auto x = lcg_vector();
  const std::uint32_t first[8] = {0x3f000000, 0xbf651eb8, 0x3f1126e9, 0x3e439581, 0x3f174bc7, 0x40f00000, 0x3f4b4396, 0xbf3ae148};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(std::bit_cast<std::uint32_t>(x[i]), first[i]) << i;
  std::uint32_t sum = 0;
  for (float v : x) sum += std::bit_cast<std::uint32_t>(v);
  EXPECT_EQ(sum, 0x5293957fu);
}

TEST(ReferenceVectors, Legacy32) {
  const auto x = legacy_vector();
  expect_bytes(GgmlType::Q4_0, x, "0038 809191a2a2b3b3c4c4d5d5e6e6f7f7f8");
  expect_bytes(GgmlType::Q4_1, x, "2238 00c4 80809191a2a2b3b3c4c4d5d5e6e6f7f7");
  expect_bytes(GgmlType::Q5_0, x, "0034 0000ffff 00112233445566778899aabbccddeeff");
  expect_bytes(GgmlType::Q5_1, x, "0034 00c4 0000ffff 00112233445566778899aabbccddeeff");
  expect_bytes(GgmlType::Q8_0, x, "0828 81899199a1a9b1b9c0c8d0d8e0e8f0f8 000810182028303840474f575f676f77");
}

TEST(ReferenceVectors, SuperBlock256) {
  const auto x = lcg_vector();
  expect_bytes(GgmlType::Q4_0, x, R"(80bb87898788977077898987797888778879cbb3c45f03ce4a13d0715af2c487
    7d7a5ff282b52ce798a0b31ea23c7cde52b8faf6dcfaacb760b0eb4c4507893f
    83fac1dadffd45b166afb8b7bfd9519fd06318a1f0aa9d52da79c733614f83e8
    6d780fdf6c129467e7ba6f7cb8b552e51c389e6effd898769f9f53320a1cac37
    ffbfd66140bee05dace83c39cf873be2)");
  expect_bytes(GgmlType::Q4_1, x, R"(8838fabb13202312133f331020233031223331302734c9bf4cb0fc32b6ec3f8e
    b61d4b788396a11dac3520c1d318675f5ce26dc39321ad48160a24150a387bc3
    9f5f24b4caf877c07c153e252013cb4ee42f64bb48495136ae703face75e1f66
    73ad35860534c7bf614e73e86d770edf6c129457e7aa5f7be33552c1ae2ae3c7
    7191003767897061accdf5e30438acc3ffaec56140bdd04cacd73c39ce772ad2)");
  expect_bytes(GgmlType::Q5_0, x, R"(80b78add9f111f020f001ff0fe1202fee2f100fff0f2cbaf1a71498e879f069d
    832790f3a4d5780efad3bee582b1a5d35efa58cd3040562b3568d9bca46fd3fb
    a8e5acb3cc3a46bfd051c7887a1f117f06d492b4bfe9797266ab2cd96f5e6f7e
    6f93a21fa0b62143d0432ab595f2c72fdae18834b28ef5c0caef0dafd82529be
    df54bef7b8b1fccdd20da3ba19611ccdfea021dc1f3db6650418ac33a35d67b3
    ff6d9bd1807cc19949cf68738e0f56c3)");
  expect_bytes(GgmlType::Q5_1, x, R"(6334fabb2000000035304634266f672140567062446653510530c9bfe58eb671
    8860f9737cd86f1c6c3b97f1152c522a7d3120c15a2ca105a731cfbfa9d4ca97
    26435b902c04571ad2337bc333c5b9403fae498885e1fe90f92b7d5b5026869d
    a22b64bbd32690a19092916d5de05f4aefbc3fcde65a7b1dc92fc7bfdae18834
    b28ef5c0caef0dafd82529bedf54bef7b33152c103322df25c35e69ee332015f
    de23e0c2499afbe7c533acc3a35d6793ff5d9bd1807cc19948bf58738dff56b3)");
  expect_bytes(GgmlType::Q8_0, x, R"(8f2b08f10a030a7f0df4ef0cf0f9000bfdf3fcff03fdf70c0afb0105100a010c
    0808da2346814f9be7487f69e15b3f0eade59459c3357fb93d6fb50b3396c8fe
    0b1729938d25bf14037f52a758bfbca15f05e827c4d958a2ebe2d771e84e16a9
    32d0978ab294bb277f7bccc42c0bf7844de06cdf85b7346f1bd6a443467afa4b
    ff97b9acad9146ca751f08128aea6d817f53fa6a7de8b45adbedcdcacfb52ef7
    ae2673de98e1f429b80ad623906dacff50f969773ea7c8f0f6237039dcc2fc60
    e0f38151e78e11d96528d9f6c3256733bbf9a19991fef9218d974f5adec033a5
    734cf5248ab3ee14f7eb28527f76bb277a68da8a815f854b46f941176df62f9b
    7a2e4ae6c1365fc9235eadb641fdaa5d)");
  expect_bytes(GgmlType::Q2_K, x, R"(4f1265767798fdbc43336676a899ec99cde05d70b58f7d0c844dfc58106580dc
    b4491d9498fe56b86901271a090a8a02f2ee50250bc40fefaa638785f57b9d1a
    e585f56c16a5c00e97e11815ad6a34f50b32fb33)");
  expect_bytes(GgmlType::Q3_K, x, R"(f5c33d7b03bc09cdd7eda1bfffcb9715175938b3c1345ae74d1afeda3ba8903a
    283c888cd43810e4a5745940d8b4ac54f958f3b9ba3139b118dfa8e2c0cd9e8e
    fce3ef0115c30481881d8845f23d71692efa826e8fb073afdc71c79dbc17ce40
    c0cc8788b54b1f0f9459d1617e2b)");
  expect_bytes(GgmlType::Q4_K, x, R"(9120cc2b3f5dabf710a0aafced0cb9f9c300c32263cff3e060d3b081326311d0
    41b2f231b1e33381b21243738293a313f3f8474eab827c03c351ec570539b3e4
    9c5125c5c4fd75cb78123a242110c24118e93086de70effdc72e4f7673adf5b6
    644484e36a7702da6f159155e7aa5378fdea531701d100c7c779b091ec7da523
    faa2ce6c46b9d042a6d83736ba7c2fde)");
  expect_bytes(GgmlType::Q5_K, x, R"(711cd72b3f5da8f810a0aafdfe0cb9f8dafc02243c8b36b2a8529e86c074a82a
    cc82e2681ace803e96c02400e2724ad085009634c68ff6c1c0b6701264c623a1
    8363f47372d66612643597f614265525f7f19f8f5914ea0796b3dbb00c6467da
    3aa34c8b8afdfc99f22475595220859120e1610dacf0def98e5c9eecf65aeb7d
    c98909c6c5fe05a4dd2b23bbde54b7f0fcd5b61e03c2119f9ef38032d9fa6a37
    f5639dd88d73c0954dc16e7c84f95fbe)");
  expect_bytes(GgmlType::Q6_K, x, R"(0eb4fe0fce61ad03148d84f2606df1a37972aa8652e9ab5b6e96d13d4e09b130
    0f1fddf956de21f6d88a518df4273b4a9fb381e1e10522cd03ca2e616ddae6eb
    ceecdde5664f11fce1970236629a69e54e6f4ed53372d73640b92c5963c5143d
    ed9476301b72252110e70f64b3e7c3711741df78082d81e47a845436091a668e
    311e918d497081f23ab10696eed96e227a86d11e17309c36a5cde8d8c5c4058d
    fde14f1a00cb00d0d66cc88afb7492061676068fe55633bd6412ebe65e89c705
    80f0dfdfd22bc0c3f0f2e1212bcf41c1be17)");
  expect_bytes(GgmlType::MXFP4, x, R"(7f910a0100911712990a112a190011101a7de65f76ef6b76e7175cf7d6021f3b
    5ff77e6de2a0b7c66ea65d2dee46c0eaf3ddeb7e37d7fd6e6571996f06fce7fc
    fffe65d77cd1d2dfeb579fe74679c7f7cb9e47ec1a7dcfe79f70c6a9f767b6ff
    2dca7944c7957e46e47d599e3effd0a9239fae46667b7d7e77576cbfef577fd6
    4679f6e36709f57f)");
}

// First dequantized values as the document lists them (printed by ggml with %g, so compared to
// a relative 1e-6).
TEST(ReferenceVectors, DequantizedFirstValues) {
  const auto x = lcg_vector();
  struct Case {
    GgmlType t;
    std::vector<float> first;
  } cases[] = {
      {GgmlType::Q4_0, {0.9375f, -0.9375f, 0.9375f, -0.0f, 0.9375f, 7.5f, 0.9375f, -0.9375f}},
      {GgmlType::Q4_1, {0.702148438f, -0.997070312f, 0.702148438f, 0.135742188f}},
      {GgmlType::Q5_0, {0.46875f, -0.9375f, 0.46875f, -0.0f, 0.46875f, 7.5f, 0.9375f, -0.9375f}},
      {GgmlType::Q5_1, {0.373779297f, -0.997070312f, 0.647949219f, 0.099609375f}},
      {GgmlType::Q8_0, {0.472412109f, -0.885772705f, 0.590515137f, 0.177154541f}},
      {GgmlType::Q2_K, {1.83508301f, -0.997558594f, 1.83508301f, -0.997558594f, 1.83508301f, 7.50036621f}},
      {GgmlType::Q3_K, {-0.0f, -0.0f, -0.0f, -0.0f, -0.0f, 7.4921875f, -0.0f, -0.0f}},
      {GgmlType::Q4_K, {0.711036682f, -0.974609375f, 0.711036682f, 0.149154663f, 0.711036682f, 7.45362091f}},
      {GgmlType::Q5_K, {0.38627243f, -0.979980469f, 0.65952301f, 0.113021851f, 0.65952301f, 7.49078751f}},
      {GgmlType::Q6_K, {0.483886719f, -0.967773438f, 0.483886719f, 0.241943359f, 0.483886719f, 7.50024414f}},
      {GgmlType::MXFP4, {0.5f, -1.0f, 0.5f, 0.0f, 0.5f, 6.0f, 1.0f, -0.5f}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(qlab::gguf::type_name(c.t)));
    const auto q = qlab::gguf::quantize_tensor(c.t, x.data(), 1, 256);
    std::vector<float> y(256);
    qlab::gguf::dequantize_rows(c.t, q, 256, y);
    for (std::size_t i = 0; i < c.first.size(); ++i) EXPECT_NEAR(y[i], c.first[i], 1e-6 * std::abs(c.first[i]) + 1e-12) << i;
  }
}

}  // namespace
