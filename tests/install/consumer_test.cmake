# The install_consumer test: installs the build tree into a fresh prefix, then configures,
# builds and runs tests/install/consumer against it with find_package(BatchSync):
#   - consumer (COMPONENTS Client) syncs from the real batchsync-server, SERVER_BIN, and its
#     binary must not need libQt6HttpServer (ldd);
#   - server_consumer (COMPONENTS Server) serves in-process and syncs, and does need it, which
#     shows that the ldd check can tell.
#
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DSOURCE_DIR=... -DSERVER_BIN=... -DGENERATOR=...
#         -DMAKE_PROGRAM=... -DCXX_COMPILER=... -DBUILD_TYPE=... -DCXX_FLAGS=...
#         -DLINKER_FLAGS=... -DPREFIX_PATH=... -DQT6_DIR=... -P consumer_test.cmake
#
# Lists in PREFIX_PATH are separated by '|' (a ';' would split the add_test argument).

foreach(var BUILD_DIR WORK_DIR SOURCE_DIR SERVER_BIN GENERATOR CXX_COMPILER)
    if(NOT ${var})
        message(FATAL_ERROR "consumer_test.cmake: ${var} is not set")
    endif()
endforeach()

function(run step)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result TIMEOUT 300)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "install_consumer: ${step} failed (${result})")
    endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/consumer-build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

foreach(installed
        include/BatchSync/engine/syncengine.h
        include/BatchSync/common/types.h
        include/BatchSync/server/syncserver.h
        include/BatchSync/server/backend/serverstore.h
        include/BatchSync/server/http/embeddedserver.h
        lib/cmake/BatchSync/BatchSyncClientTargets.cmake
        lib/cmake/BatchSync/BatchSyncServerTargets.cmake
        share/applications/batchsync.desktop
        share/icons/hicolor/scalable/apps/batchsync.svg)
    if(NOT EXISTS ${prefix}/${installed})
        message(FATAL_ERROR "install_consumer: ${installed} was not installed")
    endif()
endforeach()

string(REPLACE "|" ";" prefix_path "${prefix}|${PREFIX_PATH}")
string(REGEX REPLACE ";$" "" prefix_path "${prefix_path}")
# Optional settings first; CMAKE_PREFIX_PATH is a list and has to stay one argument.
set(options -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
if(QT6_DIR)
    list(APPEND options -DQt6_DIR=${QT6_DIR})
endif()
if(MAKE_PROGRAM)
    list(APPEND options -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(BUILD_TYPE)
    list(APPEND options -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${consumer_build} -G ${GENERATOR}
        "-DCMAKE_PREFIX_PATH=${prefix_path}"
        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
        "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
        -DBATCHSYNC_CONSUMER_SERVER=ON
        ${options}
    RESULT_VARIABLE result TIMEOUT 300)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "install_consumer: configuring the consumer failed (${result})")
endif()
run("building the consumer" ${CMAKE_COMMAND} --build ${consumer_build})

# A program that only syncs links no Qt HttpServer; the one that serves does.
function(check_http_server binary expected)
    execute_process(COMMAND ldd ${binary} RESULT_VARIABLE result OUTPUT_VARIABLE libraries
        TIMEOUT 60)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "install_consumer: ldd ${binary} failed (${result})")
    endif()
    if(libraries MATCHES "libQt6HttpServer")
        set(found TRUE)
    else()
        set(found FALSE)
    endif()
    if(NOT found STREQUAL expected)
        message(FATAL_ERROR "install_consumer: libQt6HttpServer in ldd ${binary}: ${found}, "
            "expected ${expected}:\n${libraries}")
    endif()
endfunction()
check_http_server(${consumer_build}/consumer FALSE)
check_http_server(${consumer_build}/server_consumer TRUE)

foreach(program consumer server_consumer)
    set(arguments)
    if(program STREQUAL "consumer")
        set(arguments ${SERVER_BIN})
    endif()
    execute_process(COMMAND ${consumer_build}/${program} ${arguments}
        RESULT_VARIABLE result OUTPUT_VARIABLE output TIMEOUT 180)
    message(STATUS "${output}")
    string(REPLACE "_" " " expected ${program})
    if(NOT result EQUAL 0 OR NOT output MATCHES "^${expected} synced [0-9]+ records")
        message(FATAL_ERROR "install_consumer: ${program} failed (${result})")
    endif()
endforeach()
