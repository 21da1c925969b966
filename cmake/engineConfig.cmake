# find_package(engine) gives two targets:
#   engine::engine  libengine.so and the public headers, for C programs that use the library
#                   (no Lua needed);
#   engine::plugin  the include directory only, for plugins (MODULE libraries) that the
#                   `engine` host loads: a plugin takes the engine's symbols (and Lua's) from the
#                   host at load time and links against neither.
include("${CMAKE_CURRENT_LIST_DIR}/engineTargets.cmake")
if(NOT TARGET engine::plugin)
  get_filename_component(_engine_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
  add_library(engine::plugin INTERFACE IMPORTED)
  set_target_properties(engine::plugin PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_engine_prefix}/include"
    INTERFACE_COMPILE_FEATURES c_std_11)
  unset(_engine_prefix)
endif()
