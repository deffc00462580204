#pragma once
// The action manifest (docs/architecture.md, "A step"): canonical, sorted, human-readable lines
// naming everything that determines a step's result. The action key is the sha256 (hex) of the
// text: the lines sorted by byte order, each ended by '\n'.
//
// Line grammar (one per fact; <path> is JSON-quoted when it holds ':', '"', '\', a control
// character or leading/trailing spaces):
//   kind: <kind>
//   schema: <n>
//   param <name>: <JSON value>
//   input <path>: <sha256 hex>[ x][ mode <octal>]
//                                         (x = executable; mode = the permission bits when they
//                                         are not 0644, or 0755 with x: a layer's tar records
//                                         them and a step may copy or stat the file)
//   input <path>: -> <symlink target>
//   dep <id>: <output>=<tree digest hex> ...
//   tool <name>: <path> <sha256 hex> <version line>
//   env <K>: <V>
//   extra <kind-specific line>
//   platform: <system>
//   pin: <SRI>                            (fetch steps; their inputs, tools and env are not keyed)

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runner/cas/digest.hh"

namespace akbuild::engine {

class Manifest {
public:
  // Lines are kept in one buffer: a step over 25,000 files has as many.
  void add(std::string_view line) {
    m_lines.emplace_back(m_buffer.size(), line.size());
    m_buffer.append(line);
  }
  void reserve(std::size_t lines, std::size_t bytes) {
    m_lines.reserve(lines);
    m_buffer.reserve(bytes);
  }
  // Sorted, '\n'-terminated lines.
  std::string text() const;
  // The action key: sha256 of text().
  cas::Digest key() const;
  // The key of a manifest's text(), for callers that have it already.
  static cas::Digest key_of(std::string_view text);

private:
  std::string m_buffer;
  std::vector<std::pair<std::size_t, std::size_t>> m_lines;  // offset, size in m_buffer
};

// A path as it appears in a manifest line (quoted only when needed).
std::string manifest_path(std::string_view path);
// The same, appended to `out`.
void append_manifest_path(std::string& out, std::string_view path);

// Appends an input file's " x" and " mode <octal>" to its line (grammar above).
void append_input_mode(std::string& line, bool executable, unsigned permissions);

// A line split into its name ("input src/a.txt") and value ("5891..."); value empty when the line
// has no ": " after its name.
std::pair<std::string, std::string> split_manifest_line(std::string_view line);

} // namespace akbuild::engine
