# The layering test: which folder of the product may include which (docs/architecture.md,
# "Which folder may include which"). Run as: cmake -DSOURCE_DIR=<repo> -P layering.cmake
# Fails, naming the file and the line, when a file includes what its folder may not.

set(allowed_common "common")
set(allowed_sources "common;sources")

set(allowed_store "common;store")
set(allowed_engine "common;sources;store;engine")
set(allowed_server "common;server")
# The widgets see the Client library only: never a server header.
set(allowed_ui "common;sources;store;engine;ui")
set(core_folders common sources store engine server)

set(problems "")
set(checked 0)
foreach(layer common sources store engine server ui)
    if(layer STREQUAL "ui")
        set(dir "${SOURCE_DIR}/ui")
    else()
        set(dir "${SOURCE_DIR}/core/${layer}")
    endif()
    file(GLOB_RECURSE files "${dir}/*.h" "${dir}/*.cpp")
    foreach(file IN LISTS files)
        math(EXPR checked "${checked} + 1")
        file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
        file(RELATIVE_PATH shown "${SOURCE_DIR}" "${file}")
        foreach(line IN LISTS lines)
            if(line MATCHES "#[ \t]*include[ \t]*\"([A-Za-z_]+)/")
                set(folder "${CMAKE_MATCH_1}")
                list(FIND core_folders "${folder}" is_core)
                if(is_core GREATER -1)
                    list(FIND allowed_${layer} "${folder}" ok)
                    if(ok EQUAL -1)
                        string(APPEND problems "\n  ${shown}: ${line} (${layer} may not include ${folder})")
                    endif()
                endif()
            endif()
            # The engine speaks to sources only: no network, no JSON, no URL queries.
            if(layer STREQUAL "engine" AND line MATCHES "<Q(Network|Json|UrlQuery)")
                string(APPEND problems "\n  ${shown}: ${line} (the engine knows no network or JSON)")
            endif()
        endforeach()
    endforeach()
endforeach()

# Nothing in the product ever ignores a TLS certificate error.
file(GLOB_RECURSE product_files "${SOURCE_DIR}/core/*.cpp" "${SOURCE_DIR}/core/*.h"
    "${SOURCE_DIR}/ui/*.cpp" "${SOURCE_DIR}/ui/*.h" "${SOURCE_DIR}/app/*.cpp" "${SOURCE_DIR}/app/*.h")
foreach(file IN LISTS product_files)
    file(STRINGS "${file}" ignoring REGEX "ignoreSslErrors")
    if(ignoring)
        file(RELATIVE_PATH shown "${SOURCE_DIR}" "${file}")
        string(APPEND problems "\n  ${shown}: ignoreSslErrors (certificate errors are never ignored)")
    endif()
endforeach()

if(checked LESS 40)
    message(FATAL_ERROR "layering: only ${checked} files found under ${SOURCE_DIR}: wrong SOURCE_DIR?")
endif()
if(problems)
    message(FATAL_ERROR "layering: files include what their folder may not, or ignore TLS errors:${problems}")
endif()
message(STATUS "layering: ${checked} files follow docs/architecture.md")
