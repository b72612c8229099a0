# Compiler benchmark: full compile and one-change diffs at cluster scale.
add_executable(compiler_bench ${CMAKE_CURRENT_SOURCE_DIR}/compiler_bench.cpp)
target_include_directories(compiler_bench PRIVATE ${PROJECT_SOURCE_DIR}/test/support)
target_link_libraries(compiler_bench PRIVATE bpfence_compiler bpfence_bench_provenance nlohmann_json::nlohmann_json)
