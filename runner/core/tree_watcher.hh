#pragma once
// Change notification for directory trees (Linux inotify), so a long-lived process (akbuild
// serve) can tell that nothing under a tree changed since it last looked without stat'ing every
// entry, as git's fsmonitor and Bazel's --watchfs do. One inotify instance serves every tree.
//
// Seen: every create, delete, rename, write, truncate, chmod, chown or timestamp change made
// through a directory of an armed tree, and writes to its files that have several hard links by
// any path (those get a watch of their own). Not seen, as by no inotify user: writes through a
// shared mmap, writes through a hard link made from outside the tree after it was armed, changes
// made by other machines on a network file system. A full event queue counts as a change to every
// tree. Thread-safe.
//
// Usage:
//   auto watcher = AK_TRY(TreeWatcher::open());
//   auto mark = AK_TRY(watcher->arm(root));     // before reading the tree
//   ... read the tree ...
//   if (watcher->unchanged_since(root, mark)) ... what was read still holds

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "runner/core/result.hh"

namespace akbuild {

class TreeWatcher {
public:
  // Holds at most `max_watches` watches over all trees: the kernel's limit
  // (fs.inotify.max_user_watches) is shared with every other program of the user.
  static constexpr std::size_t k_default_max_watches = 65536;
  static Result<std::unique_ptr<TreeWatcher>> open(std::size_t max_watches = k_default_max_watches);
  ~TreeWatcher();
  TreeWatcher(const TreeWatcher&) = delete;
  TreeWatcher& operator=(const TreeWatcher&) = delete;

  // Watches every directory under `root` (an absolute path to a directory; symlinks are not
  // followed) and every regular file in it with more than one link; a tree armed before gets the
  // watches of its current shape. Returns the mark for unchanged_since: any change after arm()
  // began moves past it. Errors: not a directory, unreadable, more watches than max_watches or
  // the kernel allow; the tree is then not armed.
  Result<std::uint64_t> arm(const std::filesystem::path& root);
  // Whether nothing under `root` changed since `mark`. The queued events are read first, so a
  // change whose system call returned before this call is seen. false for a tree not armed, or
  // whose path now names another directory than the one armed, or armed again after a disarm
  // that came after `mark`.
  bool unchanged_since(const std::filesystem::path& root, std::uint64_t mark);
  // Stops watching `root` (watches it shares with another armed tree stay).
  void disarm(const std::filesystem::path& root);

  // Watches held, over every tree (for tests and the daemon's log).
  std::size_t watch_count() const;

private:
  struct State;
  explicit TreeWatcher(std::unique_ptr<State> state);
  std::unique_ptr<State> m_state;
};

} // namespace akbuild
