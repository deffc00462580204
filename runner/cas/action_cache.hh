#pragma once
// The action cache: action key -> the result of running that action once. Records are
// akbuild.v1.ActionResult messages stored atomically under <cache>/ac/<key hex>; an entry is
// written only after every blob it names is in the CAS, so a reader never sees a partial result.
// Also remembers the last manifest per step id, which `--explain` diffs against.

#include <filesystem>
#include <optional>
#include <string>

#include "akbuild/v1/cache.pb.h"
#include "runner/cas/digest.hh"

namespace akbuild::cas {

class ActionCache {
public:
  explicit ActionCache(std::filesystem::path dir) : m_dir(std::move(dir)) {}

  // The stored result, nullopt on a miss. A record that fails to parse is removed and reported
  // as ErrorCode::corrupt.
  Result<std::optional<akbuild::v1::ActionResult>> get(const Digest& key);
  Result<> put(const Digest& key, const akbuild::v1::ActionResult& result);
  Result<> remove(const Digest& key);

  // The manifest of the last run of step `step_id` (any key), for explain.
  Result<std::optional<std::string>> last_manifest(std::string_view step_id);
  Result<> set_last_manifest(std::string_view step_id, std::string_view manifest);

private:
  std::filesystem::path m_dir;
};

} // namespace akbuild::cas
