# bench/datapath_bench: ns per packet of the BPF program through
# BPF_PROG_TEST_RUN (root). Run: datapath_bench [--repeat N] [--json out.json] [--cnp]
add_executable(datapath_bench ${CMAKE_CURRENT_LIST_DIR}/datapath_bench.cpp
               ${PROJECT_SOURCE_DIR}/test/datapath/packets.cpp)
target_include_directories(datapath_bench PRIVATE ${PROJECT_SOURCE_DIR}/test/datapath)
target_link_libraries(datapath_bench PRIVATE bpfence_bpf bpfence_compiler bpfence_bench_provenance bpfence_bench_empty_skel bpfence_bench_min_skel nlohmann_json::nlohmann_json)
