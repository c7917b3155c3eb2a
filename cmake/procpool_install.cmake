# Install rules: headers, static libraries, the procpool command, a CMake
# package (find_package(procpool CONFIG) -> procpool::procpool) and a
# pkg-config file.
include(CMakePackageConfigHelpers)

set(PROCPOOL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/procpool)
set(_pp_targets procpool_shared procpool_worker procpool_supervisor procpool_procpool)
if(TARGET procpool_mpi)
  list(APPEND _pp_targets procpool_mpi)
endif()
set(PROCPOOL_HAVE_CLI11 OFF)
if(TARGET procpool_cli)
  list(APPEND _pp_targets procpool_cli)
  set(PROCPOOL_HAVE_CLI11 ON)
endif()

install(TARGETS ${_pp_targets}
  EXPORT procpoolTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET procpool)
  install(TARGETS procpool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

foreach(_pp_dir shared worker supervisor cli)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${_pp_dir}/include)
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_pp_dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endforeach()

install(EXPORT procpoolTargets NAMESPACE procpool:: DESTINATION ${PROCPOOL_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/procpoolConfig.cmake.in
  ${PROJECT_BINARY_DIR}/procpoolConfig.cmake INSTALL_DESTINATION ${PROCPOOL_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/procpoolConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/procpoolConfig.cmake ${PROJECT_BINARY_DIR}/procpoolConfigVersion.cmake
  DESTINATION ${PROCPOOL_CMAKE_DIR})

# pkg-config, for builds without CMake. Static libraries: list them in link order.
set(_pp_pc_libs "-lprocpool_supervisor -lprocpool_worker -lprocpool_shared")
set(_pp_pc_requires_private "")
if(TARGET procpool_cli)
  set(_pp_pc_libs "-lprocpool_cli ${_pp_pc_libs}")
  # procpool_cli links libcrypto privately (the sha256 task); being static, a
  # program that uses it links with `pkg-config --static --libs procpool`.
  set(_pp_pc_requires_private "libcrypto")
endif()
if(PROCPOOL_WITH_MPI)
  # The MPI backend is inside the static libprocpool_supervisor: MPI's library too.
  foreach(_pp_lib IN LISTS MPI_CXX_LIBRARIES)
    string(APPEND _pp_pc_libs " ${_pp_lib}")
  endforeach()
endif()
# Relocatable: the prefix is found from where the .pc file is installed.
file(RELATIVE_PATH _pp_pc_up "/_/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/_")
configure_file(${PROJECT_SOURCE_DIR}/cmake/procpool.pc.in ${PROJECT_BINARY_DIR}/procpool.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/procpool.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
