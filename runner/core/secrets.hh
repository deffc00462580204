#pragma once
// The secret registry: values that must never appear in output, masked as "***" wherever akbuild
// prints or stores text (diagnostics, step logs, events, JSON lines).
//
// A value is registered with the forms GitHub's runner masks too (actions/runner, SecretMasker
// and its ValueEncoders): each line of a multi-line value, and the JSON-escaped, URL-escaped
// (RFC 3986) and base64 forms, base64 at each of the three byte alignments the value can take
// inside a longer encoded text. Values and forms shorter than 4 bytes are not masked: they would
// blank ordinary text.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace akbuild {

// Registers a value (with its lines and encoded forms). Thread-safe.
void add_secret(std::string value);
// Registers each line of `text` as a value of its own (the akbuild/step action's `mask` input).
void add_secret_lines(std::string_view text);
// `text` with every registered secret, in every registered form, replaced by "***".
std::string mask_secrets(std::string_view text);
// Whether `text` holds a registered secret in any registered form.
bool contains_secret(std::string_view text);
// The values given to add_secret (not their forms), e.g. to hand to the executor daemon.
std::vector<std::string> secret_values();

// The value of an `::add-mask::VALUE` workflow command line (surrounding blanks ignored, %25,
// %0D and %0A unescaped as GitHub's runner does), or nullopt for any other line.
std::optional<std::string> parse_add_mask(std::string_view line);

// The forms of `value` that add_secret registers (exposed for tests).
std::vector<std::string> secret_forms(std::string_view value);

} // namespace akbuild
