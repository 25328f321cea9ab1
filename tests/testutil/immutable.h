#pragma once

#include <QString>

namespace BatchSync::Test {

/*!
    Sets or clears the file system's immutable flag on \a path (chattr +i), which makes a file
    read-only even for root, as the tests run in CI. False where the file system or the
    platform does not support it (the caller then skips, visibly).
*/
bool setImmutable(const QString &path, bool on);

} // namespace BatchSync::Test
