#pragma once
// REAPI v2 over gRPC (grpc:// plain, grpcs:// TLS): ActionCache Get/UpdateActionResult,
// ContentAddressableStorage FindMissingBlobs and Batch{Read,Update}Blobs within the batch limit
// the server advertises (Capabilities; 4 MiB when it names none), google.bytestream Read/Write
// for blobs too large for a batch ({instance}/blobs/{hash}/{size},
// {instance}/uploads/{uuid}/blobs/{hash}/{size}). The URL's path is the instance name. Every
// call has a deadline; a bearer token goes in `authorization` metadata.

#include <memory>

#include "runner/remote/remote_cache.hh"

namespace akbuild::remote {

// invalid_argument naming the URL when it is not grpc[s]://host:port[/instance].
Result<std::unique_ptr<RemoteCache>> make_grpc_cache(RemoteOptions options);

} // namespace akbuild::remote
