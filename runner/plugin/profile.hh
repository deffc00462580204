#pragma once
// A job environment's profile: what the runner label's `label_arg` names
// (`nix-container-builder:akbuild://<profile>`) and what `backend_options` set.
//   sandbox (also ""): bubblewrap, host /usr (and /nix) read-only, the job root writable, no
//                      capabilities, as an unprivileged uid when the daemon is root
//   host:              a plain process on the host, as the daemon's user (forgejo-runner's
//                      `host`), for whoever wants it
// Options: cpus ("2", "0.5"), memory ("512M", "4G", bytes), pids (processes at once),
// network ("on"/"off"; sandbox only). Any other key is invalid_argument naming it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::plugin {

struct Profile {
  enum class Kind { sandbox, host };
  Kind kind = Kind::sandbox;
  std::optional<double> cpus;                 // CPU time per wall second, in CPUs
  std::optional<std::uint64_t> memory_bytes;  // memory limit
  unsigned max_pids = 4096;
  bool network = true;

  // "sandbox" or "host".
  std::string_view name() const;
};

// The profile `label_arg` names, limited by `options`; invalid_argument naming an unknown
// profile, an unknown option or a malformed value.
Result<Profile> parse_profile(std::string_view label_arg, const std::map<std::string, std::string>& options);

} // namespace akbuild::plugin
