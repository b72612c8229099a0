# Manifest edit -> first packet changed, with the real agent in a node
# netns (root). Run: build/bench/agent_update_latency [--rounds 20] [--out F]
add_executable(agent_update_latency ${CMAKE_CURRENT_LIST_DIR}/agent_update_latency.cpp)
target_include_directories(agent_update_latency PRIVATE ${PROJECT_SOURCE_DIR}/test/e2e)
target_link_libraries(agent_update_latency PRIVATE bpfence_lab bpfence_bench_provenance PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
target_compile_definitions(agent_update_latency PRIVATE BPFENCE_AGENT_BIN="$<TARGET_FILE:bpfence-agent>")
add_dependencies(agent_update_latency bpfence-agent)
