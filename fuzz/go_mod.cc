// go.mod and go.sum (steps/go_build/go_mod.hh): the same bytes through both parsers.
#include "fuzz/fuzz_support.hh"
#include "steps/go_build/go_mod.hh"

using namespace akbuild;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::text(data, size);
  (void)steps::go::GoMod::parse(text, "go.mod");
  (void)steps::go::GoSum::parse(text, "go.sum");
  return 0;
}
