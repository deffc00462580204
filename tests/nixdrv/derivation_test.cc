#include <doctest/doctest.h>

#include "nixdrv/derivation.hh"
#include "nixdrv/nar_hash.hh"
#include "runner/core/fs.hh"
#include "tests/nixdrv/nix_oracle.hh"

using namespace akbuild;
using namespace akbuild::nixdrv;
using namespace akbuild::test;
namespace fs = std::filesystem;

namespace {

// A Nix string literal for arbitrary bytes (no NUL), per nix.md §9.
std::string nix_str(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case '"': out += "\\\""; break;
    case '$': out += "\\$"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default: out += c;
    }
  }
  return out + "\"";
}

DerivationLoader store_loader(const fs::path& store_root) {
  return [store_root](const std::string& path) -> Result<Derivation> {
    auto text = AK_TRY(read_file(store_root.string() + path));
    return parse_derivation(text);
  };
}

DerivationLoader no_inputs() {
  return [](const std::string& path) -> Result<Derivation> { return fail(ErrorCode::not_found, path); };
}

// nix-instantiate's .drv path for an expression, and the ATerm it wrote.
std::pair<std::string, std::string> nix_instantiate(const TestDir& dir, const std::string& expr,
                                                    const std::string& attr = "") {
  write(dir / "e.nix", expr);
  std::string drv = sh_ok("nix-instantiate --store " + (dir / "S").string() + " " + (dir / "e.nix").string() +
                          (attr.empty() ? "" : " -A " + attr) + " 2>/dev/null");
  return {drv, read(dir.path().string() + "/S" + drv)};
}

} // namespace

TEST_CASE("instantiate reproduces nix.md's golden hello derivation") {
  DerivationSpec s;
  s.name = "hello";
  s.builder = "/bin/sh";
  s.system = "x86_64-linux";
  s.args = {"-c", "echo hi > $out"};
  auto d = instantiate(s, no_inputs());
  REQUIRE(d);
  CHECK(unparse_derivation(d->drv, true) ==
        "Derive([(\"out\",\"\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo hi > $out\"],"
        "[(\"builder\",\"/bin/sh\"),(\"name\",\"hello\"),(\"out\",\"\"),(\"system\",\"x86_64-linux\")])");
  CHECK(d->outputs.at("out").to_string() == "/nix/store/mjs27ix6ig2bkbi3s3sm470vrv4lf7ic-hello");
  CHECK(d->drv_path.to_string() == "/nix/store/76w21n1f03fs5kw8fnffphx7qrqffw6r-hello.drv");
  auto parsed = parse_derivation(d->aterm);
  REQUIRE(parsed);
  CHECK(*parsed == d->drv);
  CHECK(unparse_derivation(*parsed) == d->aterm);
}

TEST_CASE("instantiate escapes builder, args and env exactly like nix-instantiate") {
  TestDir dir;
  DerivationSpec s;
  s.name = "esc";
  s.builder = "/bin/sh\"q\\b";
  s.system = "x86_64-linux";
  s.args = {"a\nb\tc\rd", "${x} $y", "caf\xc3\xa9 \xe2\x98\x83", ""};
  s.env = {{"k\xc3\xa9y", "v\"\\"}, {"multi", "line1\nline2"}, {"empty", ""}};
  s.outputs = std::vector<std::string>{"out", "dev", "bin"};
  std::string expr = "derivation { name = \"esc\"; builder = " + nix_str(s.builder) +
                     "; system = \"x86_64-linux\"; outputs = [ \"out\" \"dev\" \"bin\" ]; args = [ ";
  for (const auto& a : s.args) expr += nix_str(a) + " ";
  expr += "]; ";
  for (const auto& [k, v] : s.env) expr += nix_str(k) + " = " + nix_str(v) + "; ";
  expr += "}";
  auto [drv_path, aterm] = nix_instantiate(dir, expr);
  auto d = instantiate(s, no_inputs());
  REQUIRE(d);
  CHECK(d->aterm == aterm);
  CHECK(d->drv_path.to_string() == drv_path);
  auto parsed = parse_derivation(aterm);
  REQUIRE(parsed);
  CHECK(parsed->args == s.args);
  CHECK(parsed->builder == s.builder);
}

TEST_CASE("a chain of fixed-output, multi-output and consumer derivations matches nix-instantiate") {
  TestDir dir;
  auto t1 = make_t1(dir.path());
  auto nar = nar_hash(t1)->to_sri();
  auto sha1 = "sha1:" + flat_digest(t1 / "a.txt", HashAlgo::sha1)->hash.to_string(HashFormat::nix32);
  auto md5 = "md5:" + nar_digest(t1, HashAlgo::md5)->hash.to_string(HashFormat::base16);
  std::string expr = R"(rec {
  src = derivation { name = "src.tar"; builder = "/bin/sh"; system = "x86_64-linux"; args = [ "-c" "x" ];
                     outputHash = ")" + nar + R"("; outputHashMode = "recursive"; };
  flat = derivation { name = "a.txt"; builder = "/bin/sh"; system = "x86_64-linux"; outputHash = ")" + sha1 + R"("; };
  rmd5 = derivation { name = "r"; builder = "/bin/sh"; system = "x86_64-linux"; outputHash = ")" + md5 +
                     R"("; outputHashMode = "recursive"; };
  multi = derivation { name = "multi"; builder = "/bin/sh"; system = "aarch64-linux"; outputs = [ "out" "dev" "lib" ];
                       inherit src flat rmd5; args = [ "-c" "echo ${src} ${flat}" ]; };
  script = builtins.toFile "script.sh" "echo hi";
  use = derivation { name = "use"; builder = "/bin/sh"; system = "x86_64-linux"; dev = multi.dev; lib = multi.lib;
                     s = script; args = [ "${multi}/bin" ]; };
})";
  auto [use_drv, use_aterm] = nix_instantiate(dir, expr, "use");
  auto loader = store_loader(dir / "S");

  auto fod = [&](std::string name, std::string hash, bool recursive, std::vector<std::string> args) {
    DerivationSpec s;
    s.name = std::move(name);
    s.builder = "/bin/sh";
    s.system = "x86_64-linux";
    s.args = std::move(args);
    s.output_hash = std::move(hash);
    s.recursive = recursive;
    auto d = instantiate(s, loader);
    REQUIRE(d);
    return *d;
  };
  auto src = fod("src.tar", nar, true, {"-c", "x"});
  auto flat = fod("a.txt", sha1, false, {});
  auto rmd5 = fod("r", md5, true, {});
  // nix.md §5: the recursive-sha256 src.tar FOD of t1.
  CHECK(src.outputs.at("out").to_string() == "/nix/store/pi8dd4xf59n6351k484g568bnc3j9mn4-src.tar");

  DerivationSpec m;
  m.name = "multi";
  m.builder = "/bin/sh";
  m.system = "aarch64-linux";
  m.outputs = std::vector<std::string>{"out", "dev", "lib"};
  std::string src_out = src.outputs.at("out").to_string(), flat_out = flat.outputs.at("out").to_string();
  m.env = {{"src", src_out}, {"flat", flat_out}, {"rmd5", rmd5.outputs.at("out").to_string()}};
  m.args = {"-c", "echo " + src_out + " " + flat_out};
  m.input_drvs = {{src.drv_path.to_string(), {"out"}}, {flat.drv_path.to_string(), {"out"}},
                  {rmd5.drv_path.to_string(), {"out"}}};
  auto multi = instantiate(m, loader);
  REQUIRE(multi);

  DerivationSpec u;
  u.name = "use";
  u.builder = "/bin/sh";
  u.system = "x86_64-linux";
  auto script = make_text_path(Hash::of(HashAlgo::sha256, "echo hi"), "script.sh", {});
  u.env = {{"dev", multi->outputs.at("dev").to_string()}, {"lib", multi->outputs.at("lib").to_string()},
           {"s", script->to_string()}};
  u.args = {multi->outputs.at("out").to_string() + "/bin"};
  u.input_srcs = {script->to_string()};
  u.input_drvs = {{multi->drv_path.to_string(), {"out", "dev", "lib"}}};
  auto use = instantiate(u, loader);
  REQUIRE(use);
  CHECK(use->aterm == use_aterm);
  CHECK(use->drv_path.to_string() == use_drv);
  CHECK(read(dir.path().string() + "/S" + multi->drv_path.to_string()) == multi->aterm);
}

TEST_CASE("an outputHash spelled differently changes the .drv path but not the output path") {
  TestDir dir;
  auto t1 = make_t1(dir.path());
  auto h = *nar_hash(t1);
  std::set<std::string> drvs, outs;
  for (auto spelling : {h.to_sri(), h.to_prefixed(HashFormat::nix32), h.to_prefixed(HashFormat::base16)}) {
    DerivationSpec s{"src.tar", "/bin/sh", "x86_64-linux", {}, {}, {}, {}, {}, spelling, true};
    auto d = instantiate(s, no_inputs());
    REQUIRE(d);
    drvs.insert(d->drv_path.to_string());
    outs.insert(d->outputs.at("out").to_string());
  }
  CHECK(drvs.size() == 3);
  CHECK(outs == std::set<std::string>{"/nix/store/pi8dd4xf59n6351k484g568bnc3j9mn4-src.tar"});
}

TEST_CASE("instantiate rejects what Nix cannot round-trip or would refuse") {
  DerivationSpec s;
  s.name = "x";
  s.builder = "/bin/sh";
  auto err = [&](const DerivationSpec& spec, const std::string& fragment) {
    auto d = instantiate(spec, no_inputs());
    REQUIRE_FALSE(d);
    CHECK(d.error().code == ErrorCode::invalid_argument);
    INFO(d.error().message);
    CHECK(d.error().message.find(fragment) != std::string::npos);
  };
  auto bad = s;
  bad.system = "x86\"64";
  err(bad, "cannot read back");
  bad.system = "a\nb";
  err(bad, "cannot read back");
  bad = s;
  bad.name = "x.drv";
  err(bad, "must not end in '.drv'");
  bad.name = "a b";
  err(bad, "invalid store path name");
  bad = s;
  bad.output_hash = std::string(64, 'a');
  err(bad, "does not include a type");
  bad.output_hash = "sha256-" + Hash::of(HashAlgo::sha256, "").to_string(HashFormat::base64);
  bad.outputs = std::vector<std::string>{"out", "dev"};
  err(bad, "exactly the output 'out'");
  bad = s;
  bad.outputs = std::vector<std::string>{"out", "out"};
  err(bad, "duplicate output");
  bad.outputs = std::vector<std::string>{"drv"};
  err(bad, "reserved");
  bad = s;
  bad.input_drvs = {{"/nix/store/76w21n1f03fs5kw8fnffphx7qrqffw6r-hello.drv", {"out"}}};
  err(bad, "hello.drv");
}

TEST_CASE("parse_derivation reports where a malformed ATerm goes wrong") {
  auto r = parse_derivation("Derive([(\"out\",\"\",\"\",\"\")],[],[],\"x\",\"b\",[],[]");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("expected ')'") != std::string::npos);
  CHECK_FALSE(parse_derivation("Derive([],[],[],\"x\",\"b\",[],[])x"));
  CHECK_FALSE(parse_derivation("Derivx"));
}

TEST_CASE("parse_derivation accepts only store paths for outputs, input derivations and sources") {
  auto with = [](const std::string& out, const std::string& drv, const std::string& src) {
    return "Derive([(\"out\",\"" + out + "\",\"\",\"\")],[" + drv + "],[" + src + "],\"x\",\"b\",[],[])";
  };
  const std::string good = "/nix/store/76w21n1f03fs5kw8fnffphx7qrqffw6r-hello";
  REQUIRE(parse_derivation(with(good, "(\"" + good + ".drv\",[\"out\"])", "\"" + good + "\"")));
  CHECK(parse_derivation(with("", "", "")));  // deferred output
  for (const auto& aterm : {with("../../etc/passwd", "", ""), with("/nix/store/../../etc/passwd", "", ""),
                            with(good, "(\"../x.drv\",[\"out\"])", ""), with(good, "(\"" + good + "\",[\"out\"])", ""),
                            with(good, "", "\"/etc\"")}) {
    auto r = parse_derivation(aterm);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    INFO(r.error().message);
    CHECK((r.error().message.find("is not a store path") != std::string::npos ||
           r.error().message.find("does not end in .drv") != std::string::npos));
  }
}
