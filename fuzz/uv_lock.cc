// uv.lock files (steps/python_deps/uv_lock.hh).
#include "fuzz/fuzz_support.hh"
#include "steps/python_deps/uv_lock.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (auto lock = steps::python::UvLock::parse(fuzz::text(data, size), "uv.lock")) (void)lock->root();
  return 0;
}
