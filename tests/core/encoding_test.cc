#include <doctest/doctest.h>

#include "runner/core/encoding.hh"

using namespace akbuild;

TEST_CASE("base64 round-trips every padding length (RFC 4648 section 10 vectors)") {
  const char* vectors[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto& v : vectors) {
    CHECK(to_base64(as_bytes(v[0])) == v[1]);
    auto back = from_base64(v[1]);
    REQUIRE(back);
    CHECK(as_chars(*back) == v[0]);
  }
}

TEST_CASE("base64 rejects malformed input") {
  CHECK_FALSE(from_base64("Zg="));
  CHECK_FALSE(from_base64("Z==="));
  CHECK_FALSE(from_base64("Zm=v"));
  CHECK_FALSE(from_base64("Zm9*"));
}

TEST_CASE("hex encodes lower case and decodes either case") {
  CHECK(to_hex(as_bytes("\x01\xab")) == "01ab");
  auto b = from_hex("01AB");
  REQUIRE(b);
  CHECK(to_hex(*b) == "01ab");
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("zz"));
}

TEST_CASE("json_escaped escapes quotes, backslashes and control characters, and keeps UTF-8") {
  CHECK(json_escaped("a\"b\\c\n\t\x01é") == "a\\\"b\\\\c\\n\\t\\u0001é");
  CHECK(json_escaped("") == "");
}
