#!/usr/bin/python3
"""`akbuild runner` against a Forgejo stand-in (forgejo_standin.py): registration, Declare, tasks
that succeed, fail and are cancelled, lost answers and 5xx answers, SIGTERM during a job."""
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest

from forgejo_standin import Server, pb

AKBUILD = os.environ.get("AKBUILD_BIN", "akbuild")

SUCCEEDS = """name: ci
on: push
jobs:
  build:
    runs-on: nix-container-builder
    needs: [prepare]
    outputs:
      greeting: ${{ steps.one.outputs.greeting }}
    steps:
      - id: one
        name: first
        run: |
          echo "the key is ${{ secrets.DEPLOY_KEY }}"
          echo "the colour is ${{ vars.COLOR }}"
          echo "greeting=hello-${{ vars.COLOR }}" >> "$GITHUB_OUTPUT"
      - name: second
        run: echo "second says ${{ steps.one.outputs.greeting }} after ${{ needs.prepare.outputs.made }}"
      - name: third
        run: echo "third step on ${{ github.repository }}"
"""

FAILS = """on: push
jobs:
  test:
    runs-on: nix-container-builder
    steps:
      - name: fine
        run: echo fine
      - name: broken
        run: |
          echo about to fail
          exit 3
      - name: never
        run: echo never runs
"""

SLEEPS = """on: push
jobs:
  slow:
    runs-on: nix-container-builder
    steps:
      - name: first
        run: echo started
      - name: sleeper
        run: |
          echo sleeping
          sleep 120
      - name: after
        run: echo after
"""


class RunnerTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="akbuild-runner-test-")
        self.server = Server()
        self.forgejo = self.server.forgejo
        self.env = dict(os.environ, HOME=self.dir, TMPDIR=self.dir, AKBUILD_CACHE_DIR=os.path.join(self.dir, "cache"),
                        AKBUILD_EXECUTOR="none")
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            if self.daemon.poll() is None:
                self.daemon.kill()
            self.daemon.communicate()
        self.server.close()
        # Kept when the test failed (or with AKBUILD_TEST_KEEP=1), as the C++ tests keep theirs.
        passed = getattr(getattr(self, "_outcome", None), "success", True)
        if passed and os.environ.get("AKBUILD_TEST_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("kept " + self.dir)

    def akbuild(self, *args):
        return subprocess.run([AKBUILD, *args], env=self.env, cwd=self.dir, capture_output=True, text=True, timeout=60)

    def register(self, token="reg-token-0123456789", extra=()):
        return self.akbuild("runner", "register", "--no-interactive", "--instance", self.server.url, "--token", token,
                            "--name", "builder-1", *extra)

    def start_daemon(self, extra_config="", extra_args=()):
        r = self.register()
        self.assertEqual(r.returncode, 0, r.stderr)
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write("runner:\n  fetch_interval: 100ms\n  report_interval: 200ms\n"
                    "  report_retry:\n    initial_delay: 50ms\n" + extra_config)
        self.daemon = subprocess.Popen([AKBUILD, "runner", "-c", config, "daemon", *extra_args], env=self.env, cwd=self.dir,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        declared = self.forgejo.wait(lambda: any(r["declared"] for r in self.forgejo.runners.values()), 30)
        self.assertTrue(declared, "the daemon did not declare itself")

    def stop_daemon(self):
        self.daemon.send_signal(signal.SIGTERM)
        out, err = self.daemon.communicate(timeout=60)
        return self.daemon.returncode, err

    def steps(self, task_id):
        return [(s.id, s.result) for s in self.forgejo.tasks[task_id].state.steps]

    # -- registration
    def test_register_writes_the_runner_file_0600_in_forgejo_runners_format(self):
        r = self.register(extra=("--labels", "nix-container-builder:host,big"))
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(self.dir, ".runner")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            text = f.read()
        data = json.loads(text)
        self.assertEqual(list(data), ["WARNING", "id", "uuid", "name", "token", "address", "labels"])
        self.assertTrue(text.startswith('{\n  "WARNING": '))
        runner = self.forgejo.runners[data["uuid"]]
        self.assertEqual(data["token"], runner["token"])
        self.assertEqual(data["address"], self.server.url)
        self.assertEqual(data["name"], "builder-1")
        self.assertEqual(data["labels"], ["nix-container-builder:host", "big"])
        # Only the names go over the wire, after a ping with the runner's name.
        self.assertEqual(runner["labels"], ["nix-container-builder", "big"])
        self.assertEqual(self.forgejo.pings, ["builder-1"])
        register_headers = [h for name, h in self.forgejo.calls if name == "Register"][0]
        self.assertNotIn("x-runner-token", register_headers)

    def test_tls_is_verified_unless_insecure_is_asked_for(self):
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        tls = Server(tls=(cert, key))
        try:
            args = ("runner", "register", "--instance", tls.url, "--token", "reg-token-0123456789", "--name", "t")
            r = self.akbuild(*args)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("certificate verify failed", r.stderr)
            r = self.akbuild(*args, "--insecure")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(tls.forgejo.runners), 1)
        finally:
            tls.close()

    def test_a_wrong_registration_token_is_one_line_and_exit_1(self):
        r = self.register(token="wrong-token-value")
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("refused the registration", lines[0])
        self.assertIn("runner registration token not found", lines[0])
        self.assertNotIn("wrong-token-value", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, ".runner")))

    def test_register_asks_for_what_the_flags_leave_out_unless_told_not_to(self):
        answers = self.server.url + "\nreg-token-0123456789\nasked-name\n\n"
        r = subprocess.run([AKBUILD, "runner", "register"], input=answers, env=self.env, cwd=self.dir,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Runner registration token", r.stderr)
        with open(os.path.join(self.dir, ".runner")) as f:
            data = json.load(f)
        self.assertEqual(data["name"], "asked-name")
        self.assertEqual(data["labels"], ["nix-container-builder:host"])
        r = subprocess.run([AKBUILD, "runner", "register", "--no-interactive"], input=answers, env=self.env,
                           cwd=self.dir, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--instance and --token", r.stderr)

    def test_a_docker_label_is_a_usage_error(self):
        r = self.register(extra=("--labels", "ubuntu-latest:docker://node:20"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("label 'ubuntu-latest:docker://node:20'", r.stderr)
        self.assertEqual(self.forgejo.runners, {})

    # -- tasks
    def test_declare_then_a_task_that_succeeds(self):
        self.start_daemon()
        declared = list(self.forgejo.runners.values())[0]["declared"]
        self.assertEqual(declared["labels"], ["nix-container-builder"])
        self.assertTrue(declared["version"].startswith("akbuild "))
        task = self.forgejo.add_task(SUCCEEDS, secrets={"DEPLOY_KEY": "s3cr3t-deploy-value"},
                                     variables={"COLOR": "blue", "PADDING": "p" * 1200},
                                     needs={"prepare": (pb.RESULT_SUCCESS, {"made": "yes"})})
        self.assertTrue(self.forgejo.wait_finished(task), self.daemon_log())
        t = self.forgejo.tasks[task]
        self.assertEqual(t.result, pb.RESULT_SUCCESS, "\n".join(self.forgejo.log_lines(task)))
        self.assertEqual(self.steps(task), [(0, pb.RESULT_SUCCESS), (1, pb.RESULT_SUCCESS), (2, pb.RESULT_SUCCESS)])
        first, second, third = (self.forgejo.log_lines(task, i) for i in range(3))
        self.assertIn("the key is ***", first)
        self.assertIn("the colour is blue", first)
        self.assertIn("second says hello-blue after yes", second)
        self.assertIn("third step on owner/repo", third)
        for rows, foreign in ((first, "second says"), (second, "third step"), (third, "the colour")):
            self.assertFalse(any(foreign in r for r in rows), rows)
        self.assertFalse(any("s3cr3t-deploy-value" in r for r in self.forgejo.log_lines(task)))
        self.assertEqual(t.outputs, {"greeting": "hello-blue"})
        for s in t.state.steps:
            self.assertTrue(s.started_at.seconds > 0 and s.stopped_at.seconds >= s.started_at.seconds)
        self.assertTrue(t.archived)
        self.assertGreater(self.forgejo.gzipped, 0)  # the task (over 1 KiB) came gzip-compressed
        code, err = self.stop_daemon()
        self.assertEqual(code, 0, err)

    def test_akbuild_steps_run_together_keep_their_rows_apart(self):
        self.start_daemon()
        step = ("      - id: %s\n        uses: akbuild/step@v1\n        with:\n          kind: exec\n"
                "          run: for i in 1 2 3 4 5; do echo %s-$i; sleep 0.1; done > %s.txt; cat %s.txt\n"
                "          outputs: %s.txt\n")
        payload = ("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n" + step % (("left",) * 5) +
                   step % (("right",) * 5) + "      - run: echo done $(cat left.txt right.txt | wc -l)\n")
        task = self.forgejo.add_task(payload)
        self.assertTrue(self.forgejo.wait_finished(task, 120), self.daemon_log())
        self.assertEqual(self.forgejo.tasks[task].result, pb.RESULT_SUCCESS, self.forgejo.log_lines(task))
        left, right, last = (self.forgejo.log_lines(task, i) for i in range(3))
        self.assertEqual([r for r in left if "-" in r and r[-1].isdigit()], ["left-%d" % i for i in range(1, 6)], left)
        self.assertEqual([r for r in right if "-" in r and r[-1].isdigit()], ["right-%d" % i for i in range(1, 6)],
                         right)
        self.assertIn("done 10", last)

    def test_a_task_that_fails_reports_the_later_step_skipped(self):
        self.start_daemon()
        task = self.forgejo.add_task(FAILS)
        self.assertTrue(self.forgejo.wait_finished(task), self.daemon_log())
        self.assertEqual(self.forgejo.tasks[task].result, pb.RESULT_FAILURE)
        self.assertEqual(self.steps(task), [(0, pb.RESULT_SUCCESS), (1, pb.RESULT_FAILURE), (2, pb.RESULT_SKIPPED)])
        self.assertIn("about to fail", self.forgejo.log_lines(task, 1))
        self.assertFalse(any("never runs" in r for r in self.forgejo.log_lines(task)))
        self.assertEqual(self.forgejo.tasks[task].outputs, {})

    def test_a_task_the_server_cancels_is_killed_and_reported_cancelled(self):
        self.start_daemon()
        task = self.forgejo.add_task(SLEEPS)
        t = self.forgejo.tasks[task]
        self.assertTrue(self.forgejo.wait(lambda: any("sleeping" in r.content for r in t.rows), 30), self.daemon_log())
        cancelled_at = time.time()
        self.forgejo.cancel(task)
        self.assertTrue(self.forgejo.wait_finished(task, 30), self.daemon_log())
        self.assertLess(t.finished_at - cancelled_at, 10)
        self.assertEqual(t.result, pb.RESULT_CANCELLED)
        self.assertEqual(self.steps(task), [(0, pb.RESULT_SUCCESS), (1, pb.RESULT_CANCELLED), (2, pb.RESULT_CANCELLED)])
        self.assertFalse(any("after" == r for r in self.forgejo.log_lines(task)))

    def test_lost_answers_and_5xx_lose_and_double_no_row(self):
        for method in ("UpdateLog", "UpdateTask"):
            self.forgejo.fault(method, "lost", 2)
            self.forgejo.fault(method, "5xx", 2)
        self.forgejo.fault("FetchTask", "5xx", 1)
        # The answer that hands out the task is lost: the request key brings the same task back.
        self.forgejo.fault("FetchTask", "lost", 1)
        payload = "on: push\njobs:\n  many:\n    runs-on: x\n    steps:\n" + "".join(
            "      - name: s%d\n        run: for i in $(seq 1 20); do echo s%d-row-$i; done\n" % (i, i) for i in range(3))
        task = self.forgejo.add_task(payload)
        self.start_daemon()
        self.assertTrue(self.forgejo.wait_finished(task, 60), self.daemon_log())
        self.assertEqual(self.forgejo.tasks[task].result, pb.RESULT_SUCCESS)
        rows = self.forgejo.log_lines(task)
        for i in range(3):
            want = ["s%d-row-%d" % (i, n) for n in range(1, 21)]
            got = [r for r in rows if r.startswith("s%d-row-" % i)]
            self.assertEqual(got, want)
            self.assertEqual([r for r in self.forgejo.log_lines(task, i) if r.startswith("s")], want)
        self.assertEqual(len(rows), len(set(rows)), rows)
        self.assertTrue(all(f["count"] == 0 for f in self.forgejo.faults), self.forgejo.faults)

    def test_sigterm_during_a_job_cancels_it_after_the_grace_and_exits(self):
        self.start_daemon("  shutdown_timeout: 1s\n")
        task = self.forgejo.add_task(SLEEPS)
        t = self.forgejo.tasks[task]
        self.assertTrue(self.forgejo.wait(lambda: any("sleeping" in r.content for r in t.rows), 30), self.daemon_log())
        waiting = self.forgejo.add_task(FAILS)  # must not be taken once stopping
        self.daemon.send_signal(signal.SIGTERM)
        out, err = self.daemon.communicate(timeout=30)
        self.assertEqual(self.daemon.returncode, 0, err)
        self.assertTrue(self.forgejo.wait_finished(task, 5))
        self.assertEqual(t.result, pb.RESULT_CANCELLED)
        self.assertEqual(self.steps(task)[1], (1, pb.RESULT_CANCELLED))
        self.assertIsNone(self.forgejo.tasks[waiting].fetched_at)
        self.assertIn("stopping", err)

    def test_sigterm_lets_a_short_job_finish(self):
        self.start_daemon("  shutdown_timeout: 30s\n")
        payload = SLEEPS.replace("sleep 120", "sleep 2")
        task = self.forgejo.add_task(payload)
        t = self.forgejo.tasks[task]
        self.assertTrue(self.forgejo.wait(lambda: any("sleeping" in r.content for r in t.rows), 30), self.daemon_log())
        self.daemon.send_signal(signal.SIGTERM)
        self.daemon.communicate(timeout=30)
        self.assertEqual(self.daemon.returncode, 0)
        self.assertEqual(t.result, pb.RESULT_SUCCESS)

    def test_checkout_fetches_the_tasks_repository_at_its_sha(self):
        repo = os.path.join(self.dir, "srv", "owner", "repo")
        os.makedirs(repo)
        git = lambda *a: subprocess.run(["git", "-C", repo, *a], check=True, capture_output=True, text=True).stdout
        git("init", "-q")
        with open(os.path.join(repo, "README"), "w") as f:
            f.write("checked out\n")
        git("add", "README")
        git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "one")
        sha = git("rev-parse", "HEAD").strip()
        with open(os.path.join(repo, "README"), "w") as f:
            f.write("a later commit\n")
        git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "two")
        self.start_daemon()
        payload = ("on: push\njobs:\n  c:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n"
                   "      - run: cat README; git rev-parse HEAD\n")
        task = self.forgejo.add_task(payload, secrets={"FORGEJO_TOKEN": "tok-abcdef-123"},
                                     context={"server_url": "file://" + os.path.join(self.dir, "srv"), "sha": sha})
        self.assertTrue(self.forgejo.wait_finished(task), self.daemon_log())
        rows = self.forgejo.log_lines(task, 1)
        self.assertEqual(self.forgejo.tasks[task].result, pb.RESULT_SUCCESS, self.forgejo.log_lines(task))
        self.assertIn("checked out", rows)
        self.assertIn(sha, rows)

    def test_a_remote_cache_shares_a_step_with_a_runner_whose_cache_is_empty(self):
        # `akbuild serve` on loopback is the REAPI remote cache; the runner's local cache is
        # emptied between two runs of the same task, so the second can only hit remotely.
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        token = os.path.join(self.dir, "remote-token")
        with open(token, "w") as f:
            f.write("remote-token-0123456789\n")
        os.chmod(token, 0o600)
        serve = subprocess.Popen([AKBUILD, "--cache-dir", os.path.join(self.dir, "remote"), "serve", "--listen",
                                  "tcp:127.0.0.1:%d" % port, "--token-file", token],
                                 env=dict(self.env, XDG_RUNTIME_DIR=os.path.join(self.dir, "serve-run")),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (serve.kill(), serve.wait()))
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        self.start_daemon(extra_args=("--remote-cache", "grpc://127.0.0.1:%d" % port, "--remote-token-file", token))
        payload = ("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: made\n"
                   "        uses: akbuild/step@v1\n        with:\n          kind: exec\n"
                   "          run: echo made-once > made.txt\n          outputs: made.txt\n"
                   "      - run: cat made.txt\n")
        first = self.forgejo.add_task(payload)
        self.assertTrue(self.forgejo.wait_finished(first, 120), self.daemon_log())
        self.assertEqual(self.forgejo.tasks[first].result, pb.RESULT_SUCCESS, self.forgejo.log_lines(first))
        self.assertFalse(any("remote" in r for r in self.forgejo.log_lines(first, 0)), self.forgejo.log_lines(first))
        shutil.rmtree(os.path.join(self.dir, "cache"))
        second = self.forgejo.add_task(payload)
        self.assertTrue(self.forgejo.wait_finished(second, 120), self.daemon_log())
        self.assertEqual(self.forgejo.tasks[second].result, pb.RESULT_SUCCESS, self.forgejo.log_lines(second))
        self.assertIn("cached: remote", self.forgejo.log_lines(second, 0),
                        self.forgejo.log_lines(second))
        self.assertIn("made-once", self.forgejo.log_lines(second, 1))

    def test_the_stand_in_speaks_json_too(self):
        import urllib.request
        request = urllib.request.Request(self.server.url + "/api/actions/ping.v1.PingService/Ping",
                                         data=b'{"data": "r1"}', method="POST",
                                         headers={"Content-Type": "application/json", "Connect-Protocol-Version": "1"})
        with urllib.request.urlopen(request) as answer:
            self.assertEqual(json.loads(answer.read()), {"data": "Hello, r1!"})

    def test_a_stale_runner_file_is_one_line_and_exit_1(self):
        self.assertEqual(self.register().returncode, 0)
        self.forgejo.runners.clear()
        r = self.akbuild("runner", "daemon")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("unregistered runner", r.stderr)

    def test_generate_config_is_read_back(self):
        r = self.akbuild("runner", "generate-config")
        self.assertEqual(r.returncode, 0)
        self.assertIn("fetch_interval: 2s", r.stdout)
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            f.write(r.stdout)
        self.assertEqual(self.register().returncode, 0)
        bad = os.path.join(self.dir, "bad.yml")
        with open(bad, "w") as f:
            f.write("runner:\n  capacity: lots\n")
        r = self.akbuild("runner", "-c", bad, "daemon")
        self.assertEqual(r.returncode, 2)
        self.assertIn("runner.capacity", r.stderr)

    def daemon_log(self):
        if self.daemon and self.daemon.poll() is not None:
            return self.daemon.stderr.read()
        return "(daemon still running)"


if __name__ == "__main__":
    unittest.main()
