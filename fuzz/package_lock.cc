// npm's package-lock.json (steps/node_deps/package_lock.hh), read from a directory as the step does.
#include "fuzz/fuzz_support.hh"
#include "steps/node_deps/package_lock.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::write_scratch("package-lock.json", fuzz::text(data, size));
  (void)steps::node::PackageLock::load(fuzz::scratch_dir(), "web");
  return 0;
}
