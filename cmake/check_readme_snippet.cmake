# cmake -DREADME=<file> -DSNIPPET=<file> -P check_readme_snippet.cmake
# Fails unless the README contains SNIPPET's text verbatim (a code block that
# must compile and run as pasted is kept identical to a built example).
file(READ "${README}" readme)
file(READ "${SNIPPET}" snippet)
string(FIND "${readme}" "${snippet}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} does not contain ${SNIPPET} verbatim: copy the example into the README's code block")
endif()
