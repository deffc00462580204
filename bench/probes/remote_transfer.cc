// Moves a tree to and from a remote cache the way a step's result goes (remote_sync's
// push_action and pull_action), timing only the transfers: the tree is stored in a local cache
// dir first, untimed. Prints "up SECONDS" and "down SECONDS".
// Usage: remote_transfer URL TREE WORKDIR

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "runner/cas/cache_dir.hh"
#include "runner/cas/tree.hh"
#include "runner/remote/remote_sync.hh"

using namespace akbuild;
using Clock = std::chrono::steady_clock;

namespace {

int die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "remote_transfer: %s: %s\n", what.c_str(), e.message.c_str());
  return 1;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: remote_transfer URL TREE WORKDIR\n");
    return 2;
  }
  std::filesystem::path work = argv[3];
  auto source = cas::CacheDir::open(work / "source-cache");
  if (!source) return die("cache", source.error());
  cas::ActionRecord record;
  record.key = cas::Digest::of(std::string_view(work.string()));
  record.kind = "exec";
  auto tree = cas::store_tree((*source)->blobs(), argv[2]);
  if (!tree) return die("store", tree.error());
  record.outputs["out/"] = {cas::ActionOutput::Kind::tree, *tree};
  if (auto s = (*source)->blobs().sync(); !s) return die("sync", s.error());
  remote::RemoteOptions options;
  options.url = argv[1];
  auto remote = remote::open_remote_cache(options);
  if (!remote) return die("remote", remote.error());

  auto t0 = Clock::now();
  if (auto up = remote::push_action(**remote, **source, record, {"out/"}); !up) return die("push", up.error());
  std::printf("up %.4f\n", seconds_since(t0));

  auto target = cas::CacheDir::open(work / "target-cache");
  if (!target) return die("cache", target.error());
  t0 = Clock::now();
  auto down = remote::pull_action(**remote, **target, record.key, "exec", {"out/"});
  if (!down) return die("pull", down.error());
  if (!*down) return die("pull", Error{ErrorCode::not_found, "no remote hit"});
  std::printf("down %.4f\n", seconds_since(t0));
  return 0;
}
