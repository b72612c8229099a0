// The small cluster every datapath test starts from.
//
//   node n1 (local): dev/web 10.0.1.10 fd00::10 (port "http" = 8080/TCP)
//                    dev/client 10.0.1.11 fd00::11, dev/other 10.0.1.12 fd00::12
//   node n2:         prod/db 10.0.2.20, prod/api 10.0.3.30
//   host (n1):       10.0.0.1
#pragma once

#include "fixture.h"

namespace bpfence::testdp {

inline const char* kWeb = "dev/web";
inline const char* kClient = "dev/client";
inline const char* kOther = "dev/other";

inline void add_cluster(Fixture& f) {
  Compiler& c = f.compiler();
  c.upsert(make_ns("dev", {{"team", "dev"}}));
  c.upsert(make_ns("prod", {{"team", "prod"}}));
  c.upsert(make_pod("dev", "web", {{"app", "web"}}, {"10.0.1.10", "fd00::10"}, "n1",
                    {ContainerPort{"http", 8080, Protocol::TCP}}));
  c.upsert(make_pod("dev", "client", {{"app", "client"}}, {"10.0.1.11", "fd00::11"}));
  c.upsert(make_pod("dev", "other", {{"app", "other"}}, {"10.0.1.12", "fd00::12"}));
  c.upsert(make_pod("prod", "db", {{"app", "db"}}, {"10.0.2.20"}, "n2"));
  c.upsert(make_pod("prod", "api", {{"app", "api"}}, {"10.0.3.30"}, "n2"));
}

}  // namespace bpfence::testdp
