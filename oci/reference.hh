#pragma once
// Image references as docker and the OCI distribution spec write them:
//   reference := [registry "/"] repository [":" tag] ["@" digest]
//   registry  := host [":" port]     (the first component, when it has '.' or ':' or is localhost)
//   repository:= component ("/" component)*, component := [a-z0-9]+ ((_|__|.|-+)[a-z0-9]+)*
//   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
// Without a registry, docker.io (and "library/" for one-component names) is meant.

#include <compare>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::oci {

struct Reference {
  std::string registry;    // "127.0.0.1:5000", "docker.io"
  std::string repository;  // "ns/app"
  std::string tag;         // "" when only a digest is given
  std::string digest;      // "sha256:..." or ""

  // The parsed reference, or invalid_argument naming the part at fault. A missing tag is "latest"
  // unless a digest is given.
  static Result<Reference> parse(std::string_view text);

  // "registry/repository[:tag][@digest]".
  std::string to_string() const;
  // The host[:port] to connect to (registry-1.docker.io for docker.io).
  std::string api_host() const;
  // The tag, else the digest: what a manifest is PUT under.
  std::string manifest_ref() const { return tag.empty() ? digest : tag; }
  // Whether the host is a loopback address (127.0.0.0/8, ::1, localhost).
  bool is_loopback() const;

  auto operator<=>(const Reference&) const = default;
};

// host part of "host[:port]" and port ("" if none); handles "[::1]:5000".
std::pair<std::string, std::string> split_host_port(std::string_view hostport);

} // namespace akbuild::oci
