# The optional CUDA backend (engine/cuda): -DQLAB_CUDA=AUTO|ON|OFF.
#   AUTO  enabled when CMake finds nvcc 12.8 or newer (and the build is not a cross build); a machine
#         without CUDA builds exactly as before, with the CPU backend only
#   ON    required: configuring fails with the reason when no suitable nvcc is found
#   OFF   never
# Sets QLAB_HAVE_CUDA. Machine code for the parts qlab runs on (sm_90: H100/H200; sm_121: the GB10
# of a DGX Spark) and PTX of sm_121 that newer parts compile when they load it; CUDA's libraries
# (cudart linked statically, cuBLAS) are the only dependencies.
set(QLAB_CUDA AUTO CACHE STRING "Build the CUDA backend: AUTO (when nvcc >= 12.8 is found), ON, OFF")
set_property(CACHE QLAB_CUDA PROPERTY STRINGS AUTO ON OFF)
set(QLAB_CUDA_MIN_VERSION 12.8)
set(QLAB_HAVE_CUDA OFF)

function(qlab_cuda_unavailable why)
  if(QLAB_CUDA STREQUAL "ON")
    message(FATAL_ERROR "QLAB_CUDA=ON: ${why}")
  endif()
  message(STATUS "CUDA backend: off (${why})")
endfunction()

if(QLAB_CUDA STREQUAL "OFF")
  message(STATUS "CUDA backend: off (QLAB_CUDA=OFF)")
elseif(NOT QLAB_CUDA MATCHES "^(AUTO|ON)$")
  message(FATAL_ERROR "QLAB_CUDA must be AUTO, ON or OFF, not '${QLAB_CUDA}'")
elseif(CMAKE_CROSSCOMPILING AND QLAB_CUDA STREQUAL "AUTO")
  message(STATUS "CUDA backend: off (cross build)")
else()
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    qlab_cuda_unavailable("no CUDA compiler (nvcc) found; set CMAKE_CUDA_COMPILER or put nvcc on PATH")
  else()
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90-real 121-real 121-virtual)
    endif()
    enable_language(CUDA)
    if(CMAKE_CUDA_COMPILER_VERSION VERSION_LESS QLAB_CUDA_MIN_VERSION)
      qlab_cuda_unavailable("nvcc ${CMAKE_CUDA_COMPILER_VERSION} is older than ${QLAB_CUDA_MIN_VERSION} (sm_121 needs it)")
    else()
      find_package(CUDAToolkit REQUIRED)
      set(CMAKE_CUDA_STANDARD 17)  # kernels need no C++20, and CMake 3.25 knows no CUDA20 flag for nvcc
      set(CMAKE_CUDA_STANDARD_REQUIRED ON)
      set(QLAB_HAVE_CUDA ON)
      message(STATUS "CUDA backend: on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
    endif()
  endif()
endif()
