#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/examples/stack_support.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The layer digests of the image, in order.
std::vector<std::string> layers(const test::TestDir& dir) {
  auto index = json::parse(test::read(dir / "stack/image/index.json"));
  std::string digest = index["manifests"][0]["digest"];
  auto manifest = json::parse(test::read(dir / "stack/image/blobs/sha256" / digest.substr(7)));
  std::vector<std::string> out;
  for (const auto& l : manifest["layers"]) out.push_back(l["digest"]);
  return out;
}

// The summary lines of run-main's output ("  id  hit|ran  S s"), after "steps:".
std::map<std::string, std::string> states(const std::string& out) {
  std::map<std::string, std::string> s;
  std::istringstream in(out);
  std::string line;
  bool in_steps = false;
  while (std::getline(in, line)) {
    if (line == "steps:") { in_steps = true; continue; }
    if (!in_steps) continue;
    if (!line.starts_with("  ")) break;
    std::istringstream words(line);
    std::string id, state;
    words >> id >> state;
    s[id] = state;
  }
  return s;
}

// The last `n` lines of `out`.
std::vector<std::string> last_lines(const std::string& out, std::size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

} // namespace

TEST_CASE("the example stack builds into an image whose server serves the web UI and the API, and rebuilds only what changed") {
  for (const char* tool : {"npm", "node", "go", "umoci"}) {
    if (!test::have_program(tool)) return test::skip(std::string(tool) + " is not installed");
  }
  test::TestDir dir;
  fs::copy(test::source_root() / "examples/stack", dir / "stack", fs::copy_options::recursive);
  for (const char* generated : {"py/wheels", "py/.venv", "web/node_modules", "web/dist", "gen", "bin", "image"})
    fs::remove_all(dir / "stack" / generated);

  auto first = run_main(dir);
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK(first.out.find("digest: sha256:") != std::string::npos);
  auto before = layers(dir);
  REQUIRE(before.size() == 3);

  // The server from the unpacked image, run from its rootfs, serves the UI and the API.
  auto unpack = test::run({"umoci", "unpack", "--rootless", "--image", (dir / "stack/image").string() + ":stack:latest",
                           (dir / "bundle").string()});
  REQUIRE_MESSAGE(unpack.exit_code == 0, unpack.err);
  auto rootfs = dir / "bundle/rootfs";
  REQUIRE(fs::exists(rootfs / "bin/server"));
  CHECK(fs::exists(rootfs / "venv/pyvenv.cfg"));
  CHECK(fs::exists(rootfs / "web/dist/sfe/sfe.js"));
  test::CommandOptions probe_options;
  probe_options.cwd = rootfs;
  auto probe = test::sh(R"(set -e
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LISTEN=127.0.0.1:$port ./bin/server & pid=$!
trap 'kill $pid' EXIT
/usr/bin/python3 - "$port" <<'PY'
import json, sys, time, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/api/health"); break
    except OSError:
        time.sleep(0.1)
print("health", json.load(urllib.request.urlopen(base + "/api/health")))
print("index", "Example stack" in urllib.request.urlopen(base + "/").read().decode())
print("bundle", len(urllib.request.urlopen(base + "/main.js").read()) > 100)
req = urllib.request.Request(base + "/api/items", data=b'{"name": "first"}', headers={"Content-Type": "application/json"})
print("created", json.load(urllib.request.urlopen(req)))
print("items", json.load(urllib.request.urlopen(base + "/api/items")))
PY
)", probe_options);
  CHECK_MESSAGE(probe.exit_code == 0, probe.err);
  CHECK(probe.out.find("health {'status': 'ok', 'version': '1.0.0'}") != std::string::npos);
  CHECK(probe.out.find("index True") != std::string::npos);
  CHECK(probe.out.find("bundle True") != std::string::npos);
  CHECK(probe.out.find("items [{'id': 1, 'name': 'first', 'done': False}]") != std::string::npos);

  // The venv's console script runs through its relocatable shebang, from the venv's python.
  auto script = test::read(dir / "stack/py/.venv/bin/tinydep");
  CHECK(script.rfind("#!/bin/sh\n", 0) == 0);
  CHECK(script.find((dir / "stack").string()) == std::string::npos);
  auto greet = test::run({(dir / "stack/py/.venv/bin/tinydep").string(), "akbuild"});
  CHECK(greet.out == "hello, akbuild\n");

  // A second run hits everywhere and gives the same image.
  auto second = run_main(dir);
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  auto second_states = states(second.out);
  CHECK(second_states.size() == test::stack_steps);  // every akbuild step of the workflow reported
  for (const auto& [id, state] : second_states) CHECK_MESSAGE(state == "hit", id << " " << state);
  CHECK(layers(dir) == before);

  // Editing one .ts file re-runs the web bundle (and the image), and changes only the web layer.
  std::ofstream(dir / "stack/web/src/main.ts", std::ios::app) << "console.info(\"edited\");\n";
  auto third = run_main(dir);
  REQUIRE_MESSAGE(third.exit_code == 0, (third.out + third.err));
  auto s = states(third.out);
  CHECK(s["web"] == "ran");
  for (const char* id : {"client-ts", "web-deps", "venv", "server"}) CHECK_MESSAGE(s[id] == "hit", id);
  auto after = layers(dir);
  REQUIRE(after.size() == 3);
  CHECK(after[0] == before[0]);
  CHECK(after[1] != before[1]);
  CHECK(after[2] == before[2]);
}

namespace {
std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + what.size())) ++n;
  return n;
}
} // namespace

TEST_CASE("akbuild act lists, dry-runs and builds the example stack's workflow, then hits everywhere") {
  for (const char* tool : {"npm", "node", "go"}) {
    if (!test::have_program(tool)) return test::skip(std::string(tool) + " is not installed");
  }
  test::TestDir dir;
  fs::copy(test::source_root() / "examples/stack", dir / "stack", fs::copy_options::recursive);
  for (const char* generated : {"py/wheels", "py/.venv", "web/node_modules", "web/dist", "gen", "bin", "image"})
    fs::remove_all(dir / "stack" / generated);
  test::CommandOptions o;
  o.cwd = dir / "stack";
  o.env["PATH"] = (test::source_root() / ".tools/node_modules/.bin").string() + ":" + std::getenv("PATH");
  auto act = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "act");
    return test::akbuild(dir, args, o);
  };

  auto list = act({"-l"});
  REQUIRE_MESSAGE(list.exit_code == 0, list.err);
  CHECK(list.out.find("Stage  Job ID  Job name  Workflow name  Workflow file  Events") != std::string::npos);
  CHECK(list.out.find("build.yaml") != std::string::npos);

  // Nothing built yet: every akbuild step has a key and would run; nothing is written.
  auto dry = act({"-n"});
  REQUIRE_MESSAGE(dry.exit_code == 0, (dry.out + dry.err));
  CHECK(count(dry.out, ": key ") == test::stack_steps);
  CHECK(count(dry.out, "miss: would run") == test::stack_steps);
  CHECK_FALSE(fs::exists(dir / "stack/image"));

  auto run = act({});
  REQUIRE_MESSAGE(run.exit_code == 0, (run.out + run.err));
  CHECK(run.out.find("image stack:latest: sha256:") != std::string::npos);
  CHECK(fs::exists(dir / "stack/image/index.json"));

  // Built: the dry run says hit for all seven, and a real run is seven cache hits.
  auto dry_after = act({"-n"});
  REQUIRE(dry_after.exit_code == 0);
  CHECK(count(dry_after.out, "miss: would run") == 0);
  CHECK(count(dry_after.out, " hit\n") == test::stack_steps);
  auto again = act({});
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK(count(again.out, "cache hit") == test::stack_steps);

  // The main job (scripts/main runs examples/run-main through act) ends with the per-step
  // summary, the image's digest, where its layout is and how to load it; the reference it
  // prints names the image.
  auto main = test::run_main(dir, "stack", "cache", "act");
  REQUIRE_MESSAGE(main.exit_code == 0, (main.out + main.err));
  auto layout = (dir / "stack/image").string();
  auto tail = last_lines(main.out, 13);
  REQUIRE(tail.size() == 13);
  CHECK(tail[0] == "steps:");
  auto summary = states(main.out);
  CHECK(summary.size() == test::stack_steps);
  for (const char* id : {"wheelhouse", "client-ts", "web-deps", "web", "venv", "server", "image"}) CHECK_MESSAGE(summary[id] == "hit", id);
  CHECK(tail[8] == "image:  stack:latest");
  CHECK(tail[9] == "digest: " + test::image_digest(dir, "stack"));
  CHECK(tail[10] == "layout: " + layout + " (OCI image layout)");
  CHECK(tail[11] == "load:   skopeo copy oci:" + layout + ":stack:latest docker-daemon:stack:latest  (docker)");
  CHECK(tail[12] == "        skopeo copy oci:" + layout + ":stack:latest containers-storage:stack:latest  (podman)");
  if (test::have_program("skopeo")) {
    auto inspect = test::run({"skopeo", "inspect", "oci:" + layout + ":stack:latest"});
    CHECK_MESSAGE(inspect.exit_code == 0, inspect.err);
    CHECK(inspect.out.find(test::image_digest(dir, "stack")) != std::string::npos);
  }
}
