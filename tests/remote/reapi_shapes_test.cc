// akbuild's records in REAPI's shapes and back: the Action is a function of the key, kind and
// outputs alone; a record survives the round trip with the same local tree digests.

#include <doctest/doctest.h>

#include "build/bazel/remote/execution/v2/remote_execution.pb.h"
#include "runner/cas/cache_dir.hh"
#include "runner/cas/tree.hh"
#include "runner/remote/reapi_shapes.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace re = build::bazel::remote::execution::v2;
namespace fs = std::filesystem;

TEST_CASE("The REAPI Action of a step depends on its key, kind and outputs only") {
  auto key = cas::Digest::of(std::string_view("manifest"));
  auto a = remote::action_shape(key, "exec", {"out/", "b.txt"});
  auto b = remote::action_shape(key, "exec", {"b.txt", "out"});
  CHECK(a.action.ref == b.action.ref);
  CHECK(a.action.ref != remote::action_shape(key, "go-build", {"out/", "b.txt"}).action.ref);
  CHECK(a.action.ref != remote::action_shape(cas::Digest::of(std::string_view("other")), "exec", {"out/", "b.txt"}).action.ref);
  re::Command command;
  REQUIRE(command.ParseFromString(a.command.bytes));
  CHECK(command.arguments_size() == 5);
  CHECK(command.output_paths(0) == "b.txt");
  CHECK(command.output_paths(1) == "out");
  re::Action action;
  REQUIRE(action.ParseFromString(a.action.bytes));
  CHECK(action.command_digest().hash() == a.command.ref.digest.hex());
}

TEST_CASE("A record goes to an ActionResult with a Tree and comes back with the same trees") {
  test::TestDir dir;
  auto cache = cas::CacheDir::open(dir / "cache");
  REQUIRE(cache);
  auto& store = (*cache)->blobs();
  test::write(dir / "out" / "a.txt", "a\n");
  test::write(dir / "out" / "sub" / "run", "#!/bin/sh\n", true);
  test::write(dir / "out" / "sub" / "deeper" / "same.txt", "a\n");
  fs::create_symlink("a.txt", dir / "out" / "link");
  test::write(dir / "single.txt", "single\n", true);
  cas::ActionRecord record;
  record.key = cas::Digest::of(std::string_view("the manifest"));
  record.kind = "exec";
  record.step_id = "gen";
  record.values = {{"digest", "sha256:1234"}};
  record.outputs["out/"] = {cas::ActionOutput::Kind::tree, *cas::store_tree(store, dir / "out")};
  record.outputs["single.txt"] = {cas::ActionOutput::Kind::file, *cas::store_tree(store, dir / "single.txt")};
  record.stdout_log = *store.put("log line\n");

  auto remote_form = remote::to_remote(record, store);
  REQUIRE_MESSAGE(remote_form, (remote_form ? "" : remote_form.error().message));
  re::ActionResult result;
  REQUIRE(result.ParseFromString(remote_form->action_result));
  REQUIRE(result.output_directories_size() == 1);
  CHECK(result.output_directories(0).path() == "out");
  REQUIRE(result.output_files_size() == 1);
  CHECK(result.output_files(0).path() == "single.txt");
  CHECK(result.output_files(0).is_executable());
  re::Tree tree;
  std::string tree_bytes;
  for (const auto& b : remote_form->blobs)
    if (b.ref == remote::BlobRef{*cas::Digest::parse(result.output_directories(0).tree_digest().hash()),
                                 static_cast<std::uint64_t>(result.output_directories(0).tree_digest().size_bytes())})
      tree_bytes = b.bytes;
  REQUIRE(tree.ParseFromString(tree_bytes));
  CHECK(tree.root().files_size() == 1);
  CHECK(tree.root().symlinks_size() == 1);
  CHECK(tree.root().directories_size() == 1);
  CHECK(tree.children_size() == 2);

  auto parsed = remote::parse_remote(remote_form->action_result, record.key, {"out/", "single.txt"});
  REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error().message));
  CHECK(parsed->record.values == record.values);
  auto& out = parsed->outputs.at("out/");
  out.tree_message = tree_bytes;
  std::vector<remote::BlobRef> blobs;
  REQUIRE(remote::add_tree_blobs(out, blobs));
  CHECK(blobs.size() == 3);
  remote::PutBlob put = [&](const std::string& bytes) { return store.put(bytes); };
  CHECK(*remote::store_local_tree(out, "out/", put) == record.outputs.at("out/").digest);
  CHECK(*remote::store_local_tree(parsed->outputs.at("single.txt"), "single.txt", put) ==
        record.outputs.at("single.txt").digest);

  SUBCASE("an entry for another key, or with other outputs, is refused") {
    CHECK(remote::parse_remote(remote_form->action_result, cas::Digest::of(std::string_view("x")), {"out/", "single.txt"})
              .error()
              .code == ErrorCode::corrupt);
    CHECK(!remote::parse_remote(remote_form->action_result, record.key, {"out/"}));
    CHECK(!remote::parse_remote(remote_form->action_result, record.key, {"out/", "single.txt", "more"}));
  }
  SUBCASE("a Tree with a name that climbs out is refused") {
    re::Tree evil = tree;
    evil.mutable_root()->mutable_files(0)->set_name("..");
    out.tree_message = evil.SerializeAsString();
    CHECK(!remote::store_local_tree(out, "out/", put));
  }
}
