// `akbuild nix ...`: Nix-compatible hashes, NARs, store paths, derivations and binary caches.
#include <iostream>
#include <memory>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include "nixdrv/binary_cache.hh"
#include "nixdrv/derivation.hh"
#include "nixdrv/nar.hh"
#include "nixdrv/nar_hash.hh"
#include "nixdrv/nar_hash_cache.hh"
#include "nixdrv/signing.hh"
#include "nixdrv/store_path.hh"
#include "runner/cas/cache_layout.hh"
#include "runner/cli/commands.hh"
#include "runner/core/fs.hh"
#include "runner/core/sink.hh"
#include "runner/service/client.hh"

namespace akbuild::cli {

namespace {

using namespace akbuild::nixdrv;

struct NixArgs {
  std::vector<std::string> paths;
  std::string path, name, to, sign, compression = "xz", store_dir;
  bool base32 = false, base16 = false, sri = false, flat = false, aterm = false, no_cache = false;
  // drv
  std::string builder, system = "x86_64-linux", outputs, fixed;
  std::vector<std::string> args, env, input_srcs, input_drvs;
};

// A path the user named that is missing is a usage error (exit 2), as is any bad input below it.
Error user_error(Error e) {
  if (e.code == ErrorCode::not_found) e.code = ErrorCode::invalid_argument;
  return e;
}

Result<> require_exists(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return fail(user_error(errno_error(path)));
  return ok();
}

HashFormat chosen_format(const NixArgs& a) {
  if (a.base32) return HashFormat::nix32;
  if (a.base16) return HashFormat::base16;
  return HashFormat::sri;
}

void run(GlobalOptions& options, const std::function<Result<>()>& body) {
  auto r = body();
  if (!r) options.exit_status = report_error(r.error());
}

void add_format_flags(CLI::App* cmd, NixArgs& a) {
  auto* g = cmd->add_option_group("format");
  g->add_flag("--base32", a.base32, "print nix32 (Nix's base32)");
  g->add_flag("--base16", a.base16, "print lower-case hex");
  g->add_flag("--sri", a.sri, "print SRI, <algo>-<base64> (the default)");
  g->require_option(0, 1);
}

std::string basename_of(const std::string& path) {
  std::filesystem::path p(path);
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

Result<> hash_path(GlobalOptions& options, const NixArgs& a) {
  AK_TRY_VOID(require_exists(a.path));
  Result<Hash> hash = fail(ErrorCode::internal, "");
  if (a.no_cache) {
    hash = nar_hash(a.path);
  } else if (auto answer = service::try_hash_path_via_daemon(std::filesystem::absolute(a.path).lexically_normal())) {
    if (!*answer) return fail(user_error(answer->error()));
    if (options.verbose) std::cerr << a.path << ": from akbuild serve (" << to_string((*answer)->source) << ")\n";
    hash = std::move((*answer)->hash);
  } else {
    NarHashCache cache(cas::CacheLayout{resolve_cache_dir(options)}.nar_hashes());
    hash = cache.nar_hash(a.path);
  }
  if (!hash) return fail(user_error(hash.error()));
  std::cout << hash->to_string(chosen_format(a)) << "\n";
  return ok();
}

Result<> hash_files(const NixArgs& a) {
  for (const auto& f : a.paths) {
    AK_TRY_VOID(require_exists(f));
    auto d = flat_digest(f);
    if (!d) return fail(user_error(d.error()));
    std::cout << d->hash.to_string(chosen_format(a)) << "\n";
  }
  return ok();
}

Result<> dump(const NixArgs& a) {
  AK_TRY_VOID(require_exists(a.path));
  FdSink out(STDOUT_FILENO);
  auto r = dump_nar(a.path, out);
  if (!r) return fail(user_error(r.error()));
  return out.flush();
}

Result<> restore(const NixArgs& a) {
  FdSource in(STDIN_FILENO);
  auto r = restore_nar(in, a.path);
  if (!r && (r.error().code == ErrorCode::corrupt || r.error().code == ErrorCode::already_exists))
    return fail(ErrorCode::invalid_argument, r.error().message);
  return r;
}

Result<> store_path(const NixArgs& a) {
  AK_TRY_VOID(require_exists(a.path));
  std::string name = a.name.empty() ? basename_of(a.path) : a.name;
  AK_TRY_VOID(check_store_name(name));
  Result<StorePath> path = fail(ErrorCode::internal, "");
  if (a.flat) {
    auto d = flat_digest(a.path);
    if (!d) return fail(user_error(d.error()));
    path = make_fixed_output_path(FileIngestion::flat, d->hash, name);
  } else {
    auto h = nar_hash(a.path);
    if (!h) return fail(user_error(h.error()));
    path = make_source_path(*h, name, {});
  }
  std::cout << AK_TRY(std::move(path)).to_string() << "\n";
  return ok();
}

Result<> drv(const NixArgs& a) {
  DerivationSpec spec;
  spec.name = a.name;
  spec.builder = a.builder;
  spec.system = a.system;
  spec.args = a.args;
  spec.env = AK_TRY(parse_pairs(a.env, '=', "--env"));
  if (!a.outputs.empty()) {
    std::istringstream words(a.outputs);
    std::vector<std::string> outs;
    for (std::string w; words >> w;) outs.push_back(w);
    spec.outputs = outs;
  }
  for (const auto& p : a.input_srcs) spec.input_srcs.insert(p);
  for (const auto& spec_text : a.input_drvs) {
    auto colon = spec_text.rfind(':');
    if (colon == std::string::npos || colon + 1 == spec_text.size())
      return fail(ErrorCode::invalid_argument, "--input-drv '" + spec_text + "': expected DRV:OUTPUT[,OUTPUT...]");
    std::string outs = spec_text.substr(colon + 1);
    auto& set = spec.input_drvs[spec_text.substr(0, colon)];
    std::size_t start = 0;
    while (start <= outs.size()) {
      auto comma = outs.find(',', start);
      std::string o = outs.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!o.empty()) set.insert(o);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (!a.fixed.empty()) {
    spec.output_hash = a.fixed;
    spec.recursive = !a.flat;
  } else if (a.flat) {
    return fail(ErrorCode::invalid_argument, "--flat needs --fixed HASH");
  }
  std::string store_dir = a.store_dir;
  DerivationLoader loader = [store_dir](const std::string& drv_path) -> Result<Derivation> {
    auto sp = AK_TRY(StorePath::parse(drv_path));
    std::vector<std::filesystem::path> candidates;
    if (store_dir.empty()) {
      candidates.emplace_back(drv_path);
    } else {
      candidates.push_back(std::filesystem::path(store_dir) / std::string(sp.base_name()));
      candidates.push_back(std::filesystem::path(store_dir) / "nix/store" / std::string(sp.base_name()));
    }
    for (const auto& c : candidates) {
      auto text = read_file(c);
      if (!text) continue;
      auto parsed = parse_derivation(*text);
      if (!parsed) return fail(parsed.error().context(c.string()));
      return parsed;
    }
    return fail(ErrorCode::invalid_argument,
                drv_path + ": cannot read it" + (store_dir.empty() ? " (use --store-dir)" : " under " + store_dir));
  };
  auto built = AK_TRY(instantiate(spec, loader));
  std::cout << built.drv_path.to_string() << "\n";
  for (const auto& [name, path] : built.outputs) std::cout << name << " " << path.to_string() << "\n";
  if (a.aterm) std::cout << built.aterm << "\n";
  return ok();
}

Result<> cache_add(const NixArgs& a) {
  auto compression = parse_compression(a.compression);
  if (!compression)
    return fail(ErrorCode::invalid_argument, "--compression '" + a.compression + "': expected none, xz or zstd");
  if (!a.name.empty() && a.paths.size() > 1)
    return fail(ErrorCode::invalid_argument, "--name applies to one path; give one PATH or leave --name out");
  std::optional<SecretKey> key;
  if (!a.sign.empty()) key = AK_TRY(SecretKey::load(a.sign));
  for (const auto& p : a.paths) {
    AK_TRY_VOID(require_exists(p));
    AK_TRY_VOID(check_store_name(a.name.empty() ? basename_of(p) : a.name));
  }
  auto cache = AK_TRY(FileBinaryCache::open(a.to));
  CacheAddOptions opts;
  opts.compression = *compression;
  opts.key = key ? &*key : nullptr;
  for (const auto& p : a.paths) {
    auto info = cache.add_path(p, a.name.empty() ? basename_of(p) : a.name, opts);
    if (!info) return fail(user_error(info.error()));
    std::cout << info->path.to_string() << "\n";
  }
  return ok();
}

} // namespace

void add_nix_command(CLI::App& app, GlobalOptions& options) {
  auto a = std::make_shared<NixArgs>();
  auto* nix = app.add_subcommand("nix", "Nix-compatible hashes, NARs, store paths, derivations, binary caches");
  nix->require_subcommand(1);

  auto* hp = nix->add_subcommand("hash-path", "NAR hash of a path (= nix-hash --type sha256 PATH)");
  hp->add_option("PATH", a->path, "file, symlink or directory")->required();
  add_format_flags(hp, *a);
  hp->add_flag("--no-cache", a->no_cache, "read the whole tree: no stat cache, no akbuild serve");
  hp->callback([&options, a] { run(options, [&] { return hash_path(options, *a); }); });

  auto* hf = nix->add_subcommand("hash-file", "flat hash of files (= nix-hash --type sha256 --flat)");
  hf->add_option("FILE", a->paths, "regular files")->required();
  add_format_flags(hf, *a);
  hf->callback([&options, a] { run(options, [&] { return hash_files(*a); }); });

  auto* du = nix->add_subcommand("dump", "write the NAR of PATH to stdout (= nix-store --dump)");
  du->add_option("PATH", a->path)->required();
  du->callback([&options, a] { run(options, [&] { return dump(*a); }); });

  auto* re = nix->add_subcommand("restore", "restore a NAR from stdin as DEST, which must not exist");
  re->add_option("DEST", a->path)->required();
  re->callback([&options, a] { run(options, [&] { return restore(*a); }); });

  auto* sp = nix->add_subcommand("store-path", "the store path nix-store --add (or --add-fixed sha256 with --flat) gives");
  sp->add_option("PATH", a->path)->required();
  sp->add_option("--name", a->name, "store name (default: the base name of PATH)");
  sp->add_flag("--flat", a->flat, "hash the file's bytes (flat fixed output), not its NAR");
  sp->callback([&options, a] { run(options, [&] { return store_path(*a); }); });

  auto* dv = nix->add_subcommand("drv", "the .drv path and output paths of derivation { ... }");
  dv->add_option("--name", a->name)->required();
  dv->add_option("--builder", a->builder)->required();
  dv->add_option("--system", a->system, "platform (default x86_64-linux)");
  dv->add_option("--arg", a->args, "an argument for the builder (repeat, in order)");
  dv->add_option("--env", a->env, "an extra attribute KEY=VALUE (repeat)");
  dv->add_option("--outputs", a->outputs, "output names, space-separated (sets the outputs attribute)");
  dv->add_option("--input-src", a->input_srcs, "a store path the derivation refers to (repeat)");
  dv->add_option("--input-drv", a->input_drvs, "DRV:OUT[,OUT] an input derivation's outputs (repeat)");
  dv->add_option("--fixed", a->fixed, "outputHash (SRI or algo-prefixed): a fixed-output derivation");
  dv->add_flag("--flat", a->flat, "with --fixed: outputHashMode flat (default recursive)");
  dv->add_flag("--aterm", a->aterm, "also print the ATerm");
  dv->add_option("--store-dir", a->store_dir, "read input .drv files from DIR or DIR/nix/store");
  dv->callback([&options, a] { run(options, [&] { return drv(*a); }); });

  auto* cache = nix->add_subcommand("cache", "binary caches");
  cache->require_subcommand(1);
  auto* add = cache->add_subcommand("add", "publish paths as content-addressed store paths in a file:// cache");
  add->add_option("PATH", a->paths)->required();
  add->add_option("--to", a->to, "file:///DIR")->required();
  add->add_option("--name", a->name, "store name (default: the base name of PATH)");
  add->add_option("--sign", a->sign, "secret key file (nix-store --generate-binary-cache-key format)");
  add->add_option("--compression", a->compression, "none, xz (default) or zstd");
  add->callback([&options, a] { run(options, [&] { return cache_add(*a); }); });
}

} // namespace akbuild::cli
