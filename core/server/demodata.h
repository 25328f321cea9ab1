#pragma once

#include <QString>

namespace BatchSync {

class ServerBackend;

/*!
    Demo data for the reference server: several entities with every field type and tens of
    thousands of records with random UUID-like ids, reproducible from \a seed.
*/
namespace DemoData {

/*!
    Adds the demo entities and their records to \a store (either backend). \a scale multiplies the
   default record counts (1.0: about 100,000 records in all). Returns false with \a error set on
    failure.
*/
bool populate(ServerBackend *store, double scale, quint32 seed, QString *error);

/*! Number of records populate() creates at \a scale. */
qint64 recordCount(double scale);

} // namespace DemoData
} // namespace BatchSync
