#include <doctest/doctest.h>

#include "nixdrv/hash.hh"
#include "runner/core/encoding.hh"

using namespace akbuild;
using namespace akbuild::nixdrv;

// Vectors from nix.md §1 (reproduced with nix-hash 2.8).
TEST_CASE("nix32 encodes sha256 of 'abc' and '' like Nix") {
  CHECK(Hash::of(HashAlgo::sha256, "abc").to_string(HashFormat::nix32) ==
        "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s");
  CHECK(Hash::of(HashAlgo::sha256, "").to_string(HashFormat::nix32) ==
        "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
  CHECK(nix32_length(20) == 32);
  CHECK(nix32_length(64) == 103);
}

TEST_CASE("nix32 decoding inverts encoding for every algorithm and rejects bad text") {
  for (auto algo : {HashAlgo::md5, HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha512}) {
    auto h = Hash::of(algo, "round trip");
    auto text = h.to_string(HashFormat::nix32);
    auto back = nix32_decode(text, digest_size(algo));
    REQUIRE(back);
    CHECK(*back == std::vector<std::byte>(h.bytes().begin(), h.bytes().end()));
  }
  CHECK_FALSE(nix32_decode("1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5e", 32));  // 'e' not in alphabet
  CHECK_FALSE(nix32_decode("abc", 32));
  // The first character carries the top bits; 'z' (31) overflows 32 bytes.
  CHECK_FALSE(nix32_decode("z" + std::string(51, '0'), 32));
}

TEST_CASE("Hash parses SRI, prefixed and typed bare spellings of one digest") {
  const std::string hex = "5dbf0585af131a7a2126e257e89325ea6c2d2b627325d07220795355bd9a1cae";
  const std::string n32 = "1bhwkaymalvr41rd09bkc8mjsv7a4n9yhmz24qhpl6hkmy2hbgsx";
  const std::string sri = "sha256-Xb8Fha8TGnohJuJX6JMl6mwtK2JzJdByIHlTVb2aHK4=";
  auto a = Hash::parse(sri);
  REQUIRE(a);
  CHECK(a->to_string(HashFormat::base16) == hex);
  CHECK(a->to_string(HashFormat::nix32) == n32);
  CHECK(a->to_sri() == sri);
  CHECK(*Hash::parse("sha256:" + n32) == *a);
  CHECK(*Hash::parse("sha256:" + hex) == *a);
  CHECK(*Hash::parse("sha256:Xb8Fha8TGnohJuJX6JMl6mwtK2JzJdByIHlTVb2aHK4=") == *a);
  CHECK(*Hash::parse(n32, HashAlgo::sha256) == *a);
  CHECK(a->to_prefixed(HashFormat::nix32) == "sha256:" + n32);
  auto md5 = Hash::parse("md5:" + std::string(26, '0'));
  REQUIRE(md5);
  CHECK(md5->algo() == HashAlgo::md5);
  auto sha512 = Hash::of(HashAlgo::sha512, "x");
  CHECK(*Hash::parse(sha512.to_sri()) == sha512);
  CHECK(*Hash::parse("sha512:" + sha512.to_string(HashFormat::nix32)) == sha512);
}

TEST_CASE("Hash rejects malformed hashes with a message naming the fault") {
  auto check = [](const std::string& text, const std::string& fragment) {
    auto h = Hash::parse(text);
    REQUIRE_FALSE(h);
    CHECK(h.error().code == ErrorCode::invalid_argument);
    INFO(h.error().message);
    CHECK(h.error().message.find(fragment) != std::string::npos);
  };
  check("sha256-abc", "wrong length 3");
  check("sha3:abcd", "unknown algorithm 'sha3'");
  check("sha256:" + std::string(52, 'e'), "bad character");
  check(std::string(64, 'a'), "does not include a type");
  check("sha256-" + std::string(43, '!') + "=", "bad character");
  check("", "empty");
  CHECK_FALSE(Hash::parse("sha1:" + std::string(64, 'a')));
  CHECK_FALSE(Hash::parse("sha256:1bhwkaymalvr41rd09bkc8mjsv7a4n9yhmz24qhpl6hkmy2hbgsx", HashAlgo::sha1));
  CHECK_FALSE(Hash::parse_sri("sha256:1bhwkaymalvr41rd09bkc8mjsv7a4n9yhmz24qhpl6hkmy2hbgsx"));
}

TEST_CASE("compress_hash XOR-folds rather than truncates") {
  auto h = *Hash::parse("sha256:5dbf0585af131a7a2126e257e89325ea6c2d2b627325d07220795355bd9a1cae");
  // nix-hash --type sha256 --truncate --base32 t1 (nix.md §1).
  CHECK(nix32_encode(compress_hash(h.bytes(), 20)) == "c8mjsv7a4n9yiygypjf2yjbaizvxb6if");
}
