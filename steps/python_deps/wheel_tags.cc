#include "steps/python_deps/wheel_tags.hh"

#include <charconv>

#include <fmt/format.h>

namespace akbuild::steps::python {
namespace {

std::pair<int, int> major_minor(std::string_view version) {
  int major = 0, minor = 0;
  auto dot = version.find('.');
  std::from_chars(version.data(), version.data() + (dot == std::string_view::npos ? version.size() : dot), major);
  if (dot != std::string_view::npos) {
    auto rest = version.substr(dot + 1);
    std::from_chars(rest.data(), rest.data() + rest.size(), minor);
  }
  return {major, minor};
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

// Platform tags best first: the newest manylinux/musllinux level down to the oldest, legacy
// aliases (manylinux2014 = 2_17, manylinux2010 = 2_12, manylinux1 = 2_5) beside their level,
// then the bare linux tag.
std::vector<std::string> platform_tags(const Target& t) {
  std::vector<std::string> out;
  if (t.platform == "linux") {
    auto [major, minor] = major_minor(t.libc_version);
    if (t.libc == "musl") {
      for (int m = minor; m >= 0; --m) out.push_back(fmt::format("musllinux_{}_{}_{}", major, m, t.arch));
    } else {
      for (int m = minor; m >= 0; --m) {
        if (major == 2 && m < 5) break;  // manylinux starts at glibc 2.5
        out.push_back(fmt::format("manylinux_{}_{}_{}", major, m, t.arch));
        if (major == 2 && m == 17) out.push_back("manylinux2014_" + t.arch);
        if (major == 2 && m == 12) out.push_back("manylinux2010_" + t.arch);
        if (major == 2 && m == 5) out.push_back("manylinux1_" + t.arch);
      }
    }
    out.push_back("linux_" + t.arch);
  } else if (t.platform == "darwin") {
    for (int v = 15; v >= 11; --v) out.push_back(fmt::format("macosx_{}_0_{}", v, t.arch == "aarch64" ? "arm64" : t.arch));
    out.push_back(fmt::format("macosx_{}_0_universal2", 11));
  } else if (t.platform == "windows") {
    out.push_back(t.arch == "x86_64" ? "win_amd64" : "win_" + t.arch);
  }
  return out;
}

} // namespace

Result<> Target::validate() const {
  auto [major, minor] = major_minor(python_version);
  if (major != 3 || python_version.find('.') == std::string::npos)
    return fail(ErrorCode::invalid_argument, fmt::format("python-version: '{}' is not a Python 3 version like 3.14", python_version));
  (void)minor;
  if (implementation != "cpython" && implementation != "pypy")
    return fail(ErrorCode::invalid_argument, fmt::format("implementation: '{}' is not cpython or pypy", implementation));
  if (platform != "linux" && platform != "darwin" && platform != "windows")
    return fail(ErrorCode::invalid_argument, fmt::format("platform: '{}' is not linux, darwin or windows", platform));
  if (libc != "glibc" && libc != "musl")
    return fail(ErrorCode::invalid_argument, fmt::format("libc: '{}' is not glibc or musl", libc));
  if (arch.empty() || arch.find_first_of("-. /") != std::string::npos)
    return fail(ErrorCode::invalid_argument, fmt::format("arch: '{}' is not a machine name like x86_64", arch));
  return ok();
}

MarkerEnv Target::marker_env() const {
  auto [major, minor] = major_minor(python_version);
  std::string full = python_version;
  if (std::count(full.begin(), full.end(), '.') == 1) full += ".0";
  MarkerEnv env;
  env.values["python_version"] = fmt::format("{}.{}", major, minor);
  env.values["python_full_version"] = full;
  env.values["implementation_name"] = implementation;
  env.values["implementation_version"] = full;
  env.values["platform_python_implementation"] = implementation == "pypy" ? "PyPy" : "CPython";
  env.values["sys_platform"] = platform == "windows" ? "win32" : platform;
  env.values["platform_system"] = platform == "windows" ? "Windows" : platform == "darwin" ? "Darwin" : "Linux";
  env.values["os_name"] = platform == "windows" ? "nt" : "posix";
  env.values["platform_machine"] = platform == "darwin" && arch == "aarch64" ? "arm64" : arch;
  env.values["platform_release"] = "";
  env.values["platform_version"] = "";
  return env;
}

std::vector<std::string> Target::supported_tags() const {
  auto [major, minor] = major_minor(python_version);
  auto plats = platform_tags(*this);
  std::vector<std::string> out;
  auto add = [&](const std::string& py, const std::string& abi) {
    for (const auto& p : plats) out.push_back(py + "-" + abi + "-" + p);
  };
  std::string interp = implementation == "pypy" ? fmt::format("pp{}{}", major, minor) : fmt::format("cp{}{}", major, minor);
  if (implementation == "cpython") {
    add(interp, interp);
    add(interp, "abi3");
    add(interp, "none");
    for (int m = minor - 1; m >= 2; --m) add(fmt::format("cp{}{}", major, m), "abi3");
  } else {
    add(interp, fmt::format("pypy{}{}_pp73", major, minor));
    add(interp, "none");
  }
  add(fmt::format("py{}{}", major, minor), "none");
  add(fmt::format("py{}", major), "none");
  for (int m = minor - 1; m >= 0; --m) add(fmt::format("py{}{}", major, m), "none");
  out.push_back(interp + "-none-any");
  out.push_back(fmt::format("py{}{}-none-any", major, minor));
  out.push_back(fmt::format("py{}-none-any", major));
  for (int m = minor - 1; m >= 0; --m) out.push_back(fmt::format("py{}{}-none-any", major, m));
  return out;
}

std::string Target::describe() const {
  auto [major, minor] = major_minor(python_version);
  auto plats = platform_tags(*this);
  return fmt::format("{}{}{}-{}", implementation == "pypy" ? "pp" : "cp", major, minor,
                     plats.empty() ? std::string("any") : plats.front());
}

Result<WheelName> WheelName::parse(std::string_view filename) {
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::invalid_argument, fmt::format("wheel '{}': {}", filename, why));
  };
  if (filename.size() < 5 || filename.substr(filename.size() - 4) != ".whl") return bad("not a .whl file name");
  auto parts = split(filename.substr(0, filename.size() - 4), '-');
  if (parts.size() != 5 && parts.size() != 6) return bad("expected NAME-VERSION[-BUILD]-PY-ABI-PLATFORM.whl");
  WheelName w;
  w.name = parts[0];
  w.version = parts[1];
  const auto& py = parts[parts.size() - 3];
  const auto& abi = parts[parts.size() - 2];
  const auto& plat = parts[parts.size() - 1];
  for (const auto& p : split(py, '.'))
    for (const auto& a : split(abi, '.'))
      for (const auto& pl : split(plat, '.')) w.tags.push_back(p + "-" + a + "-" + pl);
  return w;
}

TagRanker::TagRanker(const Target& target) {
  auto tags = target.supported_tags();
  for (std::size_t i = 0; i < tags.size(); ++i) m_rank.emplace(tags[i], i);
}

std::optional<std::size_t> TagRanker::rank(const WheelName& wheel) const {
  std::optional<std::size_t> best;
  for (const auto& tag : wheel.tags) {
    auto it = m_rank.find(tag);
    if (it != m_rank.end() && (!best || it->second < *best)) best = it->second;
  }
  return best;
}

} // namespace akbuild::steps::python
