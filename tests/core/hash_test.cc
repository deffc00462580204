#include <doctest/doctest.h>

#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"

using namespace akbuild;

TEST_CASE("Hasher matches FIPS 180 and RFC 1321 vectors for 'abc'") {
  auto hex = [](HashAlgo a) {
    Hasher h(a);
    h.update("ab");
    h.update("c");
    return to_hex(h.finish());
  };
  CHECK(hex(HashAlgo::md5) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex(HashAlgo::sha1) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(HashAlgo::sha256) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(HashAlgo::sha512).substr(0, 32) == "ddaf35a193617abacc417349ae204131");
}

TEST_CASE("Hasher resets after finish") {
  Hasher h(HashAlgo::sha256);
  h.update("abc");
  auto first = h.finish();
  h.update("abc");
  CHECK(h.finish() == first);
  CHECK(to_hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("hash algorithm names parse and print") {
  CHECK(parse_hash_algo("sha512") == HashAlgo::sha512);
  CHECK_FALSE(parse_hash_algo("sha3"));
  CHECK(to_string(HashAlgo::sha1) == "sha1");
  CHECK(digest_size(HashAlgo::md5) == 16);
}
