// Image references (oci/reference.hh): what --to, --from and base images name.
#include "fuzz/fuzz_support.hh"
#include "oci/reference.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::text(data, size);
  if (auto ref = oci::Reference::parse(text)) {
    (void)ref->to_string();
    (void)ref->api_host();
    (void)ref->is_loopback();
  }
  (void)oci::split_host_port(text);
  return 0;
}
