# ctest driver: install procpool from the build tree into a scratch prefix,
# check the installed headers, then configure, build and run tests/consumer
# against it (CMake package), the same program built with pkg-config, and the
# consumer with add_subdirectory; last, a parent project without CLI11 (or with
# PROCPOOL_BUILD_CLI=OFF) still configures, without the command.
# Inputs: -DBUILD_DIR= -DSOURCE_DIR= -DWORK_DIR=
cmake_minimum_required(VERSION 3.22)
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# 0. The installed headers stand alone: the supervisor's internals (its src/
#    front/ and backend/ folders) are not installed, and every procpool header
#    an installed header includes is installed too.
file(GLOB_RECURSE installed_headers RELATIVE ${prefix}/include ${prefix}/include/*.hpp ${prefix}/include/*.h)
foreach(h IN LISTS installed_headers)
  if(h MATCHES "(^|/)(front|backend|src)/" OR h MATCHES "pool_impl")
    message(FATAL_ERROR "an internal header was installed: include/${h}")
  endif()
  file(STRINGS ${prefix}/include/${h} includes REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS includes)
    if(line MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"")
      message(FATAL_ERROR "include/${h} includes \"${CMAKE_MATCH_1}\" (quoted: a path beside its sources)")
    endif()
    if(line MATCHES "#[ \t]*include[ \t]*<(procpool/[^>]+)>")
      set(target ${CMAKE_MATCH_1})  # ${CMAKE_MATCH_1} in the same if() would be the previous match
      if(NOT EXISTS ${prefix}/include/${target})
        message(FATAL_ERROR "include/${h} includes <${target}>, which is not installed")
      endif()
    endif()
  endforeach()
endforeach()
list(LENGTH installed_headers n_headers)
message(STATUS "${n_headers} installed headers include only installed procpool headers")

# 1. find_package(procpool CONFIG)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/package
    -DCMAKE_PREFIX_PATH=${prefix} -DPROCPOOL_CONSUMER_MODE=package)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/package)
run(${WORK_DIR}/package/consumer)

# 2. pkg-config, no CMake
find_program(PKG_CONFIG pkg-config)
find_program(CXX NAMES c++ g++)
if(PKG_CONFIG AND CXX)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig:${prefix}/lib/x86_64-linux-gnu/pkgconfig")
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs procpool OUTPUT_VARIABLE flags
                  RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config does not find procpool")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} ${SOURCE_DIR}/tests/consumer/main.cpp ${flags} -o ${WORK_DIR}/consumer-pc)
  run(${WORK_DIR}/consumer-pc)
else()
  message(STATUS "pkg-config or a C++ compiler not found: pkg-config consumer skipped")
endif()

# 3. add_subdirectory(<procpool source>)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/subdirectory
    -DPROCPOOL_CONSUMER_MODE=subdirectory -DPROCPOOL_SOURCE_DIR=${SOURCE_DIR})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/subdirectory)
run(${WORK_DIR}/subdirectory/consumer)

# 4. add_subdirectory where CLI11 cannot be found, and with the command turned
#    off: the library is still there, the command is skipped with a note.
#    (Configure only: the consumer's build does not involve the command, and
#    case 3 built it already.)
foreach(variant no_cli11 cli_off)
  if(variant STREQUAL "no_cli11")
    set(flag -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON)
    set(expect "CLI11 not found")
  else()
    set(flag -DPROCPOOL_BUILD_CLI=OFF)
    set(expect "PROCPOOL_BUILD_CLI is OFF")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/${variant}
                          -DPROCPOOL_CONSUMER_MODE=subdirectory -DPROCPOOL_SOURCE_DIR=${SOURCE_DIR} ${flag}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "a parent project (${variant}) does not configure:\n${out}\n${err}")
  endif()
  string(FIND "${out}" "${expect}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "a parent project (${variant}): no note '${expect}' in:\n${out}")
  endif()
endforeach()
