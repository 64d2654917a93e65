# qlab_component(NAME DIR [DEPS ...]): a static library made of every .cpp in DIR.
# Each engine folder is its own library so a folder can be built and tested alone;
# a folder with no sources yet becomes an INTERFACE library so dependants still link.
function(qlab_component name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
  if(srcs)
    add_library(${name} STATIC ${srcs})
    target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} PUBLIC ${ARG_DEPS})
    target_compile_definitions(${name} PUBLIC QLAB_VERSION="${PROJECT_VERSION}")
  else()
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# qlab_test_dir(DIR LIBS...): one GoogleTest binary per test folder, every *_test.cpp in it.
# A folder's binary fails alone, so a broken suite does not hide the others.
function(qlab_test_dir dir)
  get_filename_component(leaf ${dir} NAME)
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*_test.cpp)
  if(NOT srcs)
    return()
  endif()
  set(target test_${leaf})
  add_executable(${target} ${srcs})
  target_link_libraries(${target} PRIVATE ${ARGN} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${target} PRIVATE QLAB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${target} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 120
                       PROPERTIES TIMEOUT 600 LABELS ${leaf})
endfunction()

# qlab_embed_text(TARGET FILE SYMBOL): compiles FILE into TARGET as `extern const char SYMBOL[]`
# (NUL-terminated) and `extern const unsigned long SYMBOL_size`; rebuilt when FILE changes.
function(qlab_embed_text target file symbol)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded/${symbol}.cpp)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake
    COMMENT "Embedding ${file}" VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
