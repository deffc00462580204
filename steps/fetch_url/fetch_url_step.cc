#include "steps/fetch_url/fetch_url_step.hh"

#include <sys/stat.h>

#include <fmt/format.h>

#include "akbuild/v1/steps.pb.h"
#include "runner/core/fs.hh"
#include "runner/plugin/tar_copy.hh"
#include "steps/fetch_url/download.hh"
#include "steps/validate.hh"

namespace akbuild::steps {
namespace {

namespace fs = std::filesystem;

const v1::FetchUrlParams& cast(const google::protobuf::Message& m) { return static_cast<const v1::FetchUrlParams&>(m); }

// Moves `from` to `to`; into it entry by entry when the engine already made `to` (an empty dir).
Result<> move_to(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (fs::is_directory(from, ec) && fs::is_directory(to, ec)) {
    for (const auto& e : fs::directory_iterator(from)) {
      fs::rename(e.path(), to / e.path().filename(), ec);
      if (ec) return fail(ErrorCode::io, fmt::format("fetch-url: {}: {}", (to / e.path().filename()).string(), ec.message()));
    }
    return ok();
  }
  AK_TRY_VOID(make_dirs(to.parent_path()));
  fs::rename(from, to, ec);
  if (ec) return fail(ErrorCode::io, fmt::format("fetch-url: {}: {}", to.string(), ec.message()));
  return ok();
}

// What fetchzip's stripRoot leaves: the single top-level entry's content (a directory), or a
// directory holding it (a file); failed_precondition when there is not exactly one.
Result<fs::path> stripped_root(const fs::path& tree, const fs::path& scratch, std::string_view url) {
  std::vector<fs::path> top;
  for (const auto& e : fs::directory_iterator(tree)) top.push_back(e.path());
  if (top.size() != 1)
    return fail(ErrorCode::failed_precondition,
                fmt::format("fetch-url: {}: the archive holds {} top-level entries, not one directory to strip "
                            "(with: keep-root: true keeps them all)",
                            url, top.size()));
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(top[0], ec))) return top[0];
  auto holder = scratch / "file-root";
  AK_TRY_VOID(make_dirs(holder));
  fs::rename(top[0], holder / top[0].filename(), ec);
  if (ec) return fail(ErrorCode::io, fmt::format("fetch-url: {}: {}", top[0].string(), ec.message()));
  return holder;
}

} // namespace

const google::protobuf::Message& FetchUrlStep::params_prototype() const { return v1::FetchUrlParams::default_instance(); }

Result<StepPlan> FetchUrlStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  if (p.url().empty()) return fail(ErrorCode::invalid_argument, "fetch-url: with: url is required");
  auto scheme = AK_TRY(url_scheme(p.url()).map_error([](Error e) { return e.context("fetch-url: with: url"); }));
  if (ctx.confined && scheme == UrlScheme::file) AK_TRY_VOID(workspace_source(p.url(), ctx.workspace));
  if (p.output().empty()) return fail(ErrorCode::invalid_argument, "fetch-url: with: output is required");
  if (!p.unpack() && p.output().back() == '/')
    return fail(ErrorCode::invalid_argument,
                fmt::format("fetch-url: with: output: '{}' names a directory, but without unpack the output is a file", p.output()));
  if (p.unpack() && p.executable())
    return fail(ErrorCode::invalid_argument, "fetch-url: with: executable applies to a file, not to an unpacked tree");
  if (!p.unpack() && p.keep_root())
    return fail(ErrorCode::invalid_argument, "fetch-url: with: keep-root applies to an unpacked archive (unpack: true)");
  if (!p.hash().empty()) AK_TRY_VOID(validate_sri(kind(), "hash", p.hash()));
  StepPlan plan;
  plan.outputs = {p.unpack() && p.output().back() != '/' ? p.output() + "/" : p.output()};
  AK_TRY_VOID(validate_output_path(kind(), "output", plan.outputs[0], ctx.workspace));
  plan.fetch = true;
  plan.pin = p.hash();
  plan.pin_flat = !p.unpack() && !p.executable();
  // Not pin_any_platform: a toolchain's URL is usually chosen per platform (node-linux-x64,
  // node-linux-arm64), so the pin of one platform says nothing of another's.
  plan.sandboxed = false;
  return plan;
}

Result<StepOutcome> FetchUrlStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  // Beside the output root, so the result moves into it by rename (same filesystem); removed
  // whatever happens, so a failure leaves nothing behind.
  auto scratch = AK_TRY(TempDir::create(".fetch-url-", ctx.output_root().parent_path()));
  auto file = scratch.path() / "download";
  AK_TRY_VOID(download(p.url(), ctx.workspace(), file, ctx.confined()));
  ctx.log(fmt::format("fetch-url: {}: {} bytes", p.url(), fs::file_size(file)));
  auto dest = ctx.output_root() / strip_trailing_slashes(p.output());
  if (!p.unpack()) {
    if (::chmod(file.c_str(), p.executable() ? 0755 : 0644) != 0) return fail(errno_error(file.string()));
    std::error_code ec;
    fs::remove(dest, ec);  // a file output the engine may have made room for
    AK_TRY_VOID(move_to(file, dest));
    return StepOutcome{};
  }
  auto tree = scratch.path() / "tree";
  AK_TRY_VOID(make_dirs(tree));
  auto unpacked = plugin::extract_archive(tree, file, {.any_format = true, .contained_links = true});
  if (!unpacked) return fail(unpacked.error().context(fmt::format("fetch-url: {}", p.url())));
  fs::path root = tree;
  if (!p.keep_root()) root = AK_TRY(stripped_root(tree, scratch.path(), p.url()));
  AK_TRY_VOID(move_to(root, dest));
  return StepOutcome{};
}

} // namespace akbuild::steps
