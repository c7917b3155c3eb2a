// Shared state for tasks, in one include: shared_array<T>, shared_dict,
// shared_queue, event, lock, rlock (the multiprocessing Array /
// Manager().dict() / Queue / Event / Lock / RLock analogues).
//
// They live in the pool's shared-state arena (options::shared_state_bytes):
// created by the supervisor (pool.make_array<T>, make_dict, make_queue,
// make_event, make_lock, make_rlock), opened by name inside a task
// (ctx.array<T>, ctx.dict, ctx.queue, ctx.event, ctx.lock, ctx.rlock) or by
// the supervisor. Same classes, same behaviour in thread and process mode.
//
// Every capacity is fixed when the object is created, and fully usable: running
// out is procpool::error(errc::full), never a crash. A process that dies inside
// any call, or holding any lock, leaves the objects usable: user locks report
// owner_died to the next holder; containers repair themselves (or, if their
// storage was overwritten, refuse with errc::segment_poisoned).
#pragma once

#include <procpool/shared/shared_array.hpp>
#include <procpool/shared/shared_dict.hpp>
#include <procpool/shared/shared_queue.hpp>
#include <procpool/shared/sync.hpp>
