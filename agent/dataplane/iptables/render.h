// The renderer: desired state + interface bindings -> Model (ipsets and
// chains). Pure: no kernel, no I/O; the unit tests call it directly.
//
// It is incremental like the compiler: after one full render, a StateDiff
// re-renders only the endpoints it touches and the sets whose identities'
// addresses or prefixes changed, and reports the names of the sets and
// chains that differ, so the applier rewrites only those.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "bpfence/compiler.h"
#include "bpfence/result.h"
#include "model.h"

namespace bpfence::ipt {

class Renderer {
 public:
  Renderer(Names names, bool ipv6);
  ~Renderer();
  Renderer(Renderer&&) noexcept;
  Renderer& operator=(Renderer&&) noexcept;

  // From scratch. `ifnames`: pod -> host-side interface of the bound pods.
  Status render_all(const DesiredState& s, const std::map<std::string, std::string>& ifnames,
                    const std::set<std::string>& fail_closed);
  // After render_all: `diff` is what the compiler's commit returned (the
  // empty diff for a bind), `s` the state after it; `pods` are re-rendered
  // in any case (bindings or fail-closed marks that changed).
  Status render_changes(const DesiredState& s, const StateDiff& diff,
                        const std::map<std::string, std::string>& ifnames, const std::set<std::string>& fail_closed,
                        const std::set<std::string>& pods);
  // Without a state: drops an unbound pod's chains, or re-renders a pod's
  // chains for a new fail-closed mark from what was rendered last.
  void remove_pod(const std::string& pod);
  void set_fail_closed(const std::string& pod, bool fail_closed);

  // False after a failed render: only render_all() may follow.
  bool consistent() const;
  const Model& model() const;
  // What changed since the last take_changes().
  Changes take_changes();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct RenderInput {
  const DesiredState* state = nullptr;
  Names names;
  std::map<std::string, std::string> ifnames;  // pod (namespace/name) -> host-side interface
  std::set<std::string> fail_closed;           // pods that drop every new flow
  bool ipv6 = true;
};

// Full render in one call. Fails (and leaves *out alone) on an interface
// name iptables would not take, a set that would exceed kIpsetMaxElem, or
// two peer sets whose names collide.
Status render(const RenderInput& in, Model* out);

// True when iptables accepts `name` after -i/-o: 1..15 characters of
// [A-Za-z0-9_.@-] (the restore text quotes nothing).
bool valid_ifname(const std::string& name);

}  // namespace bpfence::ipt
