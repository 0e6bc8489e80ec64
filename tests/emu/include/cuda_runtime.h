// Emulated-GPU build: the CUDA runtime API on the CPU (tests/emu/README.md, lkemu/runtime.h).
#pragma once
#include "lkemu/runtime.h"
