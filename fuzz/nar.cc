// NAR archives (nixdrv/nar.hh): parsed and checked; what parses is also restored to disk, which
// must then succeed or fail cleanly, never writing outside its destination.
#include <cstring>

#include "fuzz/fuzz_support.hh"
#include "nixdrv/nar.hh"
#include "runner/core/fs.hh"

using namespace akbuild;

namespace {

class BytesSource final : public Source {
public:
  explicit BytesSource(std::string_view data) : m_data(data) {}
  Result<std::size_t> read(std::span<std::byte> buffer) override {
    std::size_t n = std::min(buffer.size(), m_data.size() - m_pos);
    std::memcpy(buffer.data(), m_data.data() + m_pos, n);
    m_pos += n;
    return n;
  }

private:
  std::string_view m_data;
  std::size_t m_pos = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto bytes = fuzz::text(data, size);
  BytesSource check(bytes);
  if (!nixdrv::check_nar(check)) return 0;
  auto dest = fuzz::scratch_dir() / "restored";
  BytesSource restore(bytes);
  (void)nixdrv::restore_nar(restore, dest);
  (void)remove_tree(dest);
  return 0;
}
