// Layer tars, plain or compressed (oci/layout.hh check_layer_entries): every entry header of a
// base image's layer is read before the layer is reused.
#include "fuzz/fuzz_support.hh"
#include "oci/layout.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto blob = fuzz::write_scratch("layer", fuzz::text(data, size));
  (void)oci::check_layer_entries(blob, "layer");
  return 0;
}
