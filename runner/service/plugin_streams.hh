#pragma once
// The stream reactors of the plugin service, for calls whose work runs on a thread of its own.
//
// QueuedWriter: the worker write()s messages (blocking while 8 MiB are queued, so a slow reader
// slows the command down instead of growing memory) and ends with finish(status), its last
// touch of the reactor. A cancelled call makes write() return false and runs the on_cancel hook
// at once (the worker kills what it runs); Finish waits for the worker's finish(), so the
// reactor outlives it.
//
// ChunkReader: the worker next()s the client's messages (nullopt at the end of the stream,
// cancelled when the client went away), and ends with finish(status). At most a few messages
// are read ahead of the worker.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "runner/core/result.hh"

namespace akbuild::service {

template <class Message>
class QueuedWriter final : public grpc::ServerWriteReactor<Message> {
public:
  static constexpr std::size_t k_max_queued = 8u << 20;

  // Called once, on a gRPC thread, when the client cancels the call.
  void on_cancel(std::function<void()> hook) {
    std::lock_guard lock(m_mutex);
    if (m_closed) hook();
    else m_on_cancel = std::move(hook);
  }

  // Queues `message`; false once the client went away (the message is dropped).
  bool write(Message message) {
    std::unique_lock lock(m_mutex);
    m_space.wait(lock, [&] { return m_closed || m_queued < k_max_queued; });
    if (m_closed) return false;
    m_queued += message.ByteSizeLong();
    m_queue.push_back(std::move(message));
    pump(lock);
    return true;
  }

  // Ends the call with `status` once the queue is written (at once when cancelled).
  void finish(grpc::Status status) {
    std::unique_lock lock(m_mutex);
    m_final = std::move(status);
    pump(lock);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(m_mutex);
    m_writing = false;
    if (!ok) close(lock);
    pump(lock);
  }
  // (Reactions may touch the lock after pump: gRPC calls OnDone only once they returned.)

  void OnCancel() override {
    std::unique_lock lock(m_mutex);
    close(lock);
    pump(lock);
  }

  void OnDone() override { delete this; }

private:
  void close(std::unique_lock<std::mutex>& lock) {
    if (m_closed) return;
    m_closed = true;
    m_queue.clear();
    m_queued = 0;
    m_space.notify_all();
    if (auto hook = std::move(m_on_cancel)) {
      lock.unlock();
      hook();
      lock.lock();
    }
  }

  // One gRPC operation at a time, started outside the lock (its completion takes it again).
  // Once it started one, the lock stays released: after Finish the reactor may be gone.
  void pump(std::unique_lock<std::mutex>& lock) {
    if (m_writing || m_finished) return;
    if (!m_closed && !m_queue.empty()) {
      m_current = std::move(m_queue.front());
      m_queue.pop_front();
      m_queued -= std::min(m_queued, m_current.ByteSizeLong());
      m_space.notify_all();
      m_writing = true;
      lock.unlock();
      this->StartWrite(&m_current);
      return;
    }
    if (m_final) {
      m_finished = true;
      grpc::Status status = *m_final;
      lock.unlock();
      this->Finish(status);
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_space;
  std::deque<Message> m_queue;
  std::size_t m_queued = 0;
  Message m_current;
  std::optional<grpc::Status> m_final;
  std::function<void()> m_on_cancel;
  bool m_writing = false, m_closed = false, m_finished = false;
};

template <class Message>
class ChunkReader final : public grpc::ServerReadReactor<Message> {
public:
  static constexpr std::size_t k_read_ahead = 4;

  ChunkReader() { start_read(); }

  // The next message; nullopt at the end of the stream; cancelled when the client went away.
  Result<std::optional<Message>> next() {
    std::unique_lock lock(m_mutex);
    m_ready.wait(lock, [&] { return !m_queue.empty() || m_ended || m_cancelled; });
    if (m_cancelled) return fail(ErrorCode::cancelled, "the client cancelled the call");
    if (m_queue.empty()) return std::optional<Message>{};
    Message m = std::move(m_queue.front());
    m_queue.pop_front();
    if (m_paused && !m_ended) {
      m_paused = false;
      m_reading = true;
      lock.unlock();
      this->StartRead(&m_incoming);
    }
    return std::optional<Message>(std::move(m));
  }

  // Ends the call with `status` (after the read in flight, if any, completes).
  void finish(grpc::Status status) {
    std::unique_lock lock(m_mutex);
    m_final = std::move(status);
    maybe_finish(lock);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(m_mutex);
    m_reading = false;
    if (!ok) m_ended = true;
    else m_queue.push_back(std::move(m_incoming));
    m_ready.notify_all();
    if (m_final) {
      maybe_finish(lock);
      return;
    }
    if (ok && m_queue.size() < k_read_ahead) {
      m_reading = true;
      lock.unlock();
      this->StartRead(&m_incoming);
    } else if (ok) {
      m_paused = true;
    }
  }

  void OnCancel() override {
    std::lock_guard lock(m_mutex);
    m_cancelled = true;
    m_ready.notify_all();
  }

  void OnDone() override { delete this; }

private:
  void start_read() {
    m_reading = true;
    this->StartRead(&m_incoming);
  }

  void maybe_finish(std::unique_lock<std::mutex>& lock) {
    if (m_reading || m_finished || !m_final) return;
    m_finished = true;
    grpc::Status status = *m_final;
    lock.unlock();
    this->Finish(status);
  }

  std::mutex m_mutex;
  std::condition_variable m_ready;
  std::deque<Message> m_queue;
  Message m_incoming;
  std::optional<grpc::Status> m_final;
  bool m_reading = false, m_paused = false, m_ended = false, m_cancelled = false, m_finished = false;
};

} // namespace akbuild::service
