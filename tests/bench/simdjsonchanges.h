#pragma once

#include "common/types.h"

#include <QByteArray>
#include <QString>

/*!
    \file simdjsonchanges.h
    The changes page read with simdjson's On-Demand API, for parse-bench to measure against
    Protocol::parseChanges on the same bodies. Not part of the product. Any thread (each
    keeps a simdjson parser and a padded buffer per thread).

    simdjson's On-Demand navigation is inlined into its caller and so takes the caller's
    instruction set (plain x86-64 as Debian builds: its scalar "fallback" kernel), while its
    stage 1 and string unescaping run in libsimdjson, picked for the CPU at run time. So this
    file is built twice, to show what the instruction set changes: Generic (the compiler's
    default target) and, on x86-64, Haswell (AVX2; only where __builtin_cpu_supports("avx2")).
*/

namespace BatchSync::Bench {

namespace Generic {

/*!
    Protocol::parseChanges's contract through simdjson On-Demand: the same ChangePage and the
    same checks on the way (ids, changedAt, version, deleted, data and each field's type,
    unknown fields, the limit, hasMore, cursor, MaxIdLength, MaxCursorLength; with duplicate
    keys the last one counts). JSON as RFC 8259 and simdjson have it, so its syntax errors
    read in simdjson's words.
*/
bool parseChangesSimdjson(const QByteArray &body, const EntitySchema &schema, int limit,
                          PagingMode mode, ChangePage *page, QString *error);

/*!
    The On-Demand walk alone over the same page: every change's members and data values are
    read into string views, doubles, integers and bools as simdjson gives them, and nothing
    is built. Returns the number of changes, or -1 when the body is not a page.
*/
qint64 walkChangesSimdjson(const QByteArray &body);

} // namespace Generic

/*! The same, built for AVX2. */
namespace Haswell {
bool parseChangesSimdjson(const QByteArray &, const EntitySchema &, int, PagingMode, ChangePage *,
                          QString *);
qint64 walkChangesSimdjson(const QByteArray &body);
} // namespace Haswell

} // namespace BatchSync::Bench
