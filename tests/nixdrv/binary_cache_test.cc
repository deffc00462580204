#include <doctest/doctest.h>

#include "nixdrv/binary_cache.hh"
#include "nixdrv/nar_hash.hh"
#include "nixdrv/narinfo.hh"
#include "nixdrv/signing.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "tests/nixdrv/nix_oracle.hh"

using namespace akbuild;
using namespace akbuild::nixdrv;
using namespace akbuild::test;
namespace fs = std::filesystem;

TEST_CASE("signatures made with a key from nix-store --generate-binary-cache-key verify, and are Nix's") {
  TestDir dir;
  sh_ok("cd " + dir.path().string() + " && nix-store --generate-binary-cache-key test-1 sk pk");
  auto sk = SecretKey::load(dir / "sk");
  REQUIRE(sk);
  auto pk = PublicKey::parse(read(dir / "pk"));
  REQUIRE(pk);
  CHECK(sk->public_key().to_string() == pk->to_string());
  std::string message = "1;/nix/store/ipsfsc9ak45r2c0vvvqhdifp24b0c5nk-t1;sha256:1bhw;872;";
  auto sig = sk->sign(message);
  CHECK(sig.starts_with("test-1:"));
  CHECK(pk->verify(message, sig));
  CHECK_FALSE(pk->verify(message + "x", sig));
  CHECK(sk->sign(message) == sig);  // ed25519 is deterministic
}

TEST_CASE("malformed key files are refused with one clear message") {
  TestDir dir;
  auto check = [&](const std::string& content, const std::string& fragment) {
    write(dir / "key", content);
    auto k = SecretKey::load(dir / "key");
    REQUIRE_FALSE(k);
    CHECK(k.error().code == ErrorCode::invalid_argument);
    INFO(k.error().message);
    CHECK(k.error().message.find(fragment) != std::string::npos);
  };
  check("no-colon", "<name>:<base64>");
  check("name:!!!!", "not valid base64");
  check("name:" + to_base64(std::vector<std::byte>(32)), "32 bytes, expected 64");
  check("name:" + to_base64(std::vector<std::byte>(64, std::byte{1})), "does not match its seed");
  CHECK_FALSE(SecretKey::load(dir / "missing"));
  CHECK_FALSE(PublicKey::parse(":abc"));
}

TEST_CASE("narinfo writes and parses nix.md's field order") {
  NarInfo info;
  info.path = *StorePath::parse("/nix/store/mjs27ix6ig2bkbi3s3sm470vrv4lf7ic-hello");
  info.url = "nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar";
  info.nar_hash = Hash::of(HashAlgo::sha256, "x");
  info.nar_size = 120;
  info.file_hash = info.nar_hash;
  info.file_size = 120;
  info.deriver = *StorePath::from_base_name("76w21n1f03fs5kw8fnffphx7qrqffw6r-hello.drv");
  auto text = info.to_string();
  CHECK(text.find("StorePath: /nix/store/mjs27ix6ig2bkbi3s3sm470vrv4lf7ic-hello\nURL: nar/1xmr") == 0);
  CHECK(text.find("\nReferences: \nDeriver: 76w21n1f03fs5kw8fnffphx7qrqffw6r-hello.drv\n") != std::string::npos);
  auto back = NarInfo::parse(text);
  REQUIRE(back);
  CHECK(back->to_string() == text);
  CHECK(info.fingerprint() == "1;/nix/store/mjs27ix6ig2bkbi3s3sm470vrv4lf7ic-hello;" +
                                  info.nar_hash.to_prefixed(HashFormat::nix32) + ";120;");
  auto missing = NarInfo::parse("StorePath: /nix/store/mjs27ix6ig2bkbi3s3sm470vrv4lf7ic-hello\n");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("missing URL") != std::string::npos);
}

TEST_CASE("a cache written by FileBinaryCache is substituted by nix copy with signature checks") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  auto t1 = make_t1(dir.path());
  sh_ok("cd " + dir.path().string() + " && nix-store --generate-binary-cache-key akbuild-test-1 sk pk");
  auto key = *SecretKey::load(dir / "sk");
  auto cache = FileBinaryCache::open("file://" + (dir / "cache").string());
  REQUIRE(cache);
  CHECK(read(dir / "cache" / "nix-cache-info") == "StoreDir: /nix/store\n");
  for (auto compression : {Compression::none, Compression::xz, Compression::zstd}) {
    CAPTURE(to_string(compression));
    auto name = "edge-" + std::string(to_string(compression));
    auto info = cache->add_path(tree, name, {compression, &key});
    REQUIRE(info);
    CHECK(info->nar_hash == *nar_hash(tree));
    CHECK(key.public_key().verify(info->fingerprint(), info->sigs.at(0)));
    auto store = (dir / ("S-" + name)).string();
    sh_ok(std::string("nix ") + k_xp + " copy --store " + store + " --option trusted-public-keys " +
          shq(read(dir / "pk")) + " --from file://" + (dir / "cache").string() + " " + info->path.to_string() +
          " 2>&1");
    CHECK(sh_ok("nix-hash --type sha256 " + store + info->path.to_string()) ==
          info->nar_hash.to_string(HashFormat::base16));
  }
  SUBCASE("t1 matches nix.md's golden xz narinfo") {
    auto info = cache->add_path(t1, "t1", {Compression::xz, nullptr});
    REQUIRE(info);
    CHECK(info->path.to_string() == "/nix/store/ipsfsc9ak45r2c0vvvqhdifp24b0c5nk-t1");
    CHECK(info->nar_size == 872);
    CHECK(info->ca == "fixed:r:sha256:1bhwkaymalvr41rd09bkc8mjsv7a4n9yhmz24qhpl6hkmy2hbgsx");
    CHECK(info->url.ends_with(".nar.xz"));
    CHECK(fs::file_size(dir / "cache" / info->url) == info->file_size);
    auto text = read(dir / "cache" / "ipsfsc9ak45r2c0vvvqhdifp24b0c5nk.narinfo");
    CHECK(text == info->to_string());
  }
  SUBCASE("without a CA line, Nix accepts the path only with a trusted signature") {
    auto info = cache->add_path(t1 / "sub", "sub", {Compression::none, &key});
    REQUIRE(info);
    info->ca.clear();
    auto narinfo = dir / "cache" / (std::string(info->path.hash_part()) + ".narinfo");
    auto copy = [&](const std::string& store) {
      return sh(std::string("nix ") + k_xp + " copy --store " + (dir / store).string() +
                " --option trusted-public-keys " + shq(read(dir / "pk")) + " --from file://" +
                (dir / "cache").string() + " " + info->path.to_string());
    };
    info->sigs = {SecretKey::generate("akbuild-test-1").sign(info->fingerprint())};
    REQUIRE(write_file_atomic(narinfo, info->to_string()));
    auto refused = copy("S-bad");
    CHECK(refused.exit_code != 0);
    CHECK(refused.err.find("lacks a valid signature") != std::string::npos);
    info->sigs = {key.sign(info->fingerprint())};
    REQUIRE(write_file_atomic(narinfo, info->to_string()));
    auto accepted = copy("S-good");
    INFO(accepted.err);
    CHECK(accepted.exit_code == 0);
  }
}
