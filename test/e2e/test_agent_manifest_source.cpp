// The agent's manifest source on a real folder with real inotify (no root
// needed): one update per atomic replace, last good version kept for a bad
// object, deletes, new sub-folders, hidden and foreign files ignored.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "manifest_source.h"
#include "manifests_for_tests.h"

namespace fs = std::filesystem;
using namespace bpfence;

namespace {

class Collector {
 public:
  void push(SourceUpdate u) {
    std::lock_guard lock(mutex_);
    updates_.push_back(std::move(u));
    cv_.notify_all();
  }
  // Waits for the n-th update (1-based).
  bool wait(size_t n, int ms = 3000) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return updates_.size() >= n; });
  }
  size_t size() {
    std::lock_guard lock(mutex_);
    return updates_.size();
  }
  SourceUpdate at(size_t i) {
    std::lock_guard lock(mutex_);
    return updates_.at(i);
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<SourceUpdate> updates_;
};

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("bfms-" + std::to_string(getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::trunc) << text;
}

void write_atomic(const fs::path& p, const std::string& text) {
  fs::path tmp = p.parent_path() / ("." + p.filename().string() + ".tmp");
  write(tmp, text);
  fs::rename(tmp, p);
}

// Pods of namespace dev on node n1.
std::string pod(const std::string& name, const std::string& ip, const std::string& app = "web") {
  return e2e::pod_yaml("dev", name, app, ip, "n1");
}

const std::string kNs = e2e::namespace_yaml("dev");

const Pod* find_pod(const SourceUpdate& u, const std::string& key) {
  for (const Object& o : u.upserts)
    if (auto* p = std::get_if<Pod>(&o); p && p->key() == key) return p;
  return nullptr;
}

bool has_delete(const SourceUpdate& u, const std::string& kind, const std::string& key) {
  for (const ObjectKey& k : u.deletes)
    if (k.kind == kind && k.key == key) return true;
  return false;
}

// No further update within a short while.
bool quiet(Collector& c, size_t n) {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return c.size() == n;
}

}  // namespace

TEST_CASE("manifest source: initial scan, atomic replace, last good version, delete", "[unit][agent]") {
  TempDir dir;
  write(dir.path / "a.yaml", kNs + "---\n" + pod("web", "10.0.0.1"));
  write(dir.path / "notes.txt", "not a manifest");
  write(dir.path / ".hidden.yaml", pod("ghost", "10.0.0.9"));
  ManifestSource src(dir.path.string());
  REQUIRE(src.open());
  Collector c;
  src.start([&](SourceUpdate u) { c.push(std::move(u)); });
  REQUIRE(c.wait(1));
  for (int i = 0; i < 100 && !src.synced(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(src.synced());
  SourceUpdate first = c.at(0);
  CHECK(first.upserts.size() == 2);  // the namespace and the pod; hidden and .txt files ignored
  CHECK(first.errors.empty());
  CHECK(first.synced);  // the initial scan is the whole initial state
  REQUIRE(find_pod(first, "dev/web"));

  // An atomic replace is one update.
  write_atomic(dir.path / "a.yaml", kNs + "---\n" + pod("web", "10.0.0.2"));
  REQUIRE(c.wait(2));
  CHECK(quiet(c, 2));
  SourceUpdate second = c.at(1);
  CHECK_FALSE(second.synced);
  const Pod* p = find_pod(second, "dev/web");
  REQUIRE(p);
  CHECK(p->ips.at(0).str() == "10.0.0.2");

  // A bad object keeps its last good version, and the error is reported.
  write_atomic(dir.path / "a.yaml", kNs + "---\n" + pod("web", "not-an-ip"));
  REQUIRE(c.wait(3));
  SourceUpdate bad = c.at(2);
  CHECK(!bad.errors.empty());
  CHECK(bad.deletes.empty());
  p = find_pod(bad, "dev/web");
  if (p) CHECK(p->ips.at(0).str() == "10.0.0.2");
  CHECK(!src.current_errors().empty());

  // A document nobody can attribute (broken YAML) keeps every object.
  write_atomic(dir.path / "a.yaml", "kind: [unclosed\n");
  REQUIRE(c.wait(4));
  CHECK(c.at(3).deletes.empty());
  CHECK(!c.at(3).errors.empty());

  // Fixed: the errors go away.
  write_atomic(dir.path / "a.yaml", kNs + "---\n" + pod("web", "10.0.0.3"));
  REQUIRE(c.wait(5));
  SourceUpdate fixed = c.at(4);
  p = find_pod(fixed, "dev/web");
  REQUIRE(p);
  CHECK(p->ips.at(0).str() == "10.0.0.3");
  CHECK(src.current_errors().empty());

  // A plain (non-atomic) write counts when the writer closes the file.
  write(dir.path / "b.yaml", pod("db", "10.0.0.4", "db"));
  REQUIRE(c.wait(6));
  CHECK(find_pod(c.at(5), "dev/db"));

  // Removing an object from a file deletes it; deleting the file deletes the rest.
  write_atomic(dir.path / "a.yaml", kNs);
  REQUIRE(c.wait(7));
  CHECK(has_delete(c.at(6), "Pod", "dev/web"));
  fs::remove(dir.path / "a.yaml");
  REQUIRE(c.wait(8));
  CHECK(has_delete(c.at(7), "Namespace", "dev"));

  // A new sub-folder is watched, and its files read.
  fs::create_directories(dir.path / "sub" / "deeper");
  write(dir.path / "sub" / "deeper" / "c.json",
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"api","namespace":"dev"},"spec":{"nodeName":"n1"}})");
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    for (size_t k = 8; k < c.size(); ++k) seen |= find_pod(c.at(k), "dev/api") != nullptr;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(seen);
  size_t before = c.size();
  fs::remove_all(dir.path / "sub");
  REQUIRE(c.wait(before + 1));
  CHECK(has_delete(c.at(before), "Pod", "dev/api"));

  // The same object in two files: the first path wins, the other is reported.
  write(dir.path / "x1.yaml", pod("dup", "10.0.0.7"));
  write(dir.path / "x2.yaml", pod("dup", "10.0.0.8"));
  bool reported = false;
  for (int i = 0; i < 300 && !reported; ++i) {
    for (const ParseError& e : src.current_errors()) reported |= e.message.find("also defined in x1.yaml") != std::string::npos;
    if (!reported) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(reported);
  src.stop();
}

TEST_CASE("manifest source: a renamed-in file and a removed folder", "[unit][agent]") {
  TempDir dir;
  ManifestSource src(dir.path.string());
  REQUIRE(src.open());
  Collector c;
  src.start([&](SourceUpdate u) { c.push(std::move(u)); });
  REQUIRE(c.wait(1));
  CHECK(c.at(0).upserts.empty());
  // Written elsewhere with a foreign name, then moved in: one update.
  write(dir.path / "draft.tmp", pod("web", "10.0.0.1"));
  fs::rename(dir.path / "draft.tmp", dir.path / "web.yml");
  REQUIRE(c.wait(2));
  CHECK(quiet(c, 2));
  CHECK(find_pod(c.at(1), "dev/web"));
  // Moved out to a foreign name: deleted.
  fs::rename(dir.path / "web.yml", dir.path / "web.yml.bak");
  REQUIRE(c.wait(3));
  CHECK(has_delete(c.at(2), "Pod", "dev/web"));
  src.stop();
}
