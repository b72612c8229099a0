# bench/netbench: the side-by-side network benchmark (issue 7) on lab
# nodes, and bench_netload, its TCP ping-pong / connection-rate tool.
# Run through bench/run.sh; never part of ctest.
find_package(Threads REQUIRED)
add_executable(bench_netload ${CMAKE_CURRENT_LIST_DIR}/netload.cpp)

add_executable(netbench ${CMAKE_CURRENT_LIST_DIR}/netbench.cpp ${CMAKE_CURRENT_LIST_DIR}/netbench_cluster.cpp
               ${CMAKE_CURRENT_LIST_DIR}/netbench_measure.cpp ${CMAKE_CURRENT_LIST_DIR}/netbench_report.cpp)
target_link_libraries(netbench PRIVATE bpfence_lab PkgConfig::LIBBPF bpfence_bench_provenance nlohmann_json::nlohmann_json Threads::Threads)
target_compile_definitions(netbench PRIVATE BENCH_AGENT_BIN="$<TARGET_FILE:bpfence-agent>"
                                            BENCH_NETLOAD_BIN="$<TARGET_FILE:bench_netload>")
add_dependencies(netbench bpfence-agent bench_netload)
