// `akbuild nix ...` driven as a user would, with real Nix as the oracle.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>

#include "tests/nixdrv/nix_oracle.hh"


using namespace akbuild::test;
namespace fs = std::filesystem;

namespace {
std::string ak_ok(const TestDir& dir, const std::vector<std::string>& args, CommandOptions options = {}) {
  auto r = akbuild::test::akbuild(dir, args, std::move(options));
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

// A usage error: exit 2 and exactly one line on stderr containing `fragment`.
void ak_usage_error(const TestDir& dir, const std::vector<std::string>& args, const std::string& fragment) {
  auto r = akbuild::test::akbuild(dir, args);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(fragment) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}
} // namespace

TEST_CASE("akbuild nix hash-path and hash-file print what nix-hash prints") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  auto t = shq(tree.string());
  CHECK(ak_ok(dir, {"nix", "hash-path", tree.string(), "--base16"}) == sh_ok("nix-hash --type sha256 " + t) + "\n");
  CHECK(ak_ok(dir, {"nix", "hash-path", tree.string(), "--base32"}) ==
        sh_ok("nix-hash --type sha256 --base32 " + t) + "\n");
  CHECK(ak_ok(dir, {"nix", "hash-path", tree.string()}) ==
        sh_ok(std::string("nix ") + k_xp + " hash path --sri " + t) + "\n");
  CHECK(ak_ok(dir, {"nix", "hash-path", "--no-cache", tree.string()}) ==
        sh_ok(std::string("nix ") + k_xp + " hash path --sri " + t) + "\n");
  CHECK(ak_ok(dir, {"nix", "hash-file", "--base16", (tree / "big").string(), (tree / "empty-file").string()}) ==
        sh_ok("nix-hash --type sha256 --flat " + shq((tree / "big").string()) + " " +
              shq((tree / "empty-file").string())) + "\n");
}

TEST_CASE("akbuild nix dump and restore round-trip through nix-store") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  auto nar = ak_ok(dir, {"nix", "dump", tree.string()});
  sh_ok("nix-store --dump " + shq(tree.string()) + " > " + shq((dir / "nix.nar").string()));
  CHECK(nar == read(dir / "nix.nar"));
  ak_ok(dir, {"nix", "restore", (dir / "restored").string()}, CommandOptions{{}, {}, nar});
  CHECK(sh_ok("nix-hash --type sha256 " + shq((dir / "restored").string())) ==
        sh_ok("nix-hash --type sha256 " + shq(tree.string())));
  ak_usage_error(dir, {"nix", "restore", (dir / "bad").string()}, "NAR: ");
  {
    auto r = akbuild::test::akbuild(dir, {"nix", "restore", (dir / "bad").string()}, CommandOptions{{}, {}, nar + "x"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("trailing bytes") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "bad"));
  }
}

TEST_CASE("akbuild nix store-path gives nix-store --add's and --add-fixed's paths") {
  TestDir dir;
  auto t1 = make_t1(dir.path());
  auto store = (dir / "S").string();
  CHECK(ak_ok(dir, {"nix", "store-path", t1.string(), "--name", "t1"}) ==
        sh_ok("nix-store --store " + store + " --add " + t1.string()) + "\n");
  CHECK(ak_ok(dir, {"nix", "store-path", (t1 / "a.txt").string(), "--flat"}) ==
        sh_ok("nix-store --store " + store + " --add-fixed sha256 " + (t1 / "a.txt").string()) + "\n");
  CHECK(ak_ok(dir, {"nix", "store-path", (t1 / "a.txt").string(), "--name", "renamed"}) ==
        sh_ok(std::string("nix ") + k_xp + " store add-path --store " + store + " --name renamed " +
              (t1 / "a.txt").string()) + "\n");
}

TEST_CASE("akbuild nix drv prints nix-instantiate's .drv and output paths") {
  TestDir dir;
  auto out = ak_ok(dir, {"nix", "drv", "--name", "hello", "--builder", "/bin/sh", "--arg", "-c", "--arg",
                         "echo hi > $out", "--aterm"});
  CHECK(out.find("/nix/store/76w21n1f03fs5kw8fnffphx7qrqffw6r-hello.drv\n"
                 "out /nix/store/mjs27ix6ig2bkbi3s3sm470vrv4lf7ic-hello\nDerive([(\"out\",") == 0);
  // A consumer of a fixed-output derivation, reading the input .drv from a chroot store.
  auto t1 = make_t1(dir.path());
  auto sri = sh_ok(std::string("nix ") + k_xp + " hash path --sri " + t1.string());
  write(dir / "e.nix", "rec { src = derivation { name = \"src\"; builder = \"/bin/sh\"; system = \"x86_64-linux\"; "
                       "outputHash = \"" + sri + "\"; outputHashMode = \"recursive\"; };\n"
                       "  use = derivation { name = \"use\"; builder = \"/bin/sh\"; system = \"aarch64-linux\"; "
                       "outputs = [ \"out\" \"dev\" ]; VAR = \"x=y\"; args = [ \"${src}\" ]; }; }");
  auto store = (dir / "S").string();
  auto src_drv = sh_ok("nix-instantiate --store " + store + " " + (dir / "e.nix").string() + " -A src 2>/dev/null");
  auto use_drv = sh_ok("nix-instantiate --store " + store + " " + (dir / "e.nix").string() + " -A use 2>/dev/null");
  auto src = ak_ok(dir, {"nix", "drv", "--name", "src", "--builder", "/bin/sh", "--fixed", sri});
  CHECK(src.starts_with(src_drv + "\n"));
  auto src_out = src.substr(src.find("out ") + 4);
  src_out.pop_back();
  auto use = ak_ok(dir, {"nix", "drv", "--name", "use", "--builder", "/bin/sh", "--system", "aarch64-linux",
                         "--outputs", "out dev", "--env", "VAR=x=y", "--arg", src_out, "--input-drv",
                         src_drv + ":out", "--store-dir", store});
  CHECK(use.starts_with(use_drv + "\n"));
  CHECK(use.find("dev /nix/store/") != std::string::npos);
}

TEST_CASE("akbuild nix cache add publishes a signed cache nix copy accepts") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  sh_ok("cd " + dir.path().string() + " && nix-store --generate-binary-cache-key k-1 sk pk");
  auto out = ak_ok(dir, {"nix", "cache", "add", tree.string(), "--to", "file://" + (dir / "c").string(), "--sign",
                         (dir / "sk").string(), "--compression", "zstd"});
  auto path = out.substr(0, out.size() - 1);
  sh_ok(std::string("nix ") + k_xp + " copy --store " + (dir / "S").string() + " --option trusted-public-keys " +
        shq(read(dir / "pk")) + " --from file://" + (dir / "c").string() + " " + path);
  CHECK(sh_ok(std::string("nix ") + k_xp + " path-info --store " + (dir / "S").string() + " " + path) == path);
}

TEST_CASE("akbuild nix reports bad input as one line and exit 2") {
  TestDir dir;
  write(dir / "t" / "f", "x");
  ak_usage_error(dir, {"nix", "hash-path", (dir / "missing").string()}, "missing");
  ak_usage_error(dir, {"nix", "hash-file", (dir / "missing").string()}, "missing");
  ak_usage_error(dir, {"nix", "dump", (dir / "missing").string()}, "missing");
  REQUIRE(::mkfifo((dir / "t" / "fifo").c_str(), 0644) == 0);
  ak_usage_error(dir, {"nix", "hash-path", (dir / "t").string()}, "fifo: is a FIFO");
  ak_usage_error(dir, {"nix", "store-path", (dir / "t" / "f").string(), "--name", "bad name"},
                 "invalid store path name 'bad name'");
  ak_usage_error(dir, {"nix", "drv", "--name", "x", "--builder", "/bin/sh", "--fixed", "sha256-abc"},
                 "wrong length");
  ak_usage_error(dir, {"nix", "drv", "--name", "x", "--builder", "/bin/sh", "--system", "a\"b"}, "system");
  write(dir / "sk", "garbage");
  ak_usage_error(dir, {"nix", "cache", "add", (dir / "t" / "f").string(), "--to", "file://" + (dir / "c").string(),
                       "--sign", (dir / "sk").string()},
                 "<name>:<base64>");
  ak_usage_error(dir, {"nix", "cache", "add", (dir / "t" / "f").string(), "--to", "file://" + (dir / "c").string(),
                       "--compression", "lz4"},
                 "expected none, xz or zstd");
  ak_usage_error(dir, {"nix", "hash-path", "--base16", "--base32", (dir / "t" / "f").string()}, "");
}
