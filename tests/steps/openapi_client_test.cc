#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/openapi_client/generator_command.hh"
#include "tests/steps/kinds_support.hh"

using namespace akbuild;
using namespace akbuild::steps::openapi;

TEST_CASE("openapi-generator gets the reference build's exact command line") {
  v1::OpenapiClientParams p;
  p.set_generator("openapi-generator");
  p.set_schema("schema.yml");
  p.set_output("gen-ts-api");
  p.set_language("typescript-fetch");
  p.set_config("scripts/api/ts-config.yaml");
  (*p.mutable_additional_properties())["npmVersion"] = "2026.2.0";
  (*p.mutable_additional_properties())["modelPropertyNaming"] = "original";
  p.set_git_repo_id("authentik");
  p.set_git_user_id("goauthentik");
  auto argv = generator_argv(p, Generator::openapi_generator);
  REQUIRE(argv);
  CHECK(*argv == std::vector<std::string>{"openapi-generator-cli", "generate", "-i", "schema.yml", "-g", "typescript-fetch",
                                          "-o", "gen-ts-api", "-c", "scripts/api/ts-config.yaml",
                                          "--additional-properties=modelPropertyNaming=original,npmVersion=2026.2.0",
                                          "--git-repo-id", "authentik", "--git-user-id", "goauthentik"});
  SUBCASE("through java -jar") {
    p.set_generator_jar("tools/openapi-generator-cli-7.19.0.jar");
    auto jar = generator_argv(p, Generator::openapi_generator);
    REQUIRE(jar);
    CHECK(std::vector<std::string>(jar->begin(), jar->begin() + 4) ==
          std::vector<std::string>{"java", "-jar", "tools/openapi-generator-cli-7.19.0.jar", "generate"});
    CHECK(generator_program(p, Generator::openapi_generator) == "java");
  }
}

TEST_CASE("the npm generators and command get their own command lines") {
  v1::OpenapiClientParams p;
  p.set_schema("api/schema.yml");
  p.set_output("gen/ts");
  CHECK(*generator_argv(p, Generator::openapi_typescript) ==
        std::vector<std::string>{"openapi-typescript", "api/schema.yml", "-o", "gen/ts/schema.d.ts"});
  p.set_config("openapi-ts.config.mjs");
  CHECK(*generator_argv(p, Generator::hey_api) ==
        std::vector<std::string>{"openapi-ts", "-i", "./api/schema.yml", "-o", "gen/ts", "-f", "openapi-ts.config.mjs"});
  p.clear_config();
  p.add_command("gen");
  p.add_command("--in={schema}");
  p.add_command("{out}/client");
  CHECK(*generator_argv(p, Generator::command) == std::vector<std::string>{"gen", "--in=api/schema.yml", "gen/ts/client"});
}

TEST_CASE("openapi-client rejects parameters that do not fit the generator") {
  test::TestDir dir;
  test::write(dir / "api/schema.yml", "openapi: 3.0.3\n");
  v1::OpenapiClientParams p;
  p.set_schema("api/schema.yml");
  p.set_output("gen/ts");
  SUBCASE("unknown generator") {
    p.set_generator("swagger-codegen");
    auto r = test::plan_kind("openapi-client", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(test::contains(r.error().message, "generator: 'swagger-codegen' is not one of openapi-generator"));
  }
  SUBCASE("openapi-generator needs a language") {
    p.set_generator("openapi-generator");
    auto r = test::plan_kind("openapi-client", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "openapi-client: with: language is required by generator openapi-generator");
  }
  SUBCASE("language is not for openapi-typescript") {
    p.set_generator("openapi-typescript");
    p.set_language("go");
    auto r = test::plan_kind("openapi-client", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(test::contains(r.error().message, "apply to generator openapi-generator, not openapi-typescript"));
  }
  SUBCASE("a missing schema") {
    p.set_generator("openapi-typescript");
    p.set_schema("api/missing.yml");
    auto r = test::plan_kind("openapi-client", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "openapi-client: with: schema: api/missing.yml: no such file");
  }
  SUBCASE("the generator is not on PATH") {
    p.set_generator("openapi-generator");
    p.set_language("go");
    std::filesystem::create_directories(dir / "empty-bin");
    test::ScopedPath path((dir / "empty-bin").string());
    auto r = test::plan_kind("openapi-client", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "openapi-client: openapi-generator-cli not found on PATH (install the npm package @openapitools/openapi-generator-cli)");
  }
}

TEST_CASE("generator versions are read from --version output and compared exactly") {
  CHECK(find_version("v7.13.0") == "7.13.0");
  CHECK(find_version("0.95.0") == "0.95.0");
  CHECK(find_version("openapi-generator-cli 7.19.0") == "7.19.0");
  CHECK(find_version("7.20.0-SNAPSHOT") == "7.20.0-SNAPSHOT");
  CHECK(check_version("openapi-typescript", "7.13.0", "v7.13.0"));
  auto r = check_version("openapi-typescript", "7.12.0", "v7.13.0");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "openapi-client: openapi-typescript is version 7.13.0, but with: version asks for 7.12.0");
}
