# Warning set of STYLE.md 2.10; -Werror unless WERROR=OFF.
function(lm_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition -Wcast-qual
    -Wformat=2 -Wundef -Wvla -Wimplicit-fallthrough -Wnull-dereference -Wwrite-strings)
  if(WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
