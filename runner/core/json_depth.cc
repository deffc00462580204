#include "runner/core/json_depth.hh"

#include <string>

namespace akbuild {

std::size_t json_nesting_depth(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Result<> check_json_depth(std::string_view text, std::string_view what) {
  if (json_nesting_depth(text) > k_max_json_depth)
    return fail(ErrorCode::invalid_argument,
                std::string(what) + ": JSON nested deeper than " + std::to_string(k_max_json_depth) + " levels");
  return ok();
}

} // namespace akbuild
