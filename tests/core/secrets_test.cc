#include <doctest/doctest.h>

#include <string>

#include "runner/core/encoding.hh"
#include "runner/core/log.hh"

using namespace akbuild;

// The registry is process-wide: each case registers values of its own.

TEST_CASE("mask_secrets masks each line of a multi-line secret, as GitHub's runner does") {
  add_secret("first-line-AAA\nsecond-line-BBB\r\nthird-CCC");
  CHECK(mask_secrets("x second-line-BBB y") == "x *** y");
  CHECK(mask_secrets("first-line-AAA") == "***");
  CHECK(mask_secrets("third-CCC.") == "***.");
  CHECK(mask_secrets("first-line-AAA\nsecond-line-BBB\r\nthird-CCC") == "***");
}

TEST_CASE("mask_secrets masks a secret with quotes and backslashes in its JSON-escaped form") {
  add_secret("pa\"ss\\wo\trd");
  CHECK(mask_secrets(R"({"text":"pa\"ss\\wo\trd"})") == R"({"text":"***"})");
  add_secret("line-one-x\nline-two-y");
  CHECK(mask_secrets(R"({"text":"line-one-x\nline-two-y"})") == R"({"text":"***"})");
}

TEST_CASE("mask_secrets masks the URL-escaped form") {
  add_secret("p@ss w/rd&é");
  CHECK(mask_secrets("https://h/?t=p%40ss%20w%2Frd%26%C3%A9&x=1") == "https://h/?t=***&x=1");
}

TEST_CASE("mask_secrets masks base64 at every alignment in a longer encoded text") {
  std::string secret = "s3cr3t-v4lue-ünï";
  add_secret(secret);
  for (std::string prefix : {"", "a", "ab", "user:", "Basic-x"}) {
    CAPTURE(prefix);
    auto encoded = to_base64(as_bytes(prefix + secret + "!tail"));
    auto masked = mask_secrets(encoded);
    CHECK(masked.find("***") != std::string::npos);
    // What is left around the mask does not decode back to the secret's bytes.
    CHECK(masked.size() < encoded.size());
  }
}

TEST_CASE("mask_secrets masks non-ASCII secrets byte for byte") {
  add_secret("пароль-密码");
  CHECK(mask_secrets("key=пароль-密码;") == "key=***;");
  CHECK(contains_secret("x пароль-密码"));
  CHECK_FALSE(contains_secret("пароль"));
}

TEST_CASE("secret_values returns the registered values, not their forms") {
  add_secret("value-for-listing");
  auto values = secret_values();
  CHECK(std::find(values.begin(), values.end(), "value-for-listing") != values.end());
  CHECK(std::find(values.begin(), values.end(), to_base64(as_bytes("value-for-listing"))) == values.end());
}

TEST_CASE("add_secret_lines registers each line as a value of its own, with its encoded forms") {
  add_secret_lines("first-line-mask\n\nsecond-line-mask\n");
  auto values = secret_values();
  CHECK(std::find(values.begin(), values.end(), "first-line-mask") != values.end());
  CHECK(std::find(values.begin(), values.end(), "second-line-mask") != values.end());
  CHECK(std::find(values.begin(), values.end(), "first-line-mask\n\nsecond-line-mask\n") == values.end());
  CHECK(contains_secret("a " + to_base64(as_bytes("second-line-mask")) + " b"));
  CHECK(mask_secrets("x second-line-mask y") == "x *** y");
}

TEST_CASE("parse_add_mask reads the value of an ::add-mask:: line, unescaped") {
  CHECK(parse_add_mask("::add-mask::abc%25def%0Aghi") == std::optional<std::string>("abc%def\nghi"));
  CHECK(parse_add_mask("  ::add-mask::token-1 \r") == std::optional<std::string>("token-1"));
  CHECK_FALSE(parse_add_mask("echo ::add-mask::x"));
  CHECK_FALSE(parse_add_mask("::set-output name=a::b"));
}
