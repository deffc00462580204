#include <doctest/doctest.h>

#include "nixdrv/nar_hash.hh"
#include "nixdrv/store_path.hh"
#include "tests/nixdrv/nix_oracle.hh"

using namespace akbuild;
using namespace akbuild::nixdrv;
using namespace akbuild::test;
namespace fs = std::filesystem;

TEST_CASE("store paths of t1 and a.txt match nix.md's golden values") {
  TestDir dir;
  auto t1 = make_t1(dir.path());
  auto nar = *nar_hash(t1);
  CHECK(make_source_path(nar, "t1", {})->to_string() == "/nix/store/ipsfsc9ak45r2c0vvvqhdifp24b0c5nk-t1");
  auto flat = flat_digest(t1 / "a.txt")->hash;
  CHECK(make_fixed_output_path(FileIngestion::flat, flat, "a.txt")->to_string() ==
        "/nix/store/fdwm55r4skpypx1gwzb7x69ckav1rv09-a.txt");
  CHECK(make_source_path(*nar_hash(t1 / "a.txt"), "a.txt", {})->to_string() ==
        "/nix/store/z3n6ml62lc6l9glpaz6fq7fvi2rks9vq-a.txt");
  auto sha1 = nar_digest(t1, HashAlgo::sha1)->hash;
  CHECK(make_fixed_output_path(FileIngestion::recursive, sha1, "t1")->to_string() ==
        "/nix/store/dklkl698a2rglvdq844315jh216p6nh4-t1");
  // builtins.toFile "script.sh" "echo ${<t1 source>}"
  auto src = *make_source_path(nar, "t1", {});
  CHECK(make_text_path(Hash::of(HashAlgo::sha256, "echo " + src.to_string()), "script.sh", {src})->to_string() ==
        "/nix/store/zyb8lwxyy0djf733pn6vz7bwbk15wa8n-script.sh");
}

TEST_CASE("fixed-output paths agree with nix-store --print-fixed-path for every algorithm") {
  TestDir dir;
  auto tree = make_t1(dir.path());
  std::string store = (dir / "S").string();
  for (auto algo : {HashAlgo::md5, HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha512}) {
    for (bool recursive : {false, true}) {
      Hash h = recursive ? nar_digest(tree, algo)->hash : flat_digest(tree / "a.txt", algo)->hash;
      std::string name = recursive ? "t1" : "a.txt";
      auto ours = make_fixed_output_path(recursive ? FileIngestion::recursive : FileIngestion::flat, h, name);
      REQUIRE(ours);
      std::string theirs = sh_ok("nix-store --store " + store + " --print-fixed-path " +
                                 (recursive ? "--recursive " : "") + std::string(to_string(algo)) + " " +
                                 h.to_string(HashFormat::nix32) + " " + name);
      CAPTURE(to_string(algo));
      CAPTURE(recursive);
      CHECK(ours->to_string() == theirs);
    }
  }
}

TEST_CASE("source paths agree with nix-store --add on an edge-case tree") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  auto theirs = sh_ok("nix-store --store " + (dir / "S").string() + " --add " + shq(tree.string()));
  CHECK(make_source_path(*nar_hash(tree), "edge", {})->to_string() == theirs);
}

TEST_CASE("store names are validated like Nix") {
  for (std::string good : {std::string("a"), std::string("hello-1.0"), std::string("x+y=z?_"), std::string(".hidden"),
                           std::string(211, 'a')})
    CHECK(check_store_name(good));
  auto bad = [](const std::string& name, const std::string& fragment) {
    auto r = check_store_name(name);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    INFO(r.error().message);
    CHECK(r.error().message.find(fragment) != std::string::npos);
  };
  bad("", "empty");
  bad(std::string(212, 'a'), "longer than 211");
  bad(".", "'.' and '..'");
  bad("..", "'.' and '..'");
  bad(".-x", "must not start");
  bad("..-x", "must not start");
  bad("a b", "character ' '");
  bad("caf\xc3\xa9", "is not allowed");
  bad("a/b", "character '/'");
}

TEST_CASE("StorePath parses full paths and base names, and refuses others") {
  auto p = StorePath::parse("/nix/store/ipsfsc9ak45r2c0vvvqhdifp24b0c5nk-t1");
  REQUIRE(p);
  CHECK(p->hash_part() == "ipsfsc9ak45r2c0vvvqhdifp24b0c5nk");
  CHECK(p->name() == "t1");
  CHECK_FALSE(StorePath::parse("/nix/store/ipsfsc9ak45r2c0vvvqhdifp24b0c5nk-t1/sub"));
  CHECK_FALSE(StorePath::parse("/usr/ipsfsc9ak45r2c0vvvqhdifp24b0c5nk-t1"));
  CHECK_FALSE(StorePath::from_base_name("ipsfsc9ak45r2c0vvvqhdifp24b0c5ne-t1"));  // 'e' is not nix32
  CHECK_FALSE(StorePath::from_base_name("short-t1"));
}
