// PinnedMap<Key, Value>: a typed handle on one BPF map (usually pinned under
// the node's bpffs folder), over the ABI structs of datapath_abi.h. Owns its
// descriptor; every operation returns a Status naming the map.
//
// Batch operations use BPF_MAP_*_BATCH where the map type has them (hash,
// LRU hash) and fall back to one syscall per element where it has not
// (LPM trie), so callers never care which.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "bpfence/result.h"
#include "unique_fd.h"

namespace bpfence {

inline std::string errno_text(int err) {
  if (err < 0) err = -err;
  // 524 is the kernel's ENOTSUPP, which libc does not name.
  if (err == 524) return "operation not supported by this map type (ENOTSUPP)";
  return std::strerror(err);
}

// Opens a pinned object; read_only asks for BPF_F_RDONLY.
inline UniqueFd open_pinned(const std::string& path, bool read_only) {
  LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = read_only ? (__u32)BPF_F_RDONLY : 0u);
  return UniqueFd(bpf_obj_get_opts(path.c_str(), &opts));
}

template <class K, class V>
class PinnedMap {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);

 public:
  PinnedMap() = default;
  PinnedMap(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  // Opens the map pinned at `path` and checks its key and value sizes.
  static Status open(const std::string& path, bool read_only, PinnedMap* out) {
    UniqueFd fd = open_pinned(path, read_only);
    if (!fd) return Status::error("map " + path + ": open pinned: " + errno_text(errno));
    PinnedMap m(std::move(fd), path);
    if (Status s = m.check_layout(); !s) return s;
    *out = std::move(m);
    return Status::ok();
  }

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

  Status check_layout() const {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd_.get(), &info, &len))
      return Status::error("map " + name_ + ": get info: " + errno_text(errno));
    if (info.key_size != sizeof(K) || info.value_size != sizeof(V))
      return Status::error("map " + name_ + ": key/value size " + std::to_string(info.key_size) +
                           "/" + std::to_string(info.value_size) + ", this build expects " +
                           std::to_string(sizeof(K)) + "/" + std::to_string(sizeof(V)));
    return Status::ok();
  }

  uint32_t max_entries() const {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd_.get(), &info, &len)) return 0;
    return info.max_entries;
  }

  Status update(const K& key, const V& value, uint64_t flags = BPF_ANY) const {
    if (bpf_map_update_elem(fd_.get(), &key, &value, flags))
      return Status::error("map " + name_ + ": update: " + errno_text(errno));
    return Status::ok();
  }

  // Deleting a key that is not there is not an error.
  Status erase(const K& key) const {
    if (bpf_map_delete_elem(fd_.get(), &key) && errno != ENOENT)
      return Status::error("map " + name_ + ": delete: " + errno_text(errno));
    return Status::ok();
  }

  std::optional<V> lookup(const K& key) const {
    V value{};
    if (bpf_map_lookup_elem(fd_.get(), &key, &value)) return std::nullopt;
    return value;
  }

  Status update_batch(const std::vector<K>& keys, const std::vector<V>& values) const {
    size_t done = 0;
    if (keys.size() != values.size()) return Status::error("map " + name_ + ": batch size mismatch");
    if (keys.empty()) return Status::ok();
    __u32 count = keys.size();
    if (bpf_map_update_batch(fd_.get(), keys.data(), values.data(), &count, nullptr) == 0) {
      return Status::ok();
    }
    // LPM tries have no batch ops; any other failure is retried per element
    // so the error names what failed.
    done = count <= keys.size() ? count : 0;
    for (size_t i = done; i < keys.size(); ++i) {
      if (Status s = update(keys[i], values[i]); !s) return s;
    }
    return Status::ok();
  }

  Status erase_batch(const std::vector<K>& keys) const {
    if (keys.empty()) return Status::ok();
    __u32 count = keys.size();
    if (bpf_map_delete_batch(fd_.get(), keys.data(), &count, nullptr) == 0) return Status::ok();
    // Some keys may already be gone (ENOENT stops the batch): finish one by one.
    for (size_t i = count <= keys.size() ? count : 0; i < keys.size(); ++i) {
      if (Status s = erase(keys[i]); !s) return s;
    }
    return Status::ok();
  }

  // Every entry, read in batches where the map type allows. Entries deleted
  // while reading may or may not show up.
  Status dump(std::vector<K>* keys, std::vector<V>* values) const {
    keys->clear();
    values->clear();
    constexpr __u32 kChunk = 4096;
    std::vector<K> kbuf(kChunk);
    std::vector<V> vbuf(kChunk);
    K out_batch{};
    bool first = true;
    for (;;) {
      __u32 count = kChunk;
      int rc = bpf_map_lookup_batch(fd_.get(), first ? nullptr : &out_batch, &out_batch,
                                    kbuf.data(), vbuf.data(), &count, nullptr);
      int err = rc ? errno : 0;
      if (rc && err != ENOENT) {
        if (first) break;  // no batch support: fall back below
        return Status::error("map " + name_ + ": lookup batch: " + errno_text(err));
      }
      keys->insert(keys->end(), kbuf.begin(), kbuf.begin() + count);
      values->insert(values->end(), vbuf.begin(), vbuf.begin() + count);
      first = false;
      if (err == ENOENT) return Status::ok();
    }
    return for_each([&](const K& k, const V& v) {
      keys->push_back(k);
      values->push_back(v);
    });
  }

  // Calls fn(key, value) for every entry (one lookup per key).
  template <class F>
  Status for_each(F&& fn) const {
    K key{}, next{};
    const K* prev = nullptr;
    for (;;) {
      if (bpf_map_get_next_key(fd_.get(), prev, &next)) {
        if (errno == ENOENT) return Status::ok();
        return Status::error("map " + name_ + ": next key: " + errno_text(errno));
      }
      V value{};
      // A key deleted between the two calls is skipped.
      if (bpf_map_lookup_elem(fd_.get(), &next, &value) == 0) fn(next, value);
      key = next;
      prev = &key;
    }
  }

  std::vector<K> keys() const {
    std::vector<K> out;
    K key{}, next{};
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd_.get(), prev, &next) == 0) {
      out.push_back(next);
      key = next;
      prev = &key;
    }
    return out;
  }

 private:
  UniqueFd fd_;
  std::string name_;
};

}  // namespace bpfence
