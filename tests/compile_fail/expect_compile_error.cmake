# cmake -DBUILD_DIR=<dir> -DTARGET=<target> -DEXPECT_FILE=<file>
#       [-DMAX_ERRORS=<n>] -P expect_compile_error.cmake
#
# EXPECT_FILE sets EXPECT, a list of regexes.
#
# Builds TARGET (an EXCLUDE_FROM_ALL object library of one source that must
# not compile) and passes only when the build fails, its output matches every
# EXPECT regex, and (with MAX_ERRORS) it has at most that many "error:" lines:
# the point of the typed checks is one readable error, not pages of them.
# EXPECT empty: the build must succeed (the harness's own control).
foreach(_v BUILD_DIR TARGET EXPECT_FILE)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "expect_compile_error.cmake: ${_v} is required")
  endif()
endforeach()

include(${EXPECT_FILE})

execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
  RESULT_VARIABLE _rc
  OUTPUT_VARIABLE _out
  ERROR_VARIABLE _out)

if(NOT EXPECT)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} should compile but did not:\n${_out}")
  endif()
  message(STATUS "${TARGET} compiled, as expected")
  return()
endif()

if(_rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not:\n${_out}")
endif()
foreach(_re IN LISTS EXPECT)
  if(NOT _out MATCHES "${_re}")
    message(FATAL_ERROR "${TARGET} failed to compile, but without '${_re}':\n${_out}")
  endif()
endforeach()
if(DEFINED MAX_ERRORS)
  string(REGEX MATCHALL "error: " _errors "${_out}")
  list(LENGTH _errors _n)
  if(_n GREATER MAX_ERRORS)
    message(FATAL_ERROR "${TARGET}: ${_n} errors, expected at most ${MAX_ERRORS}:\n${_out}")
  endif()
endif()
string(REGEX MATCH "static assertion failed: [^\n]*" _first "${_out}")
message(STATUS "${TARGET} failed to compile as expected: ${_first}")
