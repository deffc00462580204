#pragma once
// Sealed records: the small files the cache dir keeps beside its blobs (action results, layer
// records) open with a header naming their kind, the payload's length and its sha256, so an
// empty, truncated, edited or bit-flipped file is told apart from a valid one before anything
// in it is used. A shared cache dir is written by several processes, some killed half-way.
//
//   record = "akbuild-record " kind " " length " " sha256-hex "\n" payload
//
// Usage: write_file_atomic(p, seal_record("action", bytes));
//        auto payload = AK_TRY(unseal_record("action", AK_TRY(read_file(p))));

#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::cas {

// The sealed form of `payload`.
std::string seal_record(std::string_view kind, std::string_view payload);

// The payload of a sealed record of `kind`; ErrorCode::corrupt saying what is wrong (not a
// record, another kind, a length or checksum that does not match).
Result<std::string_view> unseal_record(std::string_view kind, std::string_view bytes);

} // namespace akbuild::cas
