#include "runner/workflow/yaml_check.hh"

#include <map>
#include <set>
#include <tuple>

namespace akbuild::workflow {

namespace {

class Checker {
public:
  explicit Checker(std::size_t max_nodes) : m_max(max_nodes) {}

  // The node's size with aliases expanded, saturated just above the limit.
  std::size_t size(const YAML::Node& n) {
    if (m_fault || !n.IsDefined()) return 0;
    if (!n.IsMap() && !n.IsSequence()) return 1;
    // An alias is the very node it names, with that node's mark: the mark identifies it.
    auto m = n.Mark();
    auto key = std::make_tuple(m.pos, m.line, m.column, n.IsMap());
    if (auto it = m_sizes.find(key); it != m_sizes.end()) return it->second;
    std::size_t total = 1;
    if (n.IsMap()) {
      std::set<std::string> keys;
      for (const auto& kv : n) {
        if (kv.first.IsScalar() && !keys.insert(kv.first.Scalar()).second) {
          m_fault = YamlFault{kv.first.Mark(), "key '" + kv.first.Scalar() + "' appears twice in one map"};
          return 0;
        }
        total = add(total, add(size(kv.first), size(kv.second)));
      }
    } else {
      for (const auto& item : n) total = add(total, size(item));
    }
    m_sizes.emplace(key, total);
    return total;
  }

  std::optional<YamlFault> m_fault;

private:
  std::size_t add(std::size_t a, std::size_t b) const { return std::min(a + b, m_max + 1); }

  std::size_t m_max;
  std::map<std::tuple<int, int, int, bool>, std::size_t> m_sizes;
};

} // namespace

std::optional<YamlFault> find_yaml_fault(const YAML::Node& root, std::size_t max_nodes) {
  Checker c(max_nodes);
  std::size_t total = c.size(root);
  if (c.m_fault) return c.m_fault;
  if (total > max_nodes)
    return YamlFault{root.Mark(), "its aliases expand to more than " + std::to_string(max_nodes) + " values"};
  return std::nullopt;
}

} // namespace akbuild::workflow
