#include <doctest/doctest.h>

#include "runner/cas/sealed_record.hh"

using namespace akbuild;
using namespace akbuild::cas;

TEST_CASE("seal_record round-trips any payload, empty and binary included") {
  for (std::string payload : {std::string(), std::string("a\nb"), std::string("\0\xff\n", 3)}) {
    auto sealed = seal_record("action", payload);
    auto back = unseal_record("action", sealed);
    REQUIRE(back);
    CHECK(*back == payload);
  }
  CHECK(seal_record("layer", "x").starts_with("akbuild-record layer 1 "));
}

TEST_CASE("unseal_record names what is wrong with a record") {
  std::string sealed = seal_record("action", "payload bytes");
  std::string bytes, fault;
  SUBCASE("empty") {
    bytes = "";
    fault = "action record: empty";
  }
  SUBCASE("no header") {
    bytes = "payload bytes";
    fault = "action record: no akbuild-record header";
  }
  SUBCASE("another kind") {
    bytes = seal_record("layer", "payload bytes");
    fault = "action record: header names another kind";
  }
  SUBCASE("truncated") {
    bytes = sealed.substr(0, sealed.size() - 1);
    fault = "action record: holds 12 bytes, header says 13 (truncated?)";
  }
  SUBCASE("a byte appended") {
    bytes = sealed + "x";
    fault = "action record: holds 14 bytes, header says 13 (truncated?)";
  }
  SUBCASE("a bit flipped") {
    bytes = sealed;
    bytes.back() = static_cast<char>(bytes.back() ^ 0x20);
    fault = "action record: checksum does not match its content";
  }
  SUBCASE("a mangled checksum") {
    bytes = sealed;
    bytes[bytes.find('\n') - 1] = 'z';
    fault = "action record: bad checksum in header";
  }
  auto r = unseal_record("action", bytes);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK(r.error().message == fault);
}
