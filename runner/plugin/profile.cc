#include "runner/plugin/profile.hh"

#include <charconv>
#include <cmath>

#include <fmt/core.h>

namespace akbuild::plugin {

namespace {

Error bad_option(std::string_view key, std::string_view value, std::string_view want) {
  return Error{ErrorCode::invalid_argument,
               fmt::format("backend option {}={}: {}", key, value, want)};
}

Result<std::uint64_t> parse_count(std::string_view key, std::string_view value) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n == 0)
    return fail(bad_option(key, value, "not a positive whole number"));
  return n;
}

// "512M", "4G", "1024k", plain bytes; binary units as docker and cgroups read them.
Result<std::uint64_t> parse_bytes(std::string_view key, std::string_view value) {
  std::string_view digits = value;
  std::uint64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
    case 'k': case 'K': unit = 1ull << 10; break;
    case 'm': case 'M': unit = 1ull << 20; break;
    case 'g': case 'G': unit = 1ull << 30; break;
    case 't': case 'T': unit = 1ull << 40; break;
    default: break;
    }
    if (unit != 1) digits.remove_suffix(1);
  }
  auto n = parse_count(key, digits);
  if (!n || *n > (UINT64_MAX >> 1) / unit) return fail(bad_option(key, value, "not a size such as 512M or 4G"));
  return *n * unit;
}

Result<double> parse_cpus(std::string_view key, std::string_view value) {
  double cpus = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), cpus);
  if (ec != std::errc() || end != value.data() + value.size() || !(cpus >= 0.01) || !std::isfinite(cpus) ||
      cpus > 4096)
    return fail(bad_option(key, value, "not a number of CPUs such as 2 or 0.5"));
  return cpus;
}

Result<bool> parse_switch(std::string_view key, std::string_view value) {
  for (auto on : {"on", "true", "yes", "1"})
    if (value == on) return true;
  for (auto off : {"off", "false", "no", "0"})
    if (value == off) return false;
  return fail(bad_option(key, value, "not on or off"));
}

} // namespace

std::string_view Profile::name() const { return kind == Kind::host ? "host" : "sandbox"; }

Result<Profile> parse_profile(std::string_view label_arg, const std::map<std::string, std::string>& options) {
  Profile profile;
  if (label_arg == "host") profile.kind = Profile::Kind::host;
  else if (!label_arg.empty() && label_arg != "sandbox")
    return fail(ErrorCode::invalid_argument,
                fmt::format("label_arg {}: no such profile (akbuild://sandbox or akbuild://host)", label_arg));
  for (const auto& [key, value] : options) {
    if (key == "cpus") profile.cpus = AK_TRY(parse_cpus(key, value));
    else if (key == "memory") profile.memory_bytes = AK_TRY(parse_bytes(key, value));
    else if (key == "pids") {
      auto n = AK_TRY(parse_count(key, value));
      if (n > 4'194'304) return fail(bad_option(key, value, "more processes than Linux allows"));
      profile.max_pids = static_cast<unsigned>(n);
    } else if (key == "network") {
      profile.network = AK_TRY(parse_switch(key, value));
      if (!profile.network && profile.kind == Profile::Kind::host)
        return fail(bad_option(key, value, "the host profile shares the host's network"));
    } else {
      return fail(ErrorCode::invalid_argument,
                  fmt::format("backend option {}: unknown (known: cpus, memory, pids, network)", key));
    }
  }
  return profile;
}

} // namespace akbuild::plugin
