// Test-only C entry points, compiled in only with -DSWIFTFUNC_TESTING (`make asan-lib`); the
// release library has none of them. They are not in include/swiftfunc.h and not named sf_: tests
// declare them themselves (Tests/hardening/test_allocation_failures.c, docs/testing.md).
#if SWIFTFUNC_TESTING
import SwiftFuncCore

/// Makes the nth tensor-storage allocation from now fail with SF_ERR_OUT_OF_MEMORY; n <= 0 disarms.
@_cdecl("swiftfunc_testing_fail_allocation")
public func swiftfunc_testing_fail_allocation(_ n: Int64) {
    MemoryPool.FailureInjection.failAllocation(Int(n))
}

/// The number of tensor-storage allocations attempted since the library was loaded.
@_cdecl("swiftfunc_testing_allocation_count")
public func swiftfunc_testing_allocation_count() -> Int64 {
    Int64(MemoryPool.FailureInjection.allocationCount)
}

/// How many interpreters (transforms, tracers) are installed on the calling thread; 0 between calls.
@_cdecl("swiftfunc_testing_interpreter_depth")
public func swiftfunc_testing_interpreter_depth() -> Int64 {
    Int64(Interpreter.installedDepth)
}
#endif
