/* include/swiftfunc.h for the Swift side, so that the values it defines (versions, limits) are
 * read from it instead of being written again: Swift imports its integer macros as constants. */
#ifndef SWIFTFUNC_HEADER_SHIM_H
#define SWIFTFUNC_HEADER_SHIM_H
#include "../../include/swiftfunc.h"

#define SWIFTFUNC_SHIM_STRING_(x) #x
#define SWIFTFUNC_SHIM_STRING(x) SWIFTFUNC_SHIM_STRING_(x)

/* "MAJOR.MINOR.PATCH" from the header's macros: a string literal, so static and never freed. */
static inline const char *_Nonnull swiftfunc_header_version_string(void) {
    return SWIFTFUNC_SHIM_STRING(SF_VERSION_MAJOR) "." SWIFTFUNC_SHIM_STRING(SF_VERSION_MINOR) "." SWIFTFUNC_SHIM_STRING(
        SF_VERSION_PATCH);
}
#endif
