// Emulated-GPU build: CUDART_* constants (lkemu/kernel.h).
#pragma once
#include "lkemu/kernel.h"
