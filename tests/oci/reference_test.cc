#include <doctest/doctest.h>

#include "oci/reference.hh"

using namespace akbuild;
using namespace akbuild::oci;

TEST_CASE("Reference::parse splits registry, repository, tag and digest") {
  auto r = Reference::parse("127.0.0.1:5000/ns/app:1.2");
  REQUIRE(r);
  CHECK(r->registry == "127.0.0.1:5000");
  CHECK(r->repository == "ns/app");
  CHECK(r->tag == "1.2");
  CHECK(r->is_loopback());
  CHECK(r->to_string() == "127.0.0.1:5000/ns/app:1.2");

  auto hub = *Reference::parse("alpine");
  CHECK(hub.registry == "docker.io");
  CHECK(hub.repository == "library/alpine");
  CHECK(hub.tag == "latest");
  CHECK(hub.api_host() == "registry-1.docker.io");
  CHECK_FALSE(hub.is_loopback());

  auto local = *Reference::parse("localhost/a_b__c.d-e/x@sha256:" + std::string(64, 'a'));
  CHECK(local.registry == "localhost");
  CHECK(local.repository == "a_b__c.d-e/x");
  CHECK(local.tag.empty());
  CHECK(local.manifest_ref() == "sha256:" + std::string(64, 'a'));
}

TEST_CASE("Reference::parse rejects invalid references naming the part") {
  struct Case {
    const char* text;
    const char* part;
  };
  for (auto c : {Case{"", "empty"}, Case{"127.0.0.1:5000/Upper:1", "Upper"}, Case{"host.io/app:-bad", "-bad"},
                 Case{"host.io/app@sha256:xyz", "digest"}, Case{"host.io/", "repository"},
                 Case{"host.io/a..b", "a..b"}, Case{"host:port/x", "registry"}}) {
    auto r = Reference::parse(c.text);
    REQUIRE_MESSAGE(!r, c.text);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK_MESSAGE(r.error().message.find(c.part) != std::string::npos, r.error().message);
  }
}
