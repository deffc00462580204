#pragma once
// The HTTP cache protocol (Bazel's --remote_cache=http://...): GET and PUT of /ac/<hex> (a
// serialized ActionResult under the Action's digest) and /cas/<hex> (blobs), HEAD /cas/<hex> to
// ask whether a blob is there; 404 is a miss. A path in the URL prefixes every key (the
// instance). HTTP/1.1 with keep-alive, several connections at once; Boost.Beast stays in the .cc.

#include <memory>

#include "runner/remote/remote_cache.hh"

namespace akbuild::remote {

// invalid_argument naming the URL when it is not http(s)://host[:port][/prefix].
Result<std::unique_ptr<RemoteCache>> make_http_cache(RemoteOptions options);

} // namespace akbuild::remote
