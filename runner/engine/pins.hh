#pragma once
// Pins of fetch steps: `akbuild.lock` at the workspace root, JSON, written atomically with sorted
// keys so it diffs well:
//   {
//     "version": 1,
//     "pins": {
//       "<step id>": { "x86_64-linux": "sha256-<base64 NAR hash>" }
//     },
//     "images": {
//       "docker://<host>/<repo>:<tag>": "sha256:<hex>"
//     }
//   }
// A step's explicit `hash:` wins over its pin. `akbuild pin update` runs the fetch steps with the
// network and records the NAR hash of their outputs here. `images` (written only when there are
// some) holds the digest each registry tag a step reads resolved to at the last update (the
// manifest or index the tag named); builds use that digest, whatever the tag names since.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runner/engine/engine.hh"

namespace akbuild::engine {

class PinFile {
public:
  static constexpr const char* k_file_name = "akbuild.lock";

  // The pins of `workspace` (none if the file is missing); invalid_argument naming the fault if
  // it does not parse.
  static Result<PinFile> load(const std::filesystem::path& workspace);

  std::optional<std::string> get(const std::string& step_id, const std::string& platform) const;
  // The platforms the step has a pin for, sorted.
  std::vector<std::string> platforms(const std::string& step_id) const;
  void set(const std::string& step_id, const std::string& platform, const std::string& sri);
  // The digest pinned for a registry reference ("docker://host/repo:tag"); nullopt if none.
  std::optional<std::string> image(const std::string& ref) const;
  void set_image(const std::string& ref, const std::string& digest);
  // Writes the file atomically.
  Result<> save() const;
  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
  std::map<std::string, std::map<std::string, std::string>> m_pins;
  std::map<std::string, std::string> m_images;
};

struct PinChange {
  std::string step_id;  // for an image pin: the reference ("docker://host/repo:tag")
  std::string old_pin;  // empty if there was none
  std::string new_pin;
  bool reused = false;  // its inputs were those of an earlier fetch, whose pin stands (not fetched)
  std::string diff;     // when the pin moved: lines naming the files that differ from the old pin's tree
  std::vector<std::string> other_platforms;  // other platforms given the same pin (a tree the same on all)
};

struct PinUpdate {
  std::vector<std::string> ids;  // the steps to update; empty: every fetch step among the steps
  bool check = false;            // compare only: akbuild.lock is not written
};

// Runs the fetch steps among `steps` (or those `update.ids` names, with the steps they depend
// on), ignoring their pins in akbuild.lock, and records the NAR hash of each one's outputs there
// (unless update.check). A fetch whose inputs equal those of an earlier one in the cache is not
// run again unless options.refetch. A step with an explicit `hash:` is built as usual, checked
// against that hash (a mismatch fails the update), and not recorded. The registry tags steps read
// (StepPlan::locked_refs) are resolved and recorded under `images`, their content kept in the
// cache. invalid_argument when an id names no step, or no step with a pin.
Result<std::vector<PinChange>> update_pins(EngineOptions options, const std::vector<StepRequest>& steps,
                                           const PinUpdate& update, EventSink& events);

// The platform string pins and manifests use ("x86_64-linux").
std::string current_platform();

} // namespace akbuild::engine
