// akbuild.lock (runner/engine/pins.hh), read from a workspace as the engine does.
#include "fuzz/fuzz_support.hh"
#include "runner/engine/pins.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::write_scratch(engine::PinFile::k_file_name, fuzz::text(data, size));
  if (auto pins = engine::PinFile::load(fuzz::scratch_dir())) (void)pins->get("web-deps", "x86_64-linux");
  return 0;
}
