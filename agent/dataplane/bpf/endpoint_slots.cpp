// The endpoint slots mapped into the agent (endpoint_slots.h).
#include "endpoint_slots.h"

#include <bpf/bpf.h>
#include <sys/mman.h>

#include <cerrno>

#include "pinned_map.h"

namespace bpfence {

Status EndpointSlots::open(int map_fd) {
  unmap();
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
    return Status::error("map endpoint_slots: get info: " + errno_text(errno));
  if (info.value_size != sizeof(uint64_t) || !(info.map_flags & BPF_F_MMAPABLE))
    return Status::error("map endpoint_slots: not an mmapable array of 8-byte slots");
  size_t bytes = size_t(info.max_entries) * sizeof(uint64_t);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (p == MAP_FAILED) return Status::error("map endpoint_slots: mmap: " + errno_text(errno));
  slots_ = static_cast<uint64_t*>(p);
  count_ = info.max_entries;
  // A slot left by another agent run may be older than its entry (an
  // agent without slots wrote `endpoints` meanwhile): none is trusted.
  for (size_t i = 0; i < count_; ++i) __atomic_store_n(&slots_[i], 0, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return Status::ok();
}

void EndpointSlots::unmap() {
  if (slots_) munmap(slots_, count_ * sizeof(uint64_t));
  slots_ = nullptr;
  count_ = 0;
}

void EndpointSlots::set(uint32_t ifindex, const bf_endpoint& e) {
  if (ifindex < count_) __atomic_store_n(&slots_[ifindex], BF_SLOT(e.endpoint_id, e.generation), __ATOMIC_RELEASE);
}

void EndpointSlots::clear(uint32_t ifindex) {
  if (ifindex < count_) __atomic_store_n(&slots_[ifindex], 0, __ATOMIC_RELEASE);
}

}  // namespace bpfence
