// .narinfo files (nixdrv/narinfo.hh) as a binary cache serves them.
#include "fuzz/fuzz_support.hh"
#include "nixdrv/narinfo.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto info = nixdrv::NarInfo::parse(fuzz::text(data, size));
  if (info) {
    (void)info->to_string();
    (void)info->fingerprint();
  }
  return 0;
}
