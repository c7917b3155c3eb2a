# ctest driver of example.06_custom_cli: writes a small task file, runs
#   06_custom_cli run -j 2 --quiet <file>
# and checks the exit code (0), one result line per input line, every line
# done, and the values of the program's own tasks. Then `06_custom_cli tasks`
# must list both the program's tasks and the built-in ones.
#
#   cmake -DEXE=<path to 06_custom_cli> -DWORK_DIR=<scratch dir> -P run_custom_cli_example.cmake

if(NOT EXE OR NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DEXE=... -DWORK_DIR=... -P run_custom_cli_example.cmake")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(input "${WORK_DIR}/tasks.jsonl")
file(WRITE "${input}"
  "{\"tag\":\"w1\",\"task\":\"word_stats\",\"args\":\"the quick brown fox\"}\n"
  "{\"tag\":\"f1\",\"task\":\"fib\",\"args\":30}\n"
  "{\"tag\":\"a1\",\"task\":\"add\",\"args\":[2,3]}\n"
  "{\"tag\":\"p1\",\"task\":\"primes\",\"args\":1000}\n"
  "{\"tag\":\"e1\",\"task\":\"echo\",\"args\":{\"x\":[1,2]}}\n")

foreach(mode process thread)
  execute_process(
    COMMAND "${EXE}" run --mode ${mode} -j 2 --quiet --keep-order "${input}"
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err
    TIMEOUT 50)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${mode}] exit code ${rc} (expected 0)\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  string(REGEX MATCHALL "\"state\":\"done\"" done "${out}")
  list(LENGTH done n_done)
  if(NOT n_done EQUAL 5)
    message(FATAL_ERROR "[${mode}] expected 5 done lines, got ${n_done}:\n${out}")
  endif()
  foreach(expect
      "\"tag\":\"w1\",\"state\":\"done\",\"value\":{\"chars\":19,\"longest\":\"quick\",\"words\":4}"
      "\"tag\":\"f1\",\"state\":\"done\",\"value\":832040"
      "\"tag\":\"a1\",\"state\":\"done\",\"value\":5"
      "\"tag\":\"p1\",\"state\":\"done\",\"value\":168"
      "\"tag\":\"e1\",\"state\":\"done\",\"value\":{\"x\":[1,2]}")
    string(FIND "${out}" "${expect}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "[${mode}] missing ${expect} in:\n${out}")
    endif()
  endforeach()
endforeach()

execute_process(COMMAND "${EXE}" tasks RESULT_VARIABLE rc OUTPUT_VARIABLE out TIMEOUT 20)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tasks: exit code ${rc}")
endif()
foreach(name word_stats fib add exec sleep primes echo sha256)
  string(REGEX MATCH "(^|\n)${name} " found "${out}")
  if(NOT found)
    message(FATAL_ERROR "tasks: '${name}' not listed:\n${out}")
  endif()
endforeach()
message(STATUS "06_custom_cli: ok")
