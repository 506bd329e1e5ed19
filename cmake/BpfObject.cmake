# bpf_object(NAME SOURCE)
#
# Compiles bpf/NAME.bpf.c with clang for the BPF target, generates its libbpf skeleton with
# bpftool and exposes:
#   NAME_skel          an INTERFACE target; linking it puts "NAME.skel.h" on the include path
#   NAME_BPF_OBJECT    (cache variable) the path of the built object, for BTF checks in tests
# Header dependencies are tracked through clang's depfile, so editing bpf/include/*.h rebuilds.

find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(BPF_GENERATED_DIR ${CMAKE_BINARY_DIR}/generated/bpf)
file(MAKE_DIRECTORY ${BPF_GENERATED_DIR})

function(bpf_object name source)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${BPF_GENERATED_DIR}/${name}.skel.h)
  cmake_path(ABSOLUTE_PATH source BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} OUTPUT_VARIABLE src)
  # The multiarch directory provides asm/ headers; glibc headers must never be included.
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -target bpf -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter
            -D__TARGET_ARCH_x86 -I${PROJECT_SOURCE_DIR}/bpf/include -I${PROJECT_SOURCE_DIR}/bpf
            -I/usr/include/x86_64-linux-gnu -MD -MF ${obj}.d -c ${src} -o ${obj}
    DEPFILE ${obj}.d
    DEPENDS ${src}
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen ALL DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${BPF_GENERATED_DIR})
  set(${name}_BPF_OBJECT ${obj} CACHE INTERNAL "built BPF object ${name}")
  set_property(GLOBAL APPEND PROPERTY NETAGENT_BPF_OBJECTS ${obj})
  if(NOT TARGET bpf_objects_all)
    add_custom_target(bpf_objects_all)
  endif()
  add_dependencies(bpf_objects_all ${name}_skel_gen)
endfunction()
