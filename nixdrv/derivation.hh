#pragma once
// Nix derivations: the ATerm text of a .drv file, hashDerivationModulo, and the paths Nix gives
// `derivation { ... }` (nix.md §4–5; Nix src/libstore/derivations.cc). ATerm grammar:
//
//   Derive([outputs],[inputDrvs],[inputSrcs],"platform","builder",[args],[env])
//   output   = ("name","path","hashAlgo","hash")   sorted by name
//   inputDrv = ("/nix/store/….drv",["o1","o2"])    sorted by path, output names sorted
//   inputSrc = "/nix/store/…"                       sorted
//   env      = ("key","value")                      sorted by key
//
// No whitespace, no trailing newline. builder, args, env keys and values are escaped (" \ LF CR
// TAB as \" \\ \n \r \t; everything else raw); the other strings are written between quotes as is.
//
// Usage: DerivationSpec s; s.name = "hello"; …; auto built = AK_TRY(instantiate(s, loader));

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nixdrv/hash.hh"
#include "nixdrv/store_path.hh"
#include "runner/core/result.hh"

namespace akbuild::nixdrv {

// One output tuple, as written in the ATerm.
struct DerivationOutput {
  std::string path;       // "" when deferred
  std::string hash_algo;  // "" (input-addressed) or "<r:|text:|git:>?<algo>"
  std::string hash;       // hex, or "" / "impure"
  auto operator<=>(const DerivationOutput&) const = default;
};

struct Derivation {
  std::map<std::string, DerivationOutput> outputs;
  std::map<std::string, std::set<std::string>> input_drvs;  // .drv path (or modulo hex) -> outputs
  std::set<std::string> input_srcs;
  std::string platform;
  std::string builder;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;

  // env["name"], which names the .drv and the outputs.
  std::string name() const;
  // Exactly one output "out" with a hash.
  bool is_fixed_output() const;
  auto operator<=>(const Derivation&) const = default;
};

// The ATerm, byte-identical to Nix. With `mask_outputs`, every output tuple is ("","","","")
// and env[o] = "" for each output o (the form hashDerivationModulo hashes).
std::string unparse_derivation(const Derivation& drv, bool mask_outputs = false);
// Parses an ATerm (as in a .drv file). Errors name the byte offset and what was expected.
Result<Derivation> parse_derivation(std::string_view aterm);

// Loads an input derivation by its path (reads the .drv from a store, or from a map).
using DerivationLoader = std::function<Result<Derivation>(const std::string& drv_path)>;

// hashDerivationModulo, memoising the unmasked hashes of input derivations by path.
class ModuloHasher {
public:
  explicit ModuloHasher(DerivationLoader loader) : m_loader(std::move(loader)) {}
  // One sha256 per output name (the same for all outputs unless fixed-output).
  Result<std::map<std::string, Hash>> hash(const Derivation& drv, bool mask_outputs);

private:
  DerivationLoader m_loader;
  std::map<std::string, std::map<std::string, Hash>> m_memo;
};

// What `derivation { ... }` says, before Nix fills in the outputs.
struct DerivationSpec {
  std::string name, builder, system;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;        // extra attributes (strings)
  std::optional<std::vector<std::string>> outputs;  // the `outputs` attribute, if given
  std::set<std::string> input_srcs;                  // full store paths
  std::map<std::string, std::set<std::string>> input_drvs;  // .drv path -> outputs used
  // Fixed output: `outputHash` exactly as written, and whether outputHashMode = "recursive".
  std::optional<std::string> output_hash;
  bool recursive = true;
};

struct InstantiatedDerivation {
  Derivation drv;
  std::string aterm;
  StorePath drv_path;
  std::map<std::string, StorePath> outputs;
};

// The derivation, ATerm, .drv path and output paths `nix-instantiate` gives the same
// `derivation { ... }`. Fails (invalid_argument) on invalid names, a system Nix could not parse
// back (containing '"', '\' or a newline), a fixed output without a typed hash or with
// outputs other than "out", or an input drv the loader cannot give.
Result<InstantiatedDerivation> instantiate(const DerivationSpec& spec, const DerivationLoader& loader);

} // namespace akbuild::nixdrv
