#include "oci/reference.hh"

#include <cctype>

namespace akbuild::oci {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

bool valid_component(std::string_view c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (lower_alnum(ch) || ch == '-') continue;
    if (ch == '.' || ch == '_') {
      // '.', '_' or '__' between alphanumerics.
      if (!lower_alnum(c[i - 1])) {
        if (!(ch == '_' && c[i - 1] == '_' && i >= 2 && lower_alnum(c[i - 2]))) return false;
      }
      continue;
    }
    return false;
  }
  return true;
}

bool valid_registry(std::string_view r) {
  auto [host, port] = split_host_port(r);
  if (host.empty()) return false;
  if (host.front() == '[') {
    for (char c : host.substr(1, host.size() - 2))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':')) return false;
  } else {
    for (char c : host)
      if (!alnum(c) && c != '.' && c != '-') return false;
  }
  if (r.find(':') != std::string_view::npos && host.front() != '[' && port.empty()) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return port.size() <= 5;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(alnum(t.front()) || t.front() == '_')) return false;
  for (char c : t)
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

bool valid_digest(std::string_view d) {
  auto colon = d.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view algo = d.substr(0, colon), hex = d.substr(colon + 1);
  if (algo == "sha256" && hex.size() != 64) return false;
  if (hex.size() < 32) return false;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Error bad(std::string_view text, std::string why) {
  return Error{ErrorCode::invalid_argument, "image reference '" + std::string(text) + "': " + why};
}

} // namespace

std::pair<std::string, std::string> split_host_port(std::string_view hp) {
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos) return {std::string(hp), ""};
    std::string port = close + 1 < hp.size() && hp[close + 1] == ':' ? std::string(hp.substr(close + 2)) : "";
    return {std::string(hp.substr(0, close + 1)), port};
  }
  auto colon = hp.rfind(':');
  if (colon == std::string_view::npos) return {std::string(hp), ""};
  return {std::string(hp.substr(0, colon)), std::string(hp.substr(colon + 1))};
}

Result<Reference> Reference::parse(std::string_view text) {
  if (text.empty()) return fail(bad(text, "is empty"));
  Reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!valid_digest(ref.digest)) return fail(bad(text, "digest '" + ref.digest + "' is not ALGO:HEX"));
  }
  auto slash = rest.find('/');
  std::string_view first = rest.substr(0, slash);
  if (slash != std::string_view::npos &&
      (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
       first == "localhost" || first.front() == '[')) {
    ref.registry = std::string(first);
    rest = rest.substr(slash + 1);
    if (!valid_registry(ref.registry)) return fail(bad(text, "registry '" + ref.registry + "' is not HOST[:PORT]"));
    if (auto port = split_host_port(ref.registry).second; !port.empty() && (std::stoul(port) == 0 || std::stoul(port) > 65535))
      return fail(bad(text, "port " + port + " is not between 1 and 65535"));
  } else {
    ref.registry = "docker.io";
  }
  auto last_slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!valid_tag(ref.tag)) return fail(bad(text, "tag '" + ref.tag + "' is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
  } else if (ref.digest.empty()) {
    ref.tag = "latest";
  }
  if (rest.empty()) return fail(bad(text, "has no repository"));
  std::size_t pos = 0;
  for (;;) {
    auto next = rest.find('/', pos);
    std::string_view comp = rest.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    if (!valid_component(comp))
      return fail(bad(text, "repository component '" + std::string(comp) +
                                "' must be lower-case letters and digits, separated by '.', '_', '__' or '-'"));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  ref.repository = std::string(rest);
  if (rest.size() > 255) return fail(bad(text, "repository is longer than 255 characters"));
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  return ref;
}

std::string Reference::to_string() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::api_host() const { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

bool Reference::is_loopback() const {
  auto [host, port] = split_host_port(registry);
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

} // namespace akbuild::oci
