# ASan + UBSan build (STYLE.md 2.10 "asan" preset); enables expensive assertions.
if(SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(LM_EXPENSIVE_CHECKS=1 LM_SANITIZE=1)
endif()
# Fuzz build: the libraries must carry coverage instrumentation too, or libFuzzer only sees
# the target's own file and cannot steer into the decoders.
if(FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(LM_EXPENSIVE_CHECKS=1 LM_SANITIZE=1)
endif()
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo)
endif()
if(CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
  set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O2 -g")
  add_compile_options(-fstack-protector-strong)
endif()
