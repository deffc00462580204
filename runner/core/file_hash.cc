#include "runner/core/file_hash.hh"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string_view>

#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/fs.hh"
#include "runner/core/sink.hh"
#include "runner/core/walk.hh"

namespace akbuild {

namespace {

constexpr unsigned k_slots = 32;                // files per submission
constexpr std::size_t k_small = 64 * 1024;      // larger files are read with read(2)
constexpr std::size_t k_buffers = k_slots * k_small;  // 2 MiB: one huge page where allowed

// A thread's ring, its registered file slots and a read buffer per slot. Made at the thread's
// first batch; where that fails, no thread of the process tries again.
class Ring {
public:
  static Ring* for_this_thread() {
    // AKBUILD_IO_URING=0: plain reads throughout (a kernel whose io_uring misbehaves; and the
    // benchmark's comparison).
    static std::atomic<bool> unavailable{[] {
      const char* setting = std::getenv("AKBUILD_IO_URING");
      return setting && std::string_view(setting) == "0";
    }()};
    thread_local std::unique_ptr<Ring> ring;
    thread_local bool tried = false;
    if (!tried && !unavailable.load(std::memory_order_relaxed)) {
      tried = true;
      ring.reset(new Ring);
      if (!ring->m_ready) {
        ring.reset();
        unavailable.store(true, std::memory_order_relaxed);
      }
    }
    if (ring && ring->m_broken) {
      unavailable.store(true, std::memory_order_relaxed);
      return nullptr;
    }
    return ring.get();
  }
  ~Ring() {
    if (m_broken) return;  // left to the kernel, see run_batch
    if (m_ready) io_uring_queue_exit(&m_ring);
    std::free(m_buffers);
  }

  // Hashes up to k_slots small files: one chain of open, read and close per file, one submission.
  void hash(int dirfd, FileToHash** files, unsigned n) {
    std::array<int, k_slots> got;
    got.fill(-1);
    if (!run_batch(dirfd, files, n, got)) {
      // The ring failed mid-batch: it is retired (run_batch left it to the kernel), and this
      // batch starts again with plain reads.
      for (unsigned i = 0; i < n; ++i) {
        files[i]->error.reset();
        got[i] = -1;
      }
    }
    for (unsigned i = 0; i < n; ++i) {
      FileToHash& f = *files[i];
      if (f.error) continue;
      if (got[i] >= 0 && static_cast<std::uint64_t>(got[i]) == f.size) {
        f.digest = sha256(std::span(slot(i), f.size));
        continue;
      }
      // Shorter than its stat said (it changed meanwhile), or the ring failed: read it plainly.
      auto digest = hash_file_at(dirfd, f.name, f.size);
      if (digest) f.digest = *digest;
      else f.error = digest.error();
    }
  }

  bool broken() const { return m_broken; }

private:
  Ring() {
    io_uring_params params{};
    // One thread submits and reaps: the kernel may skip the locking and wake-ups for others.
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int r = io_uring_queue_init_params(4 * k_slots, &m_ring, &params);
    if (r == -EINVAL) {  // before Linux 6.1
      params = {};
      r = io_uring_queue_init_params(4 * k_slots, &m_ring, &params);
    }
    if (r < 0) return;
    if (io_uring_register_files_sparse(&m_ring, k_slots) < 0) {
      io_uring_queue_exit(&m_ring);
      return;
    }
    m_buffers = static_cast<std::byte*>(std::aligned_alloc(k_buffers, k_buffers));
    if (!m_buffers) {
      io_uring_queue_exit(&m_ring);
      return;
    }
    ::madvise(m_buffers, k_buffers, MADV_HUGEPAGE);
    m_ready = true;
  }
  std::byte* slot(unsigned i) { return m_buffers + i * k_small; }

  // Submits the chains and reaps every completion into `got` and the files' errors. false when
  // the ring itself failed: it is then marked broken and never used (nor freed: the kernel may
  // still complete requests into its buffers).
  bool run_batch(int dirfd, FileToHash** files, unsigned n, std::array<int, k_slots>& got) {
    if (m_broken) return false;
    for (unsigned i = 0; i < n; ++i) {
      io_uring_sqe* open = io_uring_get_sqe(&m_ring);
      io_uring_sqe* read = open ? io_uring_get_sqe(&m_ring) : nullptr;
      io_uring_sqe* close = read ? io_uring_get_sqe(&m_ring) : nullptr;
      if (!close) return retire();
      // O_NONBLOCK: a file swapped for a FIFO since its stat must not hang the open.
      io_uring_prep_openat_direct(open, dirfd, files[i]->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, i);
      open->flags |= IOSQE_IO_LINK;  // no read after a failed open
      open->user_data = i * 3;
      io_uring_prep_read(read, static_cast<int>(i), slot(i), static_cast<unsigned>(files[i]->size), 0);
      read->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;  // the close follows even a short read
      read->user_data = i * 3 + 1;
      io_uring_prep_close_direct(close, i);
      close->user_data = i * 3 + 2;
    }
    unsigned pending = 3 * n;
    int submitted = io_uring_submit_and_wait(&m_ring, pending);
    if (submitted < 0 || static_cast<unsigned>(submitted) != pending) return retire();
    while (pending > 0) {
      io_uring_cqe* cqe = nullptr;
      int r = io_uring_wait_cqe(&m_ring, &cqe);
      if (r == -EINTR) continue;
      if (r < 0) return retire();
      unsigned i = static_cast<unsigned>(cqe->user_data / 3);
      switch (cqe->user_data % 3) {
      case 0:
        if (cqe->res < 0) files[i]->error = errno_error("open", -cqe->res);
        break;
      case 1:
        if (cqe->res >= 0) got[i] = cqe->res;
        else if (!files[i]->error && cqe->res != -ECANCELED) files[i]->error = errno_error("read", -cqe->res);
        break;
      default: break;
      }
      io_uring_cqe_seen(&m_ring, cqe);
      --pending;
    }
    return true;
  }

  bool retire() {
    m_broken = true;
    return false;
  }

  io_uring m_ring{};
  std::byte* m_buffers = nullptr;
  bool m_ready = false;
  bool m_broken = false;
};

} // namespace

Result<Sha256Bytes> hash_file_at(int dirfd, const char* name, std::uint64_t size_hint) {
  // O_NONBLOCK: a file swapped for a FIFO since its stat must not hang the open.
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return fail(errno_error("open"));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(errno_error("stat"));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::invalid_argument, "open: not a regular file (any more)");
  // Read-ahead hints only pay off beyond a few pages.
  if (size_hint > (1u << 20)) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  // Per thread, reused: a hash context per file costs more than hashing a small one. (Hashing
  // from a mapping instead of reading was slower here: page-table faults cost more than the copy
  // on a virtual machine.) A file growing meanwhile changes its stat, so the next run hashes it
  // again.
  thread_local HashSink hash;
  auto read = stream_fd(fd.get(), hash, size_hint);
  auto bytes = hash.finish();  // also resets it for the next file when the read failed
  if (!read) return fail(read.error());
  Sha256Bytes out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

bool file_hash_uses_io_uring() { return Ring::for_this_thread() != nullptr; }

void hash_files_at(int dirfd, std::span<FileToHash> files) {
  Ring* ring = Ring::for_this_thread();
  FileToHash* batch[k_slots];
  unsigned n = 0;
  for (FileToHash& f : files) {
    f.error.reset();
    if (ring && !ring->broken() && f.size <= k_small) {
      batch[n++] = &f;
      if (n == k_slots) {
        ring->hash(dirfd, batch, n);
        n = 0;
      }
      continue;
    }
    auto digest = hash_file_at(dirfd, f.name, f.size);
    if (digest) f.digest = *digest;
    else f.error = digest.error();
  }
  if (n > 0) ring->hash(dirfd, batch, n);
}

} // namespace akbuild
