#pragma once

#include "server/push.h"

/*!
    \file pushreader.h
    The two readings of a push body behind Push::parse(). Internal to core/server (and its
    tests); any thread.
*/

namespace BatchSync::Push {

/*!
    Reads \a body for \a schema in one pass, when it is a well-formed request whose every
    change is accepted and that holds nothing Qt's JSON reader might read otherwise; nullopt
    for any other body (then parseDocument() decides). What it returns is what parseDocument()
    returns for the same body.
*/
std::optional<PushRequest> readPlain(const QByteArray &body, const EntitySchema &schema);

/*! Push::parse() through a QJsonDocument of the body: every body, its faults and rejections. */
std::optional<PushRequest> parseDocument(const QByteArray &body, const EntitySchema &schema,
                                         QString *error);

} // namespace BatchSync::Push
