# Tests: one CTest per module self-test (unit.<noun>), data-driven mapping
# tests, CLI tests and the Python cross-checks.  Scale every timeout with
# MIDA_TEST_TIMEOUT_MULTIPLIER in the environment of the test scripts.

# The self-test table is generated from the modules that define
# mida_<noun>_test(), so adding a module adds its test.
set(_mida_selftests "")
foreach(src ${MIDA_SOURCES})
  get_filename_component(stem ${src} NAME_WE)
  string(REGEX REPLACE "^mida_" "" noun ${stem})
  file(STRINGS ${src} _has REGEX "^int mida_${noun}_test *\\(")
  if(_has)
    list(APPEND _mida_selftests ${noun})
  endif()
endforeach()
set(_table "")
foreach(noun ${_mida_selftests})
  string(APPEND _table "MIDA_SELFTEST(${noun})\n")
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/selftest_table.h.in "${_table}")
configure_file(${CMAKE_BINARY_DIR}/selftest_table.h.in ${CMAKE_BINARY_DIR}/selftest_table.h COPYONLY)

add_executable(mida_selftest tests/unit/selftest.c)
target_include_directories(mida_selftest PRIVATE ${CMAKE_BINARY_DIR})
target_link_libraries(mida_selftest PRIVATE mida_static)
target_compile_definitions(mida_selftest PRIVATE MIDA_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

# Writes a fixed result set in one SPARQL result format, for
# tests/python/test_results_formats.py to parse with rdflib.
add_executable(mida_results_dump tests/unit/results_dump.c)
target_link_libraries(mida_results_dump PRIVATE mida_static)

# Under the sanitizers every test runs with the same options: full stacks
# (Debian's raptor has no frame pointers) so that the suppressions of the
# libraries' own leaks in tests/lsan.supp can match.
set(MIDA_SANITIZER_ENV "")
if(MIDA_SANITIZE)
  set(MIDA_SANITIZER_ENV
    "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:strict_string_checks=1"
    "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()

foreach(noun ${_mida_selftests})
  add_test(NAME unit.${noun} COMMAND mida_selftest --test ${noun})
  set_tests_properties(unit.${noun} PROPERTIES TIMEOUT ${MIDA_TEST_TIMEOUT}
                       ENVIRONMENT "${MIDA_SANITIZER_ENV}")
endforeach()

# N-Quads in, JSON-LD out: driven by tests/python/test_jsonld_writer.py
# against the W3C fromRdf cases.
add_executable(mida_jsonld_convert tests/unit/jsonld_convert.c)
target_link_libraries(mida_jsonld_convert PRIVATE mida_static)

# Script tests get the paths they need in the environment.
set(MIDA_TEST_ENV ${MIDA_SANITIZER_ENV}
  "MIDA_BIN=$<TARGET_FILE:mida_tool>"
  "MIDA_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "MIDA_SHARED_DIR=${CMAKE_SOURCE_DIR}/../shared"
  "MIDA_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "PYTHON=/usr/bin/python3")

file(GLOB _cli_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cli/*.sh)
foreach(t ${_cli_tests})
  get_filename_component(name ${t} NAME_WE)
  add_test(NAME cli.${name} COMMAND bash ${t})
  set_tests_properties(cli.${name} PROPERTIES TIMEOUT ${MIDA_TEST_TIMEOUT}
                       ENVIRONMENT "${MIDA_TEST_ENV}")
endforeach()

file(GLOB _py_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/python/test_*.py)
foreach(t ${_py_tests})
  get_filename_component(name ${t} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME python.${name} COMMAND /usr/bin/python3 ${t})
  set_tests_properties(python.${name} PROPERTIES TIMEOUT ${MIDA_TEST_TIMEOUT}
                       ENVIRONMENT "${MIDA_TEST_ENV}" SKIP_RETURN_CODE 77)
endforeach()

# Live capture with real processes: 3 emitters x 10,000 tasks through a
# SIGKILL of the integrator.  The sanitizer build runs the same checks with
# 3 x 1,000 tasks (it applies about 5x slower).
if(MIDA_SANITIZE)
  set(_live_tasks 1000)
else()
  set(_live_tasks 10000)
endif()
set_tests_properties(python.live PROPERTIES TIMEOUT 900
                     ENVIRONMENT "${MIDA_TEST_ENV};MIDA_LIVE_TASKS=${_live_tasks}")
# Queries during a stream of tasks: 3,000 tasks, 1,000 under the sanitizers.
math(EXPR _stream_tasks "${_live_tasks} * 3 / 10")
set_tests_properties(python.endpoint PROPERTIES
                     ENVIRONMENT "${MIDA_TEST_ENV};MIDA_ENDPOINT_STREAM_TASKS=${_stream_tasks}")

add_test(NAME data.mapping COMMAND bash ${CMAKE_SOURCE_DIR}/tests/data/run.sh)
set_tests_properties(data.mapping PROPERTIES TIMEOUT ${MIDA_TEST_TIMEOUT}
                     ENVIRONMENT "${MIDA_TEST_ENV}")

# The fuzzer builds with clang on its own (it brings its own sanitizers), so
# it runs in the plain build only.
if(NOT MIDA_SANITIZE)
  foreach(target record nquads)
    add_test(NAME fuzz.${target} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh ${target})
    set_tests_properties(fuzz.${target} PROPERTIES TIMEOUT ${MIDA_TEST_TIMEOUT}
                         ENVIRONMENT "${MIDA_TEST_ENV}" SKIP_RETURN_CODE 77)
  endforeach()
endif()
