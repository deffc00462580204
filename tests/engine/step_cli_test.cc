// `akbuild step` as a user runs it: hits, misses and explain, the sandbox, a corrupt cache,
// a killed run, two processes at once, and bad input.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <future>
#include <thread>
#include <sstream>

#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"
#include "runner/exec/sandbox.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

struct Workspace {
  test::TestDir dir;
  fs::path ws = dir / "ws";
  fs::path marks = dir / "marks";  // outside the workspace, written by steps run with --sandbox off

  Workspace() {
    fs::create_directories(ws);
    fs::create_directories(marks);
  }
  test::CommandResult step(std::vector<std::string> args) {
    std::vector<std::string> argv{"step"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-C", ws.string()});
    return test::akbuild(dir, argv);
  }
  int count(const std::string& name) const {
    std::ifstream f(marks / name);
    int n = 0;
    std::string line;
    while (std::getline(f, line)) ++n;
    return n;
  }
  std::size_t action_entries() const {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir / "cache" / "ac", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file() && it->path().parent_path().filename() != "last") ++n;
    return n;
  }
};

std::string sha(const std::string& s) { return to_hex(sha256(s)); }

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

} // namespace

TEST_CASE("akbuild step: the second run is a hit, touch keeps it, a changed input misses with explain") {
  Workspace w;
  test::write(w.ws / "src" / "a.txt", "hello\n");
  test::write(w.ws / "notes.txt", "undeclared\n");
  std::vector<std::string> args{"exec", "--sandbox", "off", "--with", "inputs=src/**", "--with", "outputs=out/",
                                "--with", "env=MARKS=" + w.marks.string(), "--with",
                                "run=echo ran >> \"$MARKS/count\"; mkdir -p out; tr a-z A-Z < src/a.txt > out/up.txt"};
  auto first = w.step(args);
  INFO(first.out, first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(contains(first.out, "[exec] ran (key "));
  CHECK(test::read(w.ws / "out" / "up.txt") == "HELLO\n");
  CHECK(w.count("count") == 1);

  auto second = w.step(args);
  INFO(second.out, second.err);
  CHECK(second.exit_code == 0);
  CHECK(contains(second.out, "[exec] hit (key "));
  CHECK(w.count("count") == 1);

  SUBCASE("touch without a content change is still a hit") {
    auto later = fs::last_write_time(w.ws / "src" / "a.txt") + std::chrono::seconds(5);
    fs::last_write_time(w.ws / "src" / "a.txt", later);
    auto r = w.step(args);
    CHECK(contains(r.out, "[exec] hit"));
    CHECK(w.count("count") == 1);
  }
  SUBCASE("a change to an undeclared file is still a hit") {
    test::write(w.ws / "notes.txt", "changed\n");
    auto r = w.step(args);
    CHECK(contains(r.out, "[exec] hit"));
    CHECK(w.count("count") == 1);
  }
  SUBCASE("one byte changed in a declared input misses, and --explain names the file with both digests") {
    test::write(w.ws / "src" / "a.txt", "hellp\n");
    auto explain = args;
    explain.push_back("--explain");
    auto r = w.step(explain);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "[exec] miss: input src/a.txt: " + sha("hello\n").substr(0, 12) + " -> " +
                              sha("hellp\n").substr(0, 12)));
    CHECK(contains(r.out, "[exec] ran"));
    CHECK(w.count("count") == 2);
    CHECK(test::read(w.ws / "out" / "up.txt") == "HELLP\n");
  }
  SUBCASE("a deleted output is materialized again from the cache") {
    fs::remove_all(w.ws / "out");
    auto r = w.step(args);
    CHECK(contains(r.out, "[exec] hit"));
    CHECK(test::read(w.ws / "out" / "up.txt") == "HELLO\n");
  }
}

TEST_CASE("akbuild step --json prints one event object per line") {
  Workspace w;
  auto r = w.step({"exec", "--json", "--sandbox", "off", "--with", "run=echo hi"});
  REQUIRE(r.exit_code == 0);
  std::istringstream in(r.out);
  std::string line;
  int n = 0;
  bool saw_log = false;
  while (std::getline(in, line)) {
    ++n;
    auto event = nlohmann::json::parse(line);  // throws, failing the test, on a line that is not JSON
    REQUIRE(event.is_object());
    CHECK(event.contains("event"));
    if (event.value("event", "") == "log" && event.value("text", "") == "hi") saw_log = true;
  }
  CHECK(n >= 4);
  CHECK(saw_log);
}

TEST_CASE("akbuild step: a failing command exits 1 and caches nothing") {
  Workspace w;
  auto r = w.step({"exec", "--sandbox", "off", "--with", "run=echo broken >&2; exit 3"});
  CHECK(r.exit_code == 1);
  CHECK(contains(r.out, "[exec] broken"));
  CHECK(contains(r.out, "[exec] failed: command 'bash' failed: exit status 3"));
  CHECK(w.action_entries() == 0);
}

TEST_CASE("an entry added to a bound input directory while the step runs keeps its result out of the cache") {
  std::string why;
  if (!exec::sandbox_available(&why)) return test::skip("bubblewrap does not work here: " + why);
  Workspace w;
  test::write(w.ws / "src" / "sub" / "a.txt", "a\n");
  // src/ is bound whole into the sandbox: a file added on the host shows inside while it runs.
  auto run = std::async(std::launch::async, [&] {
    return w.step({"exec", "--id", "list", "--sandbox", "require", "--with", "inputs=src/**", "--with",
                   "outputs=out/", "--with", "run=mkdir -p out && touch out/started && sleep 2 && ls -R src > out/list"});
  });
  // The step has started once its run dir holds out/started.
  bool started = false;
  for (int i = 0; i < 2000 && !started; ++i) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(w.dir / "cache" / "tmp", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->path().filename() == "started") started = true;
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(started);
  test::write(w.ws / "src" / "sub" / "late.txt", "late\n");
  auto r = run.get();
  INFO(r.out, r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(test::read(w.ws / "out" / "list"), "late.txt"));
  CHECK(contains(r.out + r.err, "input src/sub: an entry added or removed while the step ran"));
  CHECK(w.action_entries() == 0);
}

TEST_CASE("inside the sandbox a step cannot read an undeclared workspace file nor reach the network") {
  std::string why;
  if (!exec::sandbox_available(&why)) {
    return test::skip("bubblewrap does not work here: " + why);
  }
  Workspace w;
  test::write(w.ws / "declared.txt", "ok\n");
  test::write(w.ws / "secret.txt", "secret\n");
  auto readable = w.step({"exec", "--sandbox", "require", "--with", "inputs=declared.txt", "--with",
                          "run=cat declared.txt"});
  INFO(readable.out, readable.err);
  CHECK(readable.exit_code == 0);
  auto secret = w.step({"exec", "--sandbox", "require", "--id", "s", "--with", "inputs=declared.txt", "--with",
                        "run=cat secret.txt"});
  CHECK(secret.exit_code == 1);
  CHECK(!contains(secret.out, "secret\n"));
  CHECK(contains(secret.out, "No such file"));

  // A listener on the host's loopback: reachable without the sandbox, not from inside it.
  auto port_file = w.dir / "port";
  auto server = test::sh("python3 -c 'import socket,sys\ns=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(8)\n"
                         "open(sys.argv[1]+\".tmp\",\"w\").write(str(s.getsockname()[1]))\n"
                         "import os; os.rename(sys.argv[1]+\".tmp\", sys.argv[1]); s.settimeout(20)\n"
                         "try:\n  while True: s.accept()[0].close()\nexcept Exception: pass' " +
                         port_file.string() + " >/dev/null 2>&1 &\n"
                         "for i in $(seq 1 100); do [ -s " + port_file.string() + " ] && exit 0; sleep 0.05; done; exit 1");
  REQUIRE(server.exit_code == 0);
  auto port = test::read(port_file);
  std::string probe = "run=exec 3<>/dev/tcp/127.0.0.1/" + port + " && echo connected";
  auto outside = w.step({"exec", "--sandbox", "off", "--id", "net-off", "--with", probe});
  CHECK(contains(outside.out, "connected"));
  // A different script: the same one would be a cache hit of the unsandboxed run (the key holds
  // what the step does, not where it ran).
  auto inside = w.step({"exec", "--sandbox", "require", "--id", "net-on", "--with", probe + " # inside"});
  CHECK(inside.exit_code == 1);
  CHECK(!contains(inside.out, "connected"));
}

TEST_CASE("a corrupt CAS blob is detected, the step re-runs, and the right output is materialized") {
  Workspace w;
  std::vector<std::string> args{"exec", "--sandbox", "off", "--with", "outputs=out/", "--with",
                                "env=MARKS=" + w.marks.string(), "--with",
                                "run=echo ran >> \"$MARKS/count\"; mkdir -p out; echo precious > out/p.txt"};
  REQUIRE(w.step(args).exit_code == 0);
  auto hex = sha("precious\n");
  auto blob = w.dir / "cache" / "cas" / "sha256" / hex.substr(0, 2) / hex.substr(2);
  REQUIRE(fs::exists(blob));
  fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
  test::write(blob, "tampered\n");
  fs::remove_all(w.ws / "out");

  auto r = w.step(args);
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "cache entry for exec was corrupt ("));
  CHECK(contains(r.out, "re-running"));
  CHECK(contains(r.out, "[exec] ran"));
  CHECK(w.count("count") == 2);
  CHECK(test::read(w.ws / "out" / "p.txt") == "precious\n");
  CHECK(contains(w.step(args).out, "[exec] hit"));
}

TEST_CASE("SIGKILL of akbuild in the middle of a step leaves no partial result") {
  Workspace w;
  std::string run = "run=if [ ! -e \"$MARKS/started\" ]; then echo $$ > \"$MARKS/started\"; exec sleep 30; fi; "
                    "mkdir -p out; echo done > out/r.txt";
  auto script = test::akbuild_bin().string() + " step exec -C " + w.ws.string() +
                " --sandbox off --with outputs=out/ --with env=MARKS=" + w.marks.string() + " --with '" + run +
                "' >/dev/null 2>&1 & pid=$!\n"
                "for i in $(seq 1 200); do [ -s " + (w.marks / "started").string() + " ] && break; sleep 0.05; done\n"
                "kill -9 $pid; wait $pid 2>/dev/null\n"
                "kill -9 $(cat " + (w.marks / "started").string() + ") 2>/dev/null; exit 0\n";
  test::CommandOptions o;
  o.env = {{"AKBUILD_CACHE_DIR", (w.dir / "cache").string()}, {"HOME", (w.dir / "home").string()}};
  auto killed = test::sh(script, o);
  REQUIRE(fs::exists(w.marks / "started"));
  CHECK(w.action_entries() == 0);
  CHECK(!fs::exists(w.ws / "out"));

  auto again = w.step({"exec", "--sandbox", "off", "--with", "outputs=out/", "--with", "env=MARKS=" + w.marks.string(),
                       "--with", run});
  INFO(again.out, again.err);
  CHECK(again.exit_code == 0);
  CHECK(contains(again.out, "[exec] ran"));
  CHECK(test::read(w.ws / "out" / "r.txt") == "done\n");
}

TEST_CASE("two akbuild processes running the same step on one cache dir run the command once") {
  Workspace w;
  test::write(w.ws / "in.txt", "same input\n");
  std::string run = "run=echo ran >> \"$MARKS/count\"; sleep 1; mkdir -p out; cat in.txt > out/r.txt";
  auto cmd = test::akbuild_bin().string() + " step exec -C " + w.ws.string() +
             " --sandbox off --with inputs=in.txt --with outputs=out/ --with env=MARKS=" + w.marks.string() +
             " --with '" + run + "'";
  test::CommandOptions o;
  o.env = {{"AKBUILD_CACHE_DIR", (w.dir / "cache").string()}, {"HOME", (w.dir / "home").string()}};
  auto both = test::sh(cmd + " > " + (w.dir / "a.out").string() + " 2>&1 & a=$!\n" + cmd + " > " +
                           (w.dir / "b.out").string() + " 2>&1 & b=$!\n"
                           "wait $a; ra=$?; wait $b; rb=$?; echo $ra $rb",
                       o);
  INFO(test::read(w.dir / "a.out"), test::read(w.dir / "b.out"));
  CHECK(both.out == "0 0\n");
  CHECK(w.count("count") == 1);
  auto outs = test::read(w.dir / "a.out") + test::read(w.dir / "b.out");
  CHECK(contains(outs, "[exec] ran"));
  CHECK(contains(outs, "[exec] hit"));
  CHECK(test::read(w.ws / "out" / "r.txt") == "same input\n");
}

TEST_CASE("bad input gets one line, exit 2, and nothing in the action cache") {
  Workspace w;
  fs::create_directories(w.dir / "elsewhere");
  fs::create_directory_symlink(w.dir / "elsewhere", w.ws / "link");
  auto bad = [&](std::vector<std::string> args, const std::string& message) {
    auto r = w.step(args);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, message));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(w.action_entries() == 0);
  };
  bad({"nokind", "--with", "run=true"}, "unknown step kind 'nokind' (kinds: exec");
  bad({"exec", "--with", "foo=1", "--with", "run=true"},
      "exec: unknown with: key 'foo' (valid: command, deps, env, exclude, fetch, hash, inputs, outputs, run");
  bad({"exec", "--with", "run=true", "--with", "inputs=src/[a"}, "exec: with: inputs: glob 'src/[a': unclosed '['");
  bad({"exec", "--with", "run=true", "--with", "outputs=../out"}, "exec: with: outputs: '../out' leaves the workspace");
  bad({"exec", "--with", "run=true", "--with", "outputs=/tmp/out"}, "exec: with: outputs: '/tmp/out' is absolute");
  bad({"exec", "--with", "run=true", "--with", "outputs=link/out"}, "goes through the symlink 'link'");

  test::write(w.dir / "file", "not a dir");
  auto r = test::akbuild(w.dir, {"step", "exec", "-C", w.ws.string(), "--with", "run=true"},
                         test::CommandOptions{{}, {{"AKBUILD_CACHE_DIR", (w.dir / "file" / "cache").string()}}});
  CHECK(r.exit_code == 2);
  CHECK(contains(r.err, "cache dir"));
}

TEST_CASE("a fetch step without a pin asks for `akbuild pin update`, which pins it by NAR hash") {
  Workspace w;
  std::vector<std::string> with{"--with", "fetch=true", "--with", "outputs=vendor/", "--with",
                                "run=mkdir -p vendor; echo dep-1 > vendor/dep.txt"};
  auto step = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"exec", "--id", "deps", "--sandbox", "off"};
    args.insert(args.end(), with.begin(), with.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return w.step(args);
  };
  auto unpinned = step({});
  CHECK(unpinned.exit_code == 1);
  // The hint is the command that pins this very step, and works pasted into a shell.
  auto at = unpinned.out.find("`akbuild pin update exec -C ");
  REQUIRE(at != std::string::npos);
  auto hint = unpinned.out.substr(at + 1, unpinned.out.find('`', at + 1) - at - 1);
  CHECK(contains(hint, " --with 'run=mkdir -p vendor; echo dep-1 > vendor/dep.txt' --id deps"));
  std::vector<std::string> pin{"pin", "update", "exec", "--id", "deps", "-C", w.ws.string(), "--sandbox", "off"};
  pin.insert(pin.end(), with.begin(), with.end());
  test::CommandOptions shell;
  shell.env = {{"PATH", test::akbuild_bin().parent_path().string() + ":" + std::getenv("PATH")},
               {"AKBUILD_CACHE_DIR", (w.dir / "cache").string()}, {"HOME", (w.dir / "home").string()},
               {"AKBUILD_EXECUTOR", "none"}};
  auto updated = test::sh(hint, shell);
  INFO(updated.out, updated.err);
  REQUIRE(updated.exit_code == 0);
  auto lock = test::read(w.ws / "akbuild.lock");
  CHECK(contains(lock, "\"deps\""));
  auto pos = lock.find("sha256-");
  REQUIRE(pos != std::string::npos);
  auto sri = lock.substr(pos, 51);
  if (test::have_program("nix-hash")) {
    // nix-hash prints base16; the pin is the same digest in SRI form.
    auto nix = test::run({"nix-hash", "--type", "sha256", (w.ws / "vendor").string()});
    auto bytes = from_base64(sri.substr(7));
    REQUIRE(bytes);
    CHECK(nix.out == to_hex(*bytes) + "\n");
  }
  CHECK(contains(step({}).out, "[deps] hit"));

  // The content the command makes changes: the pin no longer matches.
  with.back() = "run=mkdir -p vendor; echo dep-2 > vendor/dep.txt";
  auto mismatch = step({"--with", "hash=" + sri});
  INFO(mismatch.out);
  CHECK(mismatch.exit_code == 1);
  CHECK(contains(mismatch.out, "specified: " + sri));
  CHECK(contains(mismatch.out, "got:       sha256-"));
  CHECK(contains(mismatch.out, "changed: vendor/dep.txt"));
  CHECK(test::read(w.ws / "vendor" / "dep.txt") == "dep-1\n");

  // `pin update` recomputes pins from the lock file, never an explicit `hash:`: a wrong one fails
  // the update, as in a build, and the lock file is left as it was.
  auto explicit_pin = pin;
  explicit_pin.back() = with.back();
  explicit_pin.insert(explicit_pin.end(), {"--with", "hash=" + sri});
  auto checked = test::akbuild(w.dir, explicit_pin);
  INFO(checked.out, checked.err);
  CHECK(checked.exit_code == 1);
  CHECK(contains(checked.out + checked.err, "specified: " + sri));
  CHECK(test::read(w.ws / "akbuild.lock") == lock);

  // An empty `hash:` is no hash: the update computes the pin and records it.
  explicit_pin.back() = "hash=";
  auto empty = test::akbuild(w.dir, explicit_pin);
  INFO(empty.out, empty.err);
  CHECK(empty.exit_code == 0);
  CHECK(test::read(w.ws / "akbuild.lock") != lock);
  CHECK(contains(test::read(w.ws / "akbuild.lock"), "\"deps\""));
}

TEST_CASE("a tool inside node_modules is keyed by what is installed beside it") {
  Workspace w;
  fs::path modules = w.dir / "tools/node_modules";
  test::write(modules / "gen/bin/gen.js", "#!/bin/sh\necho generated\n", true);
  test::write(modules / "gen/package.json", R"({"name":"gen","version":"1.0.0"})");
  test::write(modules / "dep/package.json", R"({"name":"dep","version":"1.0.0"})");
  fs::create_directories(modules / ".bin");
  fs::create_symlink("../gen/bin/gen.js", modules / ".bin/gen");
  // Written last, as npm does.
  test::write(modules / ".package-lock.json", R"({"packages":{"node_modules/dep":{"version":"1.0.0"}}})");
  std::string tool = (modules / ".bin/gen").string();
  auto run = [&](bool explain = false) {
    std::vector<std::string> args{"exec", "--id", "gen", "--sandbox", "off", "--with", "tools=" + tool,
                                  "--with", "run=echo ran >> " + (w.marks / "gen").string()};
    if (explain) args.push_back("--explain");
    return w.step(args);
  };
  REQUIRE(run().exit_code == 0);
  REQUIRE(run().exit_code == 0);
  CHECK(w.count("gen") == 1);

  // A sibling package upgraded, the tool's own file unchanged: npm rewrites its lockfile.
  test::write(modules / ".package-lock.json", R"({"packages":{"node_modules/dep":{"version":"1.1.0"}}})");
  auto upgraded = run(true);
  REQUIRE(upgraded.exit_code == 0);
  CHECK(w.count("gen") == 2);
  CHECK(contains(upgraded.out + upgraded.err, "tool " + tool));
  CHECK(contains(upgraded.out + upgraded.err, ".package-lock.json"));
  REQUIRE(run().exit_code == 0);
  CHECK(w.count("gen") == 2);

  // A package changed behind npm's back (by hand, or a postinstall script) is newer than the
  // lockfile: as npm does, the lockfile no longer speaks for the tree.
  test::write(modules / "dep/package.json", R"({"name":"dep","version":"1.1.0-patched"})");
  fs::last_write_time(modules / "dep", fs::last_write_time(modules / ".package-lock.json") + std::chrono::seconds(1));
  REQUIRE(run().exit_code == 0);
  CHECK(w.count("gen") == 3);

  // Without npm's lockfile, the top-level packages' package.json files stand for the tree.
  // (That was already the case above, so removing the stale lockfile changes nothing.)
  fs::remove(modules / ".package-lock.json");
  REQUIRE(run().exit_code == 0);
  CHECK(w.count("gen") == 3);
  test::write(modules / "dep/package.json", R"({"name":"dep","version":"2.0.0"})");
  REQUIRE(run().exit_code == 0);
  CHECK(w.count("gen") == 4);

  // A fresh lockfile again, then a package removed behind npm's back: node_modules is newer.
  test::write(modules / ".package-lock.json", R"({"packages":{"node_modules/dep":{"version":"2.0.0"}}})");
  // (Newer than the folder times the steps above set a second ahead.)
  fs::last_write_time(modules / ".package-lock.json", fs::last_write_time(modules / "dep") + std::chrono::seconds(1));
  REQUIRE(run().exit_code == 0);
  CHECK(w.count("gen") == 5);
  fs::remove_all(modules / "dep");
  fs::last_write_time(modules, fs::last_write_time(modules / ".package-lock.json") + std::chrono::seconds(1));
  REQUIRE(run().exit_code == 0);
  CHECK(w.count("gen") == 6);
}

TEST_CASE("a step whose input changes while it runs is used once and not cached") {
  Workspace w;
  test::write(w.ws / "src.txt", "one\n");
  fs::path flag = w.marks / "edit";
  // With the flag, the command edits its own input in the workspace, as an editor saving
  // during the run would.
  std::string run = "cat src.txt > out.txt; echo ran >> " + (w.marks / "runs").string() + "; if [ -f " +
                    flag.string() + " ]; then echo two >> " + (w.ws / "src.txt").string() + "; fi";
  auto step = [&] {
    return w.step({"exec", "--id", "edit", "--sandbox", "off", "--with", "run=" + run, "--with", "inputs=src.txt",
                   "--with", "outputs=out.txt"});
  };
  test::write(flag, "");
  auto edited = step();
  REQUIRE(edited.exit_code == 0);
  CHECK(contains(edited.out + edited.err, "input src.txt: size or type changed while the step ran"));
  CHECK(test::read(w.ws / "out.txt") == "one\n");
  CHECK(w.action_entries() == 0);

  fs::remove(flag);
  REQUIRE(step().exit_code == 0);
  REQUIRE(step().exit_code == 0);
  CHECK(w.count("runs") == 2);
  CHECK(w.action_entries() == 1);
  CHECK(test::read(w.ws / "out.txt") == "one\ntwo\n");
}

TEST_CASE("inputs hashed through io_uring and with plain reads give the same key") {
  Workspace w;
  // Many small files (the batched path), one large (plain reads either way), and an empty one.
  for (int i = 0; i < 100; ++i) test::write(w.ws / ("src/d" + std::to_string(i % 7) + "/f" + std::to_string(i)), std::string(i * 37, 'a' + i % 26));
  test::write(w.ws / "src/big.bin", std::string(3 << 20, 'z'));
  test::write(w.ws / "src/empty", "");
  auto key_with = [&](const std::string& io_uring) {
    test::CommandOptions options;
    options.env = {{"AKBUILD_IO_URING", io_uring}, {"AKBUILD_CACHE_DIR", (w.dir / ("cache-" + io_uring)).string()}};
    auto r = test::akbuild(w.dir, {"step", "exec", "-n", "--json", "-C", w.ws.string(), "--with", "inputs=src/**",
                                   "--with", "run=true"}, options);
    REQUIRE(r.exit_code == 0);
    auto at = r.out.find("\"key\":\"");
    REQUIRE(at != std::string::npos);
    return r.out.substr(at + 7, 64);
  };
  CHECK(key_with("0") == key_with("1"));
}

TEST_CASE("the action key follows each fact the manifest names: env value, symlink target, tool content") {
  // (The env value is keyed twice: as the `env` parameter and as an env line.)
  Workspace w;
  test::write(w.ws / "a.txt", "a\n");
  fs::create_symlink("a.txt", w.ws / "link");
  // A tool whose --version stays the same while its content changes.
  test::write(w.dir / "bin" / "gen", "#!/bin/sh\n[ \"$1\" = --version ] && echo gen 1 && exit 0\necho v1\n", true);
  test::CommandOptions o;
  o.env["PATH"] = (w.dir / "bin").string() + ":" + std::getenv("PATH");
  // The key of one dry planning of the step, from `step --json`'s events.
  auto key = [&](const std::string& env_value) {
    auto r = test::akbuild(w.dir, {"step", "exec", "--id", "facts", "--sandbox", "off", "-C", w.ws.string(), "--json",
                                   "--with", "run=gen > out.txt", "--with", "inputs=[\"a.txt\", \"link\"]",
                                   "--with", "outputs=out.txt", "--with", "tools=[\"gen\"]", "--with", "env=V=" + env_value},
                           o);
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      auto e = nlohmann::json::parse(line, nullptr, false);
      if (e.is_object() && e.contains("key") && e["key"].is_string() && e["key"].get<std::string>().size() == 64)
        return e["key"].get<std::string>();
    }
    FAIL("no key in --json output: " << r.out);
    return std::string();
  };
  auto base = key("one");
  CHECK(key("one") == base);
  CHECK(key("two") != base);  // the env value
  fs::remove(w.ws / "link");
  test::write(w.ws / "b.txt", "a\n");
  fs::create_symlink("b.txt", w.ws / "link");
  auto relinked = key("one");
  CHECK(relinked != base);  // the symlink target
  test::write(w.dir / "bin" / "gen", "#!/bin/sh\n[ \"$1\" = --version ] && echo gen 1 && exit 0\necho v2\n", true);
  CHECK(key("one") != relinked);  // the tool's content
}

TEST_CASE("a step whose input is chmod'ed while it runs is not cached") {
  Workspace w;
  test::write(w.ws / "src.txt", "one\n");
  fs::permissions(w.ws / "src.txt", fs::perms(0644));
  std::string run = "cat src.txt > out.txt; chmod 600 " + (w.ws / "src.txt").string();
  auto r = w.step({"exec", "--id", "chmod", "--sandbox", "off", "--with", "run=" + run, "--with", "inputs=src.txt",
                   "--with", "outputs=out.txt"});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out + r.err, "input src.txt: permissions changed while the step ran"));
  CHECK(w.action_entries() == 0);
}
