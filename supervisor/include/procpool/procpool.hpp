// The umbrella header: everything a procpool user needs.
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/shared/result.hpp>
#include <procpool/shared/task_state.hpp>
#include <procpool/supervisor/observer.hpp>
#include <procpool/supervisor/options.hpp>
#include <procpool/supervisor/pool.hpp>
#include <procpool/supervisor/pool_stats.hpp>
#include <procpool/supervisor/task_handle.hpp>
#include <procpool/worker/task.hpp>
#include <procpool/worker/worker_main.hpp>
