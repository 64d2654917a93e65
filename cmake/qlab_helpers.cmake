# qlab_record_edges(FOLDER LIBS...): notes FOLDER's qlab_* libraries for the include_graph test, which
# checks them against the folder's #include "engine/..." lines (see cmake/check_include_graph.cmake).
function(qlab_record_edges folder)
  set(folders "")
  foreach(lib ${ARGN})
    if(lib MATCHES "^qlab_(.+)$" AND NOT lib STREQUAL "qlab_engine")
      list(APPEND folders ${CMAKE_MATCH_1})
    endif()
  endforeach()
  list(JOIN folders "," folders)
  set_property(GLOBAL APPEND PROPERTY QLAB_INCLUDE_GRAPH "${folder}:${folders}")
endfunction()

# qlab_component(NAME DIR [DEPS ...]): a static library made of every .cpp in DIR.
# Each engine folder is its own library so a folder can be built and tested alone;
# a folder with no sources yet becomes an INTERFACE library so dependants still link.
function(qlab_component name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/${dir})
  if(rel MATCHES "^engine/")
    qlab_record_edges(${rel} ${ARG_DEPS})
  endif()
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

# A cross build's tests run under the toolchain's emulator; a test that starts the test binary again
# (a child under limits) starts it through the emulator, named here with its full path.
set(QLAB_TEST_EMULATOR "")
if(CMAKE_CROSSCOMPILING AND CMAKE_CROSSCOMPILING_EMULATOR)
  list(GET CMAKE_CROSSCOMPILING_EMULATOR 0 emulator_program)
  find_program(QLAB_EMULATOR_PATH ${emulator_program} REQUIRED)
  set(QLAB_TEST_EMULATOR ${CMAKE_CROSSCOMPILING_EMULATOR})
  list(REMOVE_AT QLAB_TEST_EMULATOR 0)
  list(PREPEND QLAB_TEST_EMULATOR ${QLAB_EMULATOR_PATH})
  list(JOIN QLAB_TEST_EMULATOR " " QLAB_TEST_EMULATOR)
endif()

# qlab_test_dir(DIR LIBS...): one GoogleTest binary per test folder, every *_test.cpp in it.
# A folder's binary fails alone, so a broken suite does not hide the others.
function(qlab_test_dir dir)
  get_filename_component(leaf ${dir} NAME)
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*_test.cpp)
  if(NOT srcs)
    return()
  endif()
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${dir})
  if(rel MATCHES "^tests/unit/")
    qlab_record_edges(${rel} ${ARGN})
  endif()
  set(target test_${leaf})
  add_executable(${target} ${srcs})
  target_link_libraries(${target} PRIVATE ${ARGN} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${target} PRIVATE QLAB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  # QLAB_BLAS_CORE_WAS set (empty): a qlab a test starts keeps the BLAS kernels OpenBLAS picked, the ones
  # the test binary itself runs, so figures computed in the test and by the command agree to the last bit
  # (tensor/blas_core.h; CliBlas.* unsets it to test the choice itself).
  gtest_discover_tests(${target} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 120
                       PROPERTIES TIMEOUT 600 LABELS ${leaf} ENVIRONMENT "QLAB_TEST_EMULATOR=${QLAB_TEST_EMULATOR}"
                                  ENVIRONMENT_MODIFICATION "QLAB_BLAS_CORE_WAS=set:")
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
