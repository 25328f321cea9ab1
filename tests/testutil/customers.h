#pragma once

#include "common/types.h"

namespace BatchSync::Test {

/*! The customers of the data view suites: one field of every type. */
inline EntitySchema customersSchema()
{
    return { QStringLiteral("customers"),
             { { QStringLiteral("name"), FieldType::String },
               { QStringLiteral("balance"), FieldType::Real },
               { QStringLiteral("active"), FieldType::Bool },
               { QStringLiteral("visits"), FieldType::Int },
               { QStringLiteral("since"), FieldType::DateTime } } };
}

} // namespace BatchSync::Test
