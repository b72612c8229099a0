// ManifestSource: Namespaces, Pods and NetworkPolicies from the *.yaml,
// *.yml and *.json files below a folder, watched with inotify.
//
// - Every batch of file events (read together) becomes ONE SourceUpdate, so
//   a file replaced atomically (write a temporary, rename it over) is one
//   change; only closed writes count, never half-written files.
// - Per file, the objects it last loaded are kept. An object that fails to
//   parse or validate keeps its last good version (its error is reported in
//   the update and by current_errors() until the file is fixed); a document
//   that cannot even be attributed to an object keeps every object the file
//   had. A deleted file deletes its objects.
// - Hidden files and folders (".x", editors' temporaries, ConfigMap's
//   "..data" internals) are not read; a change to one of them (a ConfigMap
//   update swaps "..data") makes the source rescan the tree.
// - The same object in two files: the file whose path sorts first wins; the
//   other definition is reported as an error.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bpfence/source.h"
#include "bpfence/result.h"
#include "poll_thread.h"
#include "unique_fd.h"

namespace bpfence {

class ManifestSource final : public Source {
 public:
  explicit ManifestSource(std::string dir);
  ~ManifestSource() override;
  ManifestSource(const ManifestSource&) = delete;
  ManifestSource& operator=(const ManifestSource&) = delete;

  // Checks the folder and sets up inotify; call before start().
  Status open();

  void start(UpdateSink sink) override;
  void stop() override;
  bool synced() const override { return synced_.load(); }
  std::string describe() const override { return "manifests " + dir_; }
  std::vector<ParseError> current_errors() const override;

  // The update that (re)reading these files gives, without a sink: for tests
  // and for the initial scan. Paths are absolute.
  SourceUpdate reload(const std::set<std::string>& changed, bool rescan);

 private:
  struct FileState {
    size_t hash = 0;
    std::map<ObjectKey, Object> objects;
    std::vector<ParseError> errors;
  };

  void run();
  void add_watch_tree(const std::string& dir);
  void remove_watches_below(const std::string& dir);
  std::set<std::string> list_files() const;
  // Rereads one file; returns false when nothing changed.
  bool load_file(const std::string& path, std::set<ObjectKey>* affected);
  void drop_file(const std::string& path, std::set<ObjectKey>* affected);

  std::string dir_;
  UniqueFd inotify_fd_;
  std::map<int, std::string> watches_;  // wd -> folder
  PollThread worker_;  // the destructor stops it before any member goes
  UpdateSink sink_;
  std::atomic<bool> synced_{false};

  mutable std::mutex mutex_;  // guards the state below (read by current_errors)
  std::map<std::string, FileState> files_;
  std::map<ObjectKey, std::set<std::string>> owners_;  // object -> files defining it
  std::map<ObjectKey, std::string> delivered_;        // object -> file whose version was sent
};

// True for *.yaml, *.yml, *.json names that are not hidden.
bool is_manifest_name(const std::string& name);

}  // namespace bpfence
