#pragma once
// Deterministic protobuf encoding for cache records: the same message always gives the same
// bytes (map entries sorted), so records and trees can be named by their digest.

#include <string>

#include <google/protobuf/message_lite.h>

namespace akbuild::cas {

std::string serialize_deterministic(const google::protobuf::MessageLite& message);

} // namespace akbuild::cas
