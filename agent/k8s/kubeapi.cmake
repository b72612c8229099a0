# Kubernetes API client: kubeconfig / in-cluster config, HTTP(S) transport on
# cpp-httplib + OpenSSL, watch stream decoder, list+watch source.
# Included from agent/k8s/CMakeLists.txt.
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)
add_library(bpfence_kubeapi STATIC
  ${CMAKE_CURRENT_LIST_DIR}/kubeconfig.cpp
  ${CMAKE_CURRENT_LIST_DIR}/api_client.cpp
  ${CMAKE_CURRENT_LIST_DIR}/api_watch_decoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/api_reflector.cpp
  ${CMAKE_CURRENT_LIST_DIR}/api_rejections.cpp
  ${CMAKE_CURRENT_LIST_DIR}/api_source.cpp)
# Users include "k8s/api_source.h" and "k8s/kubeconfig.h".
target_include_directories(bpfence_kubeapi PUBLIC ${PROJECT_SOURCE_DIR}/agent)
target_link_libraries(bpfence_kubeapi
  PUBLIC bpfence_k8s nlohmann_json::nlohmann_json Threads::Threads
  PRIVATE bpfence_base PkgConfig::HTTPLIB PkgConfig::YAMLCPP OpenSSL::SSL OpenSSL::Crypto)
