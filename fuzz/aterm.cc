// Derivation ATerms (nixdrv/derivation.hh): .drv files read from a store directory.
#include "fuzz/fuzz_support.hh"
#include "nixdrv/derivation.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto drv = nixdrv::parse_derivation(fuzz::text(data, size));
  if (drv) {
    (void)drv->name();
    (void)drv->is_fixed_output();
    (void)nixdrv::unparse_derivation(*drv, true);
  }
  return 0;
}
