#include "runner/workflow/env_files.hh"

namespace akbuild::workflow {

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return lines;
}

} // namespace

Result<std::vector<std::pair<std::string, std::string>>> parse_env_file(std::string_view text, std::string_view what) {
  std::vector<std::pair<std::string, std::string>> out;
  auto lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) continue;
    std::size_t eq = line.find('='), heredoc = line.find("<<");
    if (heredoc != std::string_view::npos && (eq == std::string_view::npos || heredoc < eq)) {
      std::string name(line.substr(0, heredoc));
      std::string_view delim = line.substr(heredoc + 2);
      std::string value;
      bool closed = false, first = true;
      for (++i; i < lines.size(); ++i) {
        if (lines[i] == delim) { closed = true; break; }
        if (!first) value += '\n';
        value += lines[i];
        first = false;
      }
      if (!closed || delim.empty())
        return fail(ErrorCode::invalid_argument, std::string(what) + ": '" + name + "': heredoc delimiter '" +
                                                     std::string(delim) + "' is never closed");
      out.emplace_back(std::move(name), std::move(value));
      continue;
    }
    if (eq == std::string_view::npos || eq == 0)
      return fail(ErrorCode::invalid_argument, std::string(what) + ":" + std::to_string(i + 1) +
                                                   ": expected NAME=VALUE or NAME<<DELIMITER, got '" + std::string(line) + "'");
    out.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return out;
}

std::vector<std::string> parse_path_file(std::string_view text) {
  std::vector<std::string> out;
  for (auto line : split_lines(text))
    if (line.find_first_not_of(" \t") != std::string_view::npos) out.emplace_back(line);
  return out;
}

} // namespace akbuild::workflow
