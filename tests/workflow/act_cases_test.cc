// act's own runner tests (forgejo-runner's act/runner/runner_test.go, TestRunEvent), the cases
// that need neither Docker nor the network, run the way act runs them: the workflow with the
// case's folder as the workspace, its event (and event.json payload), the secrets the table
// gives, and act's verdict: success, or an error holding the message listed. The workflows in
// tests/data/act_cases/ are written here from what each act case checks; the remote actions and
// workflows they use are stand-ins (tests/data/act_actions/) served from local git repositories.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::TestDir;
namespace fs = std::filesystem;

namespace {

struct ActCase {
  const char* name;
  const char* error;   // act's error message; "" when act expects success
  std::vector<std::string> secrets{};
  // What act's test gives its Config besides: Env (the case's config/config.yml) as --env,
  // Inputs as --input, Matrix as --matrix.
  std::vector<std::string> args{};
};

const std::vector<ActCase>& cases() {
  static const std::vector<ActCase> all = {
      {"shells-defaults", ""},
      {"shells-bash", ""},
      {"shells-sh", ""},
      {"shells-python", ""},
      {"shells-node", ""},
      {"shells-custom", ""},
      {"local-action-js", ""},
      {"uses-composite", ""},
      {"uses-composite-with-error", "Job 'failing-composite-action' failed"},
      {"uses-nested-composite", ""},
      {"uses-workflow-local", "", {"secret=keep_it_private"}},
      {"evalmatrix", ""},
      {"evalmatrixneeds", ""},
      {"evalmatrix-merge-map", ""},
      {"fail", "Job 'build' failed"},
      {"checkout", ""},
      {"matrix", ""},
      {"matrix-include-exclude", ""},
      {"matrix-exitcode", "Job 'test' failed"},
      {"commands", ""},
      {"defaults-run", ""},
      {"composite-fail-with-output", ""},
      {"if-env-act", ""},
      {"if-access-env", ""},
      {"environment-files", ""},
      {"non-existent-action", "Job 'nopanic' failed"},
      {"outputs", ""},
      {"steps-context-conclusion", ""},
      {"steps-context-outcome", ""},
      {"job-status-check", "Job 'fail' failed"},
      {"if-expressions", "Job 'mytest' failed"},
      {"evalenv", ""},
      {"ensure-post-steps", "Job 'second-post-step-should-fail' failed"},
      {"workflow_dispatch", ""},
      {"workflow_dispatch-scalar", ""},
      {"uses-workflow-defaults", ""},
      {"job-needs-context-contains-result", ""},
      {"do-not-leak-step-env-in-composite", ""},
      {"set-env-step-env-override", ""},
      {"set-env-new-env-file-per-step", ""},
      {"stepsummary", ""},
      {"pull-request", ""},
      {"GITHUB_STATE", ""},
      {"environment-files-parser-bug", ""},
      {"issue-597", ""},
      {"issue-598", ""},
      {"path-handling", ""},
      {"tool-cache", "", {}, {"--env", "RUNNER_TOOL_CACHE=/srv/elsewhere"}},
      {"workdir", ""},
      {"runs-on", ""},
      {"matrix-shell", ""},
      {"evalmatrixneeds2", ""},
      {"evalmatrix-merge-array", ""},
      {"uses-composite-check-for-input-collision", ""},
      {"uses-composite-check-for-input-in-if-uses", ""},
      {"uses-composite-check-for-input-shadowing", ""},
      {"act-composite-env-test", ""},
      {"uses-workflow-env-input", ""},
      {"workflow_call_inputs", ""},
      {"workflow_dispatch_no_inputs_mapping", ""},
      {"workflow_dispatch-scalar-composite-action", ""},
      {"no-panic-on-invalid-composite-action", "missing steps in composite action"},
      {"local-action-fails-schema-validation", "Job 'test' failed"},
      {"env-and-path", ""},
      {"GITHUB_ENV-use-in-env-ctx", ""},
      {"uses-action-with-pre-and-post-step", ""},
      {"strategy", ""},
      {"remote-action-js", ""},
      {"uses-workflow-remote-relative", "", {"secret=keep_it_private"}},
      {"timeout-minutes-job", "context deadline exceeded"},
      {"remote-action-composite-action-ref", ""},
      // The other tests of runner_test.go that run a workflow of testdata/ the same way.
      {"input-from-cli", "", {}, {"--input", "SOME_INPUT=given"}},
      {"matrix-with-user-inclusions", "", {}, {"--matrix", "node:8", "--matrix", "node:8.x", "--matrix", "os:ubuntu-18.04"}},
      {"skipjob", ""},
      {"skipstep", ""},
  };
  return all;
}

std::set<std::string> files_under(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

// The stand-in remote actions, each <owner>/<repo> a git repository with branch main and tag v1;
// the file:// URL to serve them from.
std::string serve_actions(const TestDir& server) {
  fs::copy(test::source_root() / "tests/data/act_actions", server / "actions", fs::copy_options::recursive);
  for (const auto& owner : fs::directory_iterator(server / "actions")) {
    if (!owner.is_directory()) continue;
    for (const auto& repo : fs::directory_iterator(owner.path())) {
      test::CommandOptions in_repo;
      in_repo.cwd = repo.path();
      auto init = test::sh("git init -q -b main && git add -A && "
                           "git -c user.email=a@b -c user.name=a commit -qm stand-in && git tag v1",
                           in_repo);
      REQUIRE_MESSAGE(init.exit_code == 0, init.err);
    }
  }
  return "file://" + (server / "actions").string();
}

test::CommandResult run_case(const TestDir& dir, const ActCase& c, const std::string& actions_url, bool dry_run) {
  std::vector<std::string> args{"act", "-C", (dir / "ws").string(), "-W", "workflow.yml"};
  if (fs::exists(dir / "ws/event.json")) args.insert(args.end(), {"-e", (dir / "ws/event.json").string()});
  for (const auto& s : c.secrets) args.insert(args.end(), {"--secret", s});
  args.insert(args.end(), c.args.begin(), c.args.end());
  if (dry_run) args.push_back("-n");
  test::CommandOptions options;
  options.env = {{"AKBUILD_DEFAULT_ACTIONS_URL", actions_url}};
  return test::akbuild(dir, args, options);
}

// act's check (assert.ErrorContains): the run's error, act's last line, holds the message.
bool error_holds(const std::string& out, const std::string& message) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("Error: ") && line.find(message) != std::string::npos) return true;
  return false;
}

} // namespace

TEST_CASE("act's runner test cases that run here agree with act, case by case, and their dry runs run nothing") {
  fs::path data = test::source_root() / "tests/data/act_cases";
  TestDir server;
  const std::string actions_url = serve_actions(server);
  int agree = 0, dry_agree = 0;
  for (const auto& c : cases()) {
    std::string name = c.name;
    CAPTURE(name);
    TestDir dir;
    fs::copy(data / c.name, dir / "ws", fs::copy_options::recursive);
    auto before = files_under(dir / "ws");
    auto dry = run_case(dir, c, actions_url, true);
    // act's dry run plans every job and runs no step: it succeeds whatever the steps would do.
    bool dry_ok = dry.exit_code == 0 && files_under(dir / "ws") == before;
    std::istringstream lines(dry.out);
    for (std::string line; std::getline(lines, line);) dry_ok = dry_ok && line.starts_with("*DRYRUN* ");
    CHECK_MESSAGE(dry_ok, (dry.out + dry.err));
    dry_agree += dry_ok;

    auto r = run_case(dir, c, actions_url, false);
    std::string expected = c.error;
    bool ok = expected.empty() ? r.exit_code == 0 : r.exit_code == 1 && error_holds(r.out, expected);
    CHECK_MESSAGE(ok, (r.out + r.err));
    agree += ok;
  }
  MESSAGE(agree << " of " << cases().size() << " act runner cases agree; dry runs: " << dry_agree);
  CHECK(agree == static_cast<int>(cases().size()));
}
