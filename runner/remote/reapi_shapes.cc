#include "runner/remote/reapi_shapes.hh"

#include <algorithm>
#include <set>

#include "akbuild/v1/cache.pb.h"
#include "build/bazel/remote/execution/v2/remote_execution.pb.h"
#include "runner/cas/proto_io.hh"
#include "runner/core/fs.hh"

namespace akbuild::remote {

namespace re = build::bazel::remote::execution::v2;
using cas::serialize_deterministic;

namespace {

constexpr std::string_view k_record_type = "type.googleapis.com/akbuild.v1.ActionResult";

void set_digest(re::Digest* d, const BlobRef& b) {
  d->set_hash(b.digest.hex());
  d->set_size_bytes(static_cast<std::int64_t>(b.size));
}

Result<BlobRef> from_digest(const re::Digest& d, std::string_view what) {
  auto digest = cas::Digest::parse(d.hash());
  if (!digest || d.hash().size() != 64 || d.size_bytes() < 0)
    return fail(ErrorCode::corrupt, std::string(what) + ": malformed digest '" + d.hash() + "'");
  return BlobRef{*digest, static_cast<std::uint64_t>(d.size_bytes())};
}

std::string base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

Result<v1::Tree> load_local(cas::BlobStore& store, const cas::Digest& d) {
  v1::Tree t;
  if (!t.ParseFromString(AK_TRY(store.get(d)))) return fail(ErrorCode::corrupt, "tree " + d.hex() + ": not a directory record");
  return t;
}

// The REAPI Directory of local tree `d`; its children go into `children` (once each), its file
// blobs into `files`.
Result<re::Directory> to_directory(cas::BlobStore& store, const cas::Digest& d, std::map<std::string, re::Directory>& children,
                                   std::map<cas::Digest, std::uint64_t>& files) {
  auto tree = AK_TRY(load_local(store, d));
  re::Directory dir;
  for (const auto& e : tree.entries()) {
    switch (e.type()) {
    case v1::TreeEntry::DIRECTORY: {
      auto child = AK_TRY(to_directory(store, AK_TRY(cas::Digest::parse(e.digest())), children, files));
      std::string bytes = serialize_deterministic(child);
      auto* n = dir.add_directories();
      n->set_name(e.name());
      set_digest(n->mutable_digest(), BlobRef::of(bytes));
      children.emplace(bytes, std::move(child));
      break;
    }
    case v1::TreeEntry::SYMLINK: {
      auto* n = dir.add_symlinks();
      n->set_name(e.name());
      n->set_target(e.target());
      break;
    }
    default: {
      auto digest = AK_TRY(cas::Digest::parse(e.digest()));
      auto* n = dir.add_files();
      n->set_name(e.name());
      set_digest(n->mutable_digest(), {digest, e.size()});
      n->set_is_executable(e.type() == v1::TreeEntry::EXECUTABLE);
      files[digest] = e.size();
    }
    }
  }
  return dir;
}

Result<UploadBlob> log_blob(cas::BlobStore& store, const cas::Digest& d) {
  auto path = store.local_path(d);
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail(ErrorCode::not_found, "log blob " + d.hex() + ": " + ec.message());
  return UploadBlob{{d, size}, {}, path};
}

// The local tree of REAPI Directory `dir`, stored; `by_digest` holds the Tree's children.
Result<cas::Digest> store_directory(const re::Directory& dir, const std::map<std::string, const re::Directory*>& by_digest,
                                    const PutBlob& store, const std::string& where, int depth) {
  if (depth > 256) return fail(ErrorCode::corrupt, where + ": directories nested too deep");
  std::vector<v1::TreeEntry> entries;
  for (const auto& f : dir.files()) {
    auto b = AK_TRY(from_digest(f.digest(), where + "/" + f.name()));
    v1::TreeEntry e;
    e.set_name(f.name());
    e.set_type(f.is_executable() ? v1::TreeEntry::EXECUTABLE : v1::TreeEntry::REGULAR);
    e.set_digest(b.digest.hex());
    e.set_size(b.size);
    entries.push_back(std::move(e));
  }
  for (const auto& s : dir.symlinks()) {
    if (s.target().empty() || s.target().find('\0') != std::string::npos)
      return fail(ErrorCode::corrupt, where + "/" + s.name() + ": invalid symlink target");
    v1::TreeEntry e;
    e.set_name(s.name());
    e.set_type(v1::TreeEntry::SYMLINK);
    e.set_target(s.target());
    entries.push_back(std::move(e));
  }
  for (const auto& d : dir.directories()) {
    auto b = AK_TRY(from_digest(d.digest(), where + "/" + d.name()));
    auto it = by_digest.find(b.digest.hex());
    if (it == by_digest.end()) return fail(ErrorCode::corrupt, where + "/" + d.name() + ": directory missing from the Tree");
    auto child = AK_TRY(store_directory(*it->second, by_digest, store, where + "/" + d.name(), depth + 1));
    v1::TreeEntry e;
    e.set_name(d.name());
    e.set_type(v1::TreeEntry::DIRECTORY);
    e.set_digest(child.hex());
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name() < b.name(); });
  v1::Tree tree;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!valid_name(entries[i].name())) return fail(ErrorCode::corrupt, where + ": invalid name '" + entries[i].name() + "'");
    if (i > 0 && entries[i - 1].name() == entries[i].name())
      return fail(ErrorCode::corrupt, where + ": '" + entries[i].name() + "' twice");
    *tree.add_entries() = std::move(entries[i]);
  }
  return store(serialize_deterministic(tree));
}

} // namespace

ActionShape action_shape(const cas::Digest& key, std::string_view kind, const std::vector<std::string>& outputs) {
  re::Command command;
  for (std::string_view a : {std::string_view("akbuild"), std::string_view("step"), kind, std::string_view("--key")})
    command.add_arguments(std::string(a));
  command.add_arguments(key.hex());
  std::set<std::string> paths;
  for (const auto& o : outputs) paths.insert(strip_trailing_slashes(o));
  for (const auto& p : paths) command.add_output_paths(p);
  ActionShape shape;
  shape.command.bytes = serialize_deterministic(command);
  shape.command.ref = BlobRef::of(shape.command.bytes);
  re::Action action;
  set_digest(action.mutable_command_digest(), shape.command.ref);
  // The empty Directory: the inputs are already in the key.
  set_digest(action.mutable_input_root_digest(), BlobRef::of(""));
  shape.action.bytes = serialize_deterministic(action);
  shape.action.ref = BlobRef::of(shape.action.bytes);
  return shape;
}

Result<RemoteResult> to_remote(const cas::ActionRecord& record, cas::BlobStore& store) {
  re::ActionResult result;
  RemoteResult out;
  std::map<cas::Digest, std::uint64_t> files;
  for (const auto& [declared, output] : record.outputs) {
    std::string path = strip_trailing_slashes(declared);
    if (output.kind == cas::ActionOutput::Kind::file) {
      auto wrapper = AK_TRY(load_local(store, output.digest));
      if (wrapper.entries_size() != 1) return fail(ErrorCode::corrupt, "output '" + path + "': not a file's tree");
      const auto& e = wrapper.entries(0);
      if (e.type() == v1::TreeEntry::SYMLINK) {
        auto* s = result.add_output_symlinks();
        s->set_path(path);
        s->set_target(e.target());
      } else if (e.type() == v1::TreeEntry::REGULAR || e.type() == v1::TreeEntry::EXECUTABLE) {
        auto digest = AK_TRY(cas::Digest::parse(e.digest()));
        auto* f = result.add_output_files();
        f->set_path(path);
        set_digest(f->mutable_digest(), {digest, e.size()});
        f->set_is_executable(e.type() == v1::TreeEntry::EXECUTABLE);
        files[digest] = e.size();
      } else {
        return fail(ErrorCode::corrupt, "output '" + path + "': not a file's tree");
      }
      continue;
    }
    std::map<std::string, re::Directory> children;
    re::Tree tree;
    *tree.mutable_root() = AK_TRY(to_directory(store, output.digest, children, files));
    for (auto& [bytes, child] : children) *tree.add_children() = std::move(child);
    UploadBlob blob;
    blob.bytes = serialize_deterministic(tree);
    blob.ref = BlobRef::of(blob.bytes);
    auto* d = result.add_output_directories();
    d->set_path(path);
    set_digest(d->mutable_tree_digest(), blob.ref);
    out.blobs.push_back(std::move(blob));
  }
  for (const auto& [digest, size] : files) out.blobs.push_back({{digest, size}, {}, store.local_path(digest)});
  if (record.stdout_log) {
    out.blobs.push_back(AK_TRY(log_blob(store, *record.stdout_log)));
    set_digest(result.mutable_stdout_digest(), out.blobs.back().ref);
  }
  if (record.stderr_log) {
    out.blobs.push_back(AK_TRY(log_blob(store, *record.stderr_log)));
    set_digest(result.mutable_stderr_digest(), out.blobs.back().ref);
  }
  result.set_exit_code(record.exit_code);
  v1::ActionResult mine;
  mine.set_key(record.key.hex());
  mine.set_step_id(record.step_id);
  mine.set_kind(record.kind);
  mine.mutable_values()->insert(record.values.begin(), record.values.end());
  mine.set_nar_hash(record.nar_hash);
  mine.set_duration_ms(record.duration.count());
  auto* any = result.mutable_execution_metadata()->add_auxiliary_metadata();
  any->set_type_url(std::string(k_record_type));
  any->set_value(serialize_deterministic(mine));
  result.mutable_execution_metadata()->set_worker("akbuild");
  out.action_result = serialize_deterministic(result);
  return out;
}

Result<ParsedResult> parse_remote(const std::string& bytes, const cas::Digest& key,
                                  const std::vector<std::string>& declared) {
  auto bad = [&](const std::string& why) { return fail(ErrorCode::corrupt, "remote result for " + key.hex() + ": " + why); };
  re::ActionResult result;
  if (!result.ParseFromString(bytes)) return bad("not an ActionResult");
  if (result.exit_code() != 0) return bad("exit code " + std::to_string(result.exit_code()));
  ParsedResult out;
  const v1::ActionResult* mine = nullptr;
  v1::ActionResult record;
  for (const auto& any : result.execution_metadata().auxiliary_metadata())
    if (any.type_url() == k_record_type && record.ParseFromString(any.value())) mine = &record;
  if (!mine) return bad("no akbuild record in its metadata");
  if (mine->key() != key.hex()) return bad("it names key '" + mine->key() + "'");
  out.record.key = key;
  out.record.step_id = mine->step_id();
  out.record.kind = mine->kind();
  out.record.values = {mine->values().begin(), mine->values().end()};
  out.record.nar_hash = mine->nar_hash();
  out.record.duration = std::chrono::milliseconds(mine->duration_ms());

  std::map<std::string, std::string> by_path;  // stripped -> declared
  for (const auto& d : declared) by_path[strip_trailing_slashes(d)] = d;
  auto place = [&](const std::string& path, RemoteOutput o) -> Result<> {
    auto it = by_path.find(path);
    if (it == by_path.end()) return bad("output '" + path + "' is not declared");
    if (!out.outputs.emplace(it->second, std::move(o)).second) return bad("output '" + path + "' twice");
    return ok();
  };
  for (const auto& f : result.output_files()) {
    RemoteOutput o;
    o.kind = cas::ActionOutput::Kind::file;
    o.file = AK_TRY(from_digest(f.digest(), f.path()));
    o.executable = f.is_executable();
    out.blobs.push_back(o.file);
    AK_TRY_VOID(place(f.path(), std::move(o)));
  }
  for (const auto& s : result.output_symlinks()) {
    if (s.target().empty() || s.target().find('\0') != std::string::npos) return bad("symlink '" + s.path() + "'");
    RemoteOutput o;
    o.kind = cas::ActionOutput::Kind::file;
    o.symlink_target = s.target();
    AK_TRY_VOID(place(s.path(), std::move(o)));
  }
  for (const auto& d : result.output_directories()) {
    RemoteOutput o;
    o.kind = cas::ActionOutput::Kind::tree;
    o.tree = AK_TRY(from_digest(d.tree_digest(), d.path()));
    AK_TRY_VOID(place(d.path(), std::move(o)));
  }
  if (out.outputs.size() != by_path.size()) return bad("not every declared output is in it");
  if (result.has_stdout_digest()) {
    out.stdout_log = AK_TRY(from_digest(result.stdout_digest(), "stdout"));
    out.blobs.push_back(*out.stdout_log);
    out.record.stdout_log = out.stdout_log->digest;
  }
  if (result.has_stderr_digest()) {
    out.stderr_log = AK_TRY(from_digest(result.stderr_digest(), "stderr"));
    out.blobs.push_back(*out.stderr_log);
    out.record.stderr_log = out.stderr_log->digest;
  }
  return out;
}

Result<> add_tree_blobs(RemoteOutput& output, std::vector<BlobRef>& blobs) {
  re::Tree tree;
  if (!tree.ParseFromString(output.tree_message)) return fail(ErrorCode::corrupt, "tree " + output.tree.digest.hex() + ": not a Tree");
  auto add = [&](const re::Directory& d) -> Result<> {
    for (const auto& f : d.files()) blobs.push_back(AK_TRY(from_digest(f.digest(), f.name())));
    return ok();
  };
  AK_TRY_VOID(add(tree.root()));
  for (const auto& c : tree.children()) AK_TRY_VOID(add(c));
  return ok();
}

Result<cas::Digest> store_local_tree(const RemoteOutput& output, const std::string& path, const PutBlob& store) {
  if (output.kind == cas::ActionOutput::Kind::file) {
    v1::Tree wrapper;
    auto* e = wrapper.add_entries();
    e->set_name(base_name(strip_trailing_slashes(path)));
    if (!valid_name(e->name())) return fail(ErrorCode::corrupt, "output '" + path + "': no file name");
    if (!output.symlink_target.empty()) {
      e->set_type(v1::TreeEntry::SYMLINK);
      e->set_target(output.symlink_target);
    } else {
      e->set_type(output.executable ? v1::TreeEntry::EXECUTABLE : v1::TreeEntry::REGULAR);
      e->set_digest(output.file.digest.hex());
      e->set_size(output.file.size);
    }
    return store(serialize_deterministic(wrapper));
  }
  re::Tree tree;
  if (!tree.ParseFromString(output.tree_message)) return fail(ErrorCode::corrupt, "tree " + output.tree.digest.hex() + ": not a Tree");
  std::map<std::string, const re::Directory*> by_digest;
  for (const auto& c : tree.children()) by_digest[cas::Digest::of(serialize_deterministic(c)).hex()] = &c;
  return store_directory(tree.root(), by_digest, store, path, 0);
}

} // namespace akbuild::remote
