// ManifestSource: scanning, inotify, and keeping each object's last good
// version per file.
#include "manifest_source.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "log.h"

namespace fs = std::filesystem;

namespace bpfence {
namespace {

constexpr uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;

bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

// "NetworkPolicy dev/web" -> {NetworkPolicy, dev/web}; "document 2" -> none.
std::optional<ObjectKey> key_from_label(const std::string& label) {
  size_t sp = label.find(' ');
  if (sp == std::string::npos) return std::nullopt;
  std::string kind = label.substr(0, sp);
  if (kind != "Namespace" && kind != "Pod" && kind != "NetworkPolicy") return std::nullopt;
  return ObjectKey{kind, label.substr(sp + 1)};
}

enum class ReadResult { ok, missing, failed };

ReadResult read_file(const std::string& path, std::string* out, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return ReadResult::missing;
    *error = std::strerror(errno);
    return ReadResult::failed;
  }
  if (!S_ISREG(st.st_mode)) return ReadResult::missing;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::strerror(errno);
    return errno == ENOENT ? ReadResult::missing : ReadResult::failed;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return ReadResult::ok;
}

}  // namespace

bool is_manifest_name(const std::string& name) {
  if (hidden(name)) return false;
  for (const char* ext : {".yaml", ".yml", ".json"}) {
    std::string_view e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

ManifestSource::ManifestSource(std::string dir) : dir_(std::move(dir)) {}

ManifestSource::~ManifestSource() {
  stop();
}

Status ManifestSource::open() {
  char real[PATH_MAX];
  if (!::realpath(dir_.c_str(), real)) return Status::error("--manifests " + dir_ + ": " + std::strerror(errno));
  struct stat st;
  if (::stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) return Status::error("--manifests " + dir_ + ": not a folder");
  dir_ = real;
  inotify_fd_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_fd_) return Status::error("inotify: " + std::string(std::strerror(errno)));
  if (Status s = worker_.open(); !s) return s;
  // Watches go in before the first scan, so nothing written in between is missed.
  add_watch_tree(dir_);
  if (watches_.empty()) return Status::error("--manifests " + dir_ + ": cannot watch: " + std::strerror(errno));
  return Status::ok();
}

void ManifestSource::add_watch_tree(const std::string& dir) {
  int wd = inotify_add_watch(inotify_fd_.get(), dir.c_str(), kDirMask);
  if (wd < 0) {
    agentlog::warn("cannot watch folder", "dir=" + agentlog::q(dir) + " error=" + agentlog::q(std::strerror(errno)));
    return;
  }
  watches_[wd] = dir;
  std::error_code ec;
  for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (hidden(name) || it->is_symlink(ec) || !it->is_directory(ec)) continue;
    add_watch_tree(it->path().string());
  }
}

void ManifestSource::remove_watches_below(const std::string& dir) {
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (it->second == dir || it->second.starts_with(dir + "/")) {
      inotify_rm_watch(inotify_fd_.get(), it->first);
      it = watches_.erase(it);
    } else {
      ++it;
    }
  }
}

std::set<std::string> ManifestSource::list_files() const {
  std::set<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir_, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code ec2;
    if (it->is_directory(ec2)) {
      if (hidden(name)) it.disable_recursion_pending();
      continue;
    }
    if (is_manifest_name(name) && it->is_regular_file(ec2)) out.insert(it->path().string());
  }
  return out;
}

void ManifestSource::drop_file(const std::string& path, std::set<ObjectKey>* affected) {
  auto it = files_.find(path);
  if (it == files_.end()) return;
  for (const auto& [key, obj] : it->second.objects) {
    affected->insert(key);
    auto o = owners_.find(key);
    if (o != owners_.end()) {
      o->second.erase(path);
      if (o->second.empty()) owners_.erase(o);
    }
  }
  files_.erase(it);
  agentlog::info("manifest file removed", "file=" + agentlog::q(path));
}

bool ManifestSource::load_file(const std::string& path, std::set<ObjectKey>* affected) {
  std::string content, error;
  std::string shown = fs::path(path).lexically_relative(dir_).string();
  ReadResult rr = read_file(path, &content, &error);
  if (rr == ReadResult::missing) {
    bool had = files_.count(path) > 0;
    drop_file(path, affected);
    return had;
  }
  FileState& cur = files_[path];  // created empty for a new file
  if (rr == ReadResult::failed) {
    // Unreadable: keep what it had, report why.
    cur.errors = {ParseError{shown, "", "", "cannot read: " + error}};
    cur.hash = 0;
    return true;
  }
  size_t hash = std::hash<std::string>{}(content);
  if (hash == cur.hash && cur.hash != 0) return false;  // 0: not loaded yet

  ParseResult parsed = parse_manifests(content, shown, "default");
  FileState next;
  next.hash = hash;
  next.errors = parsed.errors;
  for (Object& obj : parsed.objects) {
    ObjectKey key = key_of(obj);
    next.objects.insert_or_assign(key, std::move(obj));
  }
  // Objects that failed keep their last good version; an error that names
  // no object could be any of them, so then all of them are kept.
  std::set<ObjectKey> failed;
  bool unattributed = false;
  for (const ParseError& e : parsed.errors) {
    if (auto k = key_from_label(e.object)) failed.insert(*k);
    else unattributed = true;
  }
  for (auto& [key, obj] : cur.objects) {
    if (next.objects.count(key)) continue;
    if (unattributed || failed.count(key)) {
      next.objects.emplace(key, obj);
      agentlog::warn("keeping last good version", "file=" + agentlog::q(shown) + " object=" +
                                                      agentlog::q(key.kind + " " + key.key));
    }
  }
  for (const auto& [key, obj] : cur.objects) {
    affected->insert(key);
    if (!next.objects.count(key)) {
      auto o = owners_.find(key);
      if (o != owners_.end()) {
        o->second.erase(path);
        if (o->second.empty()) owners_.erase(o);
      }
    }
  }
  for (const auto& [key, obj] : next.objects) {
    affected->insert(key);
    owners_[key].insert(path);
  }
  for (const ParseError& e : next.errors) agentlog::warn("manifest rejected", "error=" + agentlog::q(e.str()));
  agentlog::debug("manifest file loaded", "file=" + agentlog::q(shown) + " objects=" +
                                              std::to_string(next.objects.size()) +
                                              " errors=" + std::to_string(next.errors.size()));
  cur = std::move(next);
  return true;
}

SourceUpdate ManifestSource::reload(const std::set<std::string>& changed, bool rescan) {
  std::lock_guard lock(mutex_);
  std::set<ObjectKey> affected;
  std::set<std::string> reloaded;
  std::set<std::string> todo = changed;
  if (rescan) {
    std::set<std::string> present = list_files();
    std::vector<std::string> gone;
    for (const auto& [path, st] : files_)
      if (!present.count(path)) gone.push_back(path);
    for (const std::string& path : gone) {
      drop_file(path, &affected);
      reloaded.insert(path);
    }
    todo.insert(present.begin(), present.end());
  }
  for (const std::string& path : todo)
    if (load_file(path, &affected)) reloaded.insert(path);

  SourceUpdate u;
  for (const ObjectKey& key : affected) {
    auto o = owners_.find(key);
    if (o == owners_.end()) {
      if (delivered_.erase(key)) u.deletes.push_back(key);
      continue;
    }
    const std::string& owner = *o->second.begin();
    auto d = delivered_.find(key);
    if (d != delivered_.end() && d->second == owner && !reloaded.count(owner)) continue;
    delivered_[key] = owner;
    u.upserts.push_back(files_[owner].objects.at(key));
  }
  for (const std::string& path : reloaded) {
    auto f = files_.find(path);
    if (f != files_.end()) u.errors.insert(u.errors.end(), f->second.errors.begin(), f->second.errors.end());
  }
  return u;
}

std::vector<ParseError> ManifestSource::current_errors() const {
  std::lock_guard lock(mutex_);
  std::vector<ParseError> out;
  for (const auto& [path, f] : files_) out.insert(out.end(), f.errors.begin(), f.errors.end());
  for (const auto& [key, paths] : owners_) {
    if (paths.size() < 2) continue;
    std::string used = fs::path(*paths.begin()).lexically_relative(dir_).string();
    for (auto it = std::next(paths.begin()); it != paths.end(); ++it)
      out.push_back(ParseError{fs::path(*it).lexically_relative(dir_).string(), key.kind + " " + key.key,
                               "metadata.name", "also defined in " + used + ", whose definition is used"});
  }
  return out;
}

void ManifestSource::start(UpdateSink sink) {
  if (worker_.running()) return;
  sink_ = std::move(sink);
  worker_.start([this] { run(); });
}

void ManifestSource::stop() {
  worker_.stop();
}

void ManifestSource::run() {
  {
    SourceUpdate initial = reload({}, true);
    agentlog::info("manifests loaded", "dir=" + agentlog::q(dir_) + " objects=" +
                                           std::to_string(initial.upserts.size()) +
                                           " errors=" + std::to_string(initial.errors.size()));
    initial.synced = true;
    sink_(std::move(initial));
    synced_ = true;
  }
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    pollfd fds[2] = {{inotify_fd_.get(), POLLIN, 0}, {worker_.stop_fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      agentlog::error("poll inotify", "error=" + agentlog::q(std::strerror(errno)));
      return;
    }
    if (fds[1].revents) return;
    std::set<std::string> changed;
    bool rescan = false;
    // Drain everything queued: events read together become one update.
    for (;;) {
      ssize_t n = ::read(inotify_fd_.get(), buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_Q_OVERFLOW) {
          rescan = true;
          continue;
        }
        auto w = watches_.find(ev->wd);
        if (w == watches_.end()) continue;
        if (ev->mask & IN_IGNORED) {
          watches_.erase(w);
          continue;
        }
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
          rescan = true;
          continue;
        }
        std::string name = ev->len ? ev->name : "";
        std::string path = w->second + "/" + name;
        if (ev->mask & IN_ISDIR) {
          if (hidden(name)) {
            rescan |= name.starts_with("..");
            continue;
          }
          if (ev->mask & (IN_CREATE | IN_MOVED_TO)) add_watch_tree(path);
          if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) remove_watches_below(path);
          rescan = true;
          continue;
        }
        if (hidden(name)) {
          // A ConfigMap volume swaps its "..data" link to update files.
          rescan |= name.starts_with("..");
          continue;
        }
        if (!is_manifest_name(name)) continue;
        if (ev->mask & IN_CREATE) {
          // A new symlink gets no close-write: read it now. A new regular
          // file is read when its writer closes it.
          struct stat st;
          if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) changed.insert(path);
          continue;
        }
        changed.insert(path);
      }
    }
    if (changed.empty() && !rescan) continue;
    SourceUpdate u = reload(changed, rescan);
    if (u.upserts.empty() && u.deletes.empty() && u.errors.empty()) continue;
    agentlog::info("manifests changed", "upserts=" + std::to_string(u.upserts.size()) +
                                            " deletes=" + std::to_string(u.deletes.size()) +
                                            " errors=" + std::to_string(u.errors.size()));
    sink_(std::move(u));
  }
}

}  // namespace bpfence
