# Per-target settings: warnings and sanitizers live on INTERFACE targets linked
# PRIVATE, never in global flags.

add_library(procpool_warnings INTERFACE)
target_compile_options(procpool_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wnull-dereference -Wimplicit-fallthrough)
if(PROCPOOL_WARNINGS_AS_ERRORS)
  target_compile_options(procpool_warnings INTERFACE -Werror)
endif()

add_library(procpool_sanitizers INTERFACE)
if(PROCPOOL_SANITIZER)
  list(FIND PROCPOOL_SANITIZER "thread" _pp_tsan)
  list(LENGTH PROCPOOL_SANITIZER _pp_nsan)
  if(NOT _pp_tsan EQUAL -1 AND _pp_nsan GREATER 1)
    message(FATAL_ERROR "PROCPOOL_SANITIZER: 'thread' cannot be combined with others")
  endif()
  foreach(_pp_s IN LISTS PROCPOOL_SANITIZER)
    if(NOT _pp_s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "PROCPOOL_SANITIZER: unknown sanitizer '${_pp_s}'")
    endif()
  endforeach()
  string(REPLACE ";" "," _pp_list "${PROCPOOL_SANITIZER}")
  target_compile_options(procpool_sanitizers INTERFACE
    -fsanitize=${_pp_list} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(procpool_sanitizers INTERFACE -fsanitize=${_pp_list})
endif()

# procpool_common(target): warnings + sanitizers + C++20 for one of our targets.
function(procpool_common target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:procpool_warnings>)
  # Sanitizer flags must reach every object linked with them: PUBLIC in the build tree.
  target_link_libraries(${target} PUBLIC $<BUILD_INTERFACE:procpool_sanitizers>)
endfunction()
