# The agent under cluster churn: the fake API server's watch streams feed a
# real agent (root). Run: build/bench/agent_churn [--pods N] [--rates 0,100,500]
find_package(OpenSSL REQUIRED)
add_executable(agent_churn ${CMAKE_CURRENT_LIST_DIR}/agent_churn.cpp
  ${PROJECT_SOURCE_DIR}/test/kubeapi/fake_api_server.cpp ${PROJECT_SOURCE_DIR}/test/kubeapi/kube_test_util.cpp)
target_include_directories(agent_churn PRIVATE
  ${PROJECT_SOURCE_DIR}/test/e2e ${PROJECT_SOURCE_DIR}/test/kubeapi ${PROJECT_SOURCE_DIR}/test/support)
target_link_libraries(agent_churn PRIVATE bpfence_lab bpfence_model bpfence_bench_provenance PkgConfig::HTTPLIB
  nlohmann_json::nlohmann_json OpenSSL::SSL OpenSSL::Crypto)
target_compile_definitions(agent_churn PRIVATE BPFENCE_AGENT_BIN="$<TARGET_FILE:bpfence-agent>")
add_dependencies(agent_churn bpfence-agent)

# Smoke run (label e2e, root): a small cluster, two short windows; checks
# that it runs and writes the JSON it promises. Never a timing.
add_test(NAME bench_agent_churn_smoke
  COMMAND ${CMAKE_COMMAND} -DBENCH=$<TARGET_FILE:agent_churn> -DOUT=${CMAKE_CURRENT_BINARY_DIR}/agent_churn_smoke.json
          -P ${CMAKE_CURRENT_LIST_DIR}/smoke/agent_churn.cmake)
set_tests_properties(bench_agent_churn_smoke PROPERTIES LABELS e2e SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE)
