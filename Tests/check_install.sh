#!/usr/bin/env bash
# Checks an installed swiftfunc tree: layout, SONAME links, and that nothing refers to the prefix
# it was installed for (so the tree can be moved). Usage: check_install.sh DIR PREFIX VERSION SOVERSION
set -uo pipefail
dir=$1 prefix=$2 version=$3 soversion=$4
passed=0 failed=0
check() {  # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else echo "FAIL: $what"; failed=$((failed + 1)); fi
}
lib=$dir/lib
check "lib/libswiftfunc.so.$version is a regular file" test -f "$lib/libswiftfunc.so.$version" -a ! -L "$lib/libswiftfunc.so.$version"
check "libswiftfunc.so.$soversion -> libswiftfunc.so.$version" test "$(readlink "$lib/libswiftfunc.so.$soversion")" = "libswiftfunc.so.$version"
check "libswiftfunc.so -> libswiftfunc.so.$soversion" test "$(readlink "$lib/libswiftfunc.so")" = "libswiftfunc.so.$soversion"
check "SONAME is libswiftfunc.so.$soversion" bash -c "readelf -d '$lib/libswiftfunc.so.$version' | grep -q 'SONAME.*\[libswiftfunc.so.$soversion\]'"
for f in include/swiftfunc.h include/swiftfunc.hpp lib/cmake/SwiftFunc/SwiftFuncConfig.cmake \
         lib/cmake/SwiftFunc/SwiftFuncConfigVersion.cmake lib/pkgconfig/swiftfunc.pc; do
    check "$f installed" test -f "$dir/$f"
done
check "no @VAR@ left unsubstituted" bash -c "! grep -n '@[A-Z_]*@' '$dir/lib/cmake/SwiftFunc/'*.cmake '$dir/lib/pkgconfig/swiftfunc.pc'"
check "no installed text file names the prefix $prefix (relocatable)" bash -c "! grep -rn '$prefix' '$dir/include' '$dir/lib/cmake' '$dir/lib/pkgconfig'"
check "the .pc file uses \${pcfiledir}" grep -q 'pcfiledir' "$dir/lib/pkgconfig/swiftfunc.pc"
check "the .pc file has Version: $version" grep -qx "Version: $version" "$dir/lib/pkgconfig/swiftfunc.pc"
echo "install checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
