#pragma once
// Faults of a YAML document that yaml-cpp accepts but a workflow must not have: a map with the
// same key twice (YAML 1.2 §3.2.1.1 requires unique keys and GitHub rejects them; yaml-cpp keeps
// both and lookups see the first), and aliases that expand to more nodes than any workflow has
// (the "billion laughs" document: a few lines whose values are exponentially large).

#include <cstddef>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

namespace akbuild::workflow {

// Nodes a document may hold once its aliases are expanded.
inline constexpr std::size_t k_max_yaml_nodes = 100'000;

struct YamlFault {
  YAML::Mark mark;
  std::string message;
};

// The first fault of `root`, or nullopt. Linear in the document's distinct nodes: an aliased
// node is checked once and its expanded size remembered.
std::optional<YamlFault> find_yaml_fault(const YAML::Node& root, std::size_t max_nodes = k_max_yaml_nodes);

} // namespace akbuild::workflow
