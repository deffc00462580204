#include "nixdrv/derivation.hh"

namespace akbuild::nixdrv {

namespace {

Error invalid(std::string message) { return Error{ErrorCode::invalid_argument, std::move(message)}; }

// Output names are written unescaped and become path suffixes: store-name characters only.
Result<> check_output_name(std::string_view drv_name, std::string_view output) {
  if (output == "drv") return fail(invalid("derivation '" + std::string(drv_name) + "': output name 'drv' is reserved"));
  auto checked = check_store_name(output);
  if (!checked)
    return fail(invalid("derivation '" + std::string(drv_name) + "': invalid output name '" + std::string(output) + "'"));
  return ok();
}

} // namespace

std::string Derivation::name() const {
  auto it = env.find("name");
  return it == env.end() ? std::string() : it->second;
}

bool Derivation::is_fixed_output() const {
  if (outputs.size() != 1) return false;
  auto it = outputs.find("out");
  return it != outputs.end() && !it->second.hash.empty() && it->second.hash != "impure" && !it->second.path.empty();
}

Result<std::map<std::string, Hash>> ModuloHasher::hash(const Derivation& drv, bool mask_outputs) {
  std::map<std::string, Hash> result;
  if (drv.is_fixed_output()) {
    const auto& out = drv.outputs.at("out");
    result["out"] = Hash::of(HashAlgo::sha256, "fixed:out:" + out.hash_algo + ":" + out.hash + ":" + out.path);
    return result;
  }
  Derivation masked = drv;
  masked.input_drvs.clear();
  for (const auto& [path, outs] : drv.input_drvs) {
    auto memo = m_memo.find(path);
    if (memo == m_memo.end()) {
      auto input = m_loader(path);
      if (!input) return fail(input.error().context("input derivation " + path));
      auto hashes = AK_TRY(hash(*input, false));
      memo = m_memo.emplace(path, std::move(hashes)).first;
    }
    for (const auto& o : outs) {
      auto h = memo->second.find(o);
      if (h == memo->second.end())
        return fail(invalid("input derivation " + path + " has no output '" + o + "'"));
      masked.input_drvs[h->second.to_string(HashFormat::base16)].insert(o);
    }
  }
  Hash h = Hash::of(HashAlgo::sha256, unparse_derivation(masked, mask_outputs));
  for (const auto& [name, _] : drv.outputs) result[name] = h;
  return result;
}

Result<InstantiatedDerivation> instantiate(const DerivationSpec& spec, const DerivationLoader& loader) {
  AK_TRY_VOID(check_store_name(spec.name));
  if (spec.name.ends_with(".drv"))
    return fail(invalid("derivation name '" + spec.name + "' must not end in '.drv'"));
  if (spec.system.find_first_of("\"\\\n") != std::string::npos)
    return fail(invalid("system '" + spec.system + "' contains '\"', '\\' or a newline, which Nix writes unescaped "
                        "and cannot read back"));
  if (spec.builder.empty()) return fail(invalid("derivation '" + spec.name + "': builder is empty"));
  std::vector<std::string> outputs = spec.outputs.value_or(std::vector<std::string>{"out"});
  if (outputs.empty()) return fail(invalid("derivation '" + spec.name + "': no outputs"));
  std::set<std::string> seen;
  for (const auto& o : outputs) {
    AK_TRY_VOID(check_output_name(spec.name, o));
    if (!seen.insert(o).second) return fail(invalid("derivation '" + spec.name + "': duplicate output '" + o + "'"));
  }

  Derivation drv;
  drv.platform = spec.system;
  drv.builder = spec.builder;
  drv.args = spec.args;
  drv.env = spec.env;
  drv.env["name"] = spec.name;
  drv.env["builder"] = spec.builder;
  drv.env["system"] = spec.system;
  if (spec.outputs) {
    std::string joined;
    for (const auto& o : outputs) joined += (joined.empty() ? "" : " ") + o;
    drv.env["outputs"] = joined;
  }
  for (const auto& p : spec.input_srcs) {
    auto sp = StorePath::parse(p);
    if (!sp) return fail(sp.error().context("input source"));
    drv.input_srcs.insert(p);
  }
  for (const auto& [p, outs] : spec.input_drvs) {
    auto sp = StorePath::parse(p);
    if (!sp) return fail(sp.error().context("input derivation"));
    if (!sp->is_derivation()) return fail(invalid("input derivation '" + p + "' does not end in .drv"));
    if (outs.empty()) return fail(invalid("input derivation '" + p + "': no outputs named"));
    drv.input_drvs[p] = outs;
  }

  InstantiatedDerivation result;
  if (spec.output_hash) {
    if (outputs != std::vector<std::string>{"out"})
      return fail(invalid("fixed-output derivation '" + spec.name + "' must have exactly the output 'out'"));
    auto hash = Hash::parse(*spec.output_hash);
    if (!hash) return fail(hash.error().context("outputHash of '" + spec.name + "'"));
    drv.env["outputHash"] = *spec.output_hash;
    if (spec.recursive) drv.env["outputHashMode"] = "recursive";
    auto method = spec.recursive ? FileIngestion::recursive : FileIngestion::flat;
    auto path = AK_TRY(make_fixed_output_path(method, *hash, spec.name));
    drv.outputs["out"] = DerivationOutput{path.to_string(), (spec.recursive ? "r:" : "") +
                                              std::string(to_string(hash->algo())),
                                          hash->to_string(HashFormat::base16)};
    drv.env["out"] = path.to_string();
    result.outputs.emplace("out", path);
  } else {
    for (const auto& o : outputs) {
      drv.outputs[o] = DerivationOutput{};
      drv.env[o] = "";
    }
    ModuloHasher hasher(loader);
    auto modulo = hasher.hash(drv, true);
    if (!modulo) {
      Error e = modulo.error();
      if (e.code == ErrorCode::not_found) e.code = ErrorCode::invalid_argument;  // a named input is missing
      return fail(std::move(e));
    }
    const auto& hashes = *modulo;
    for (const auto& o : outputs) {
      auto path = AK_TRY(make_output_path(o, hashes.at(o), spec.name));
      drv.outputs[o].path = path.to_string();
      drv.env[o] = path.to_string();
      result.outputs.emplace(o, path);
    }
  }

  result.aterm = unparse_derivation(drv);
  StorePathSet references;
  for (const auto& p : drv.input_srcs) references.insert(*StorePath::parse(p));
  for (const auto& [p, _] : drv.input_drvs) references.insert(*StorePath::parse(p));
  result.drv_path = AK_TRY(make_text_path(Hash::of(HashAlgo::sha256, result.aterm), spec.name + ".drv", references));
  result.drv = std::move(drv);
  return result;
}

} // namespace akbuild::nixdrv
