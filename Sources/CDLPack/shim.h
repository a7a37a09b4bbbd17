/* DLPack for the boundary module: the system header plus the 1.x versioned struct when the
 * system header predates it (Debian bookworm ships DLPack 0.6). Layouts match include/swiftfunc.h. */
#ifndef SWIFTFUNC_CDLPACK_SHIM_H
#define SWIFTFUNC_CDLPACK_SHIM_H
#include <dlpack/dlpack.h>
#include <stdint.h>

#ifndef DLPACK_MAJOR_VERSION
typedef struct {
    uint32_t major;
    uint32_t minor;
} DLPackVersion;

struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
};
#endif

#define SF_DLPACK_FLAG_READ_ONLY (1ULL << 0)
#define SF_DLPACK_FLAG_IS_COPIED (1ULL << 1)
#define SF_DLPACK_CODE_BOOL 6
#endif
