#include "types.h"

namespace BatchSync {

namespace {

template<typename Enum, std::size_t N>
std::optional<Enum> lookup(const std::pair<Enum, const char *> (&table)[N], QStringView name)
{
    for (const auto &[value, text] : table) {
        if (name == QLatin1String(text))
            return value;
    }
    return std::nullopt;
}

template<typename Enum, std::size_t N>
QString nameOf(const std::pair<Enum, const char *> (&table)[N], Enum value)
{
    for (const auto &[v, text] : table) {
        if (v == value)
            return QString::fromLatin1(text);
    }
    return QString();
}

const std::pair<FieldType, const char *> fieldTypes[] = {
    { FieldType::String, "string" },     { FieldType::Int, "int" },
    { FieldType::Real, "real" },         { FieldType::Bool, "bool" },
    { FieldType::DateTime, "datetime" }, { FieldType::Decimal, "decimal" },
};

const std::pair<PagingMode, const char *> pagingModes[] = {
    { PagingMode::Cursor, "cursor" },
    { PagingMode::Offset, "offset" },
};

const std::pair<SourceKind, const char *> sourceKinds[] = {
    { SourceKind::Protocol, "batchsync" },
    { SourceKind::OData, "odata" },
};

const std::pair<SyncState, const char *> syncStates[] = {
    { SyncState::Idle, "idle" },         { SyncState::Queued, "queued" },
    { SyncState::Counting, "counting" }, { SyncState::Running, "running" },
    { SyncState::Paused, "paused" },     { SyncState::Completed, "completed" },
    { SyncState::Failed, "failed" },
};

const std::pair<SyncPhase, const char *> syncPhases[] = {
    { SyncPhase::Changes, "changes" },
    { SyncPhase::Reload, "reload" },
    { SyncPhase::Deletions, "deletions" },
    { SyncPhase::Push, "push" },
};

const std::pair<SyncDirection, const char *> syncDirections[] = {
    { SyncDirection::Both, "both" },
    { SyncDirection::Pull, "pull" },
    { SyncDirection::Push, "push" },
};

const std::pair<ConflictPolicy, const char *> conflictPolicies[] = {
    { ConflictPolicy::ServerWins, "server-wins" },
    { ConflictPolicy::ClientWins, "client-wins" },
};

const std::pair<ErrorCategory, const char *> errorCategories[] = {
    { ErrorCategory::None, "none" },         { ErrorCategory::Network, "network" },
    { ErrorCategory::Auth, "auth" },         { ErrorCategory::Request, "request" },
    { ErrorCategory::Protocol, "protocol" }, { ErrorCategory::Storage, "storage" },
    { ErrorCategory::Aborted, "aborted" },
};

} // namespace

QString fieldTypeName(FieldType type)
{
    return nameOf(fieldTypes, type);
}
std::optional<FieldType> fieldTypeFromName(QStringView name)
{
    return lookup(fieldTypes, name);
}
QString pagingModeName(PagingMode mode)
{
    return nameOf(pagingModes, mode);
}
std::optional<PagingMode> pagingModeFromName(QStringView name)
{
    return lookup(pagingModes, name);
}
QString sourceKindName(SourceKind kind)
{
    return nameOf(sourceKinds, kind);
}
std::optional<SourceKind> sourceKindFromName(QStringView name)
{
    return lookup(sourceKinds, name);
}
QString syncStateName(SyncState state)
{
    return nameOf(syncStates, state);
}
std::optional<SyncState> syncStateFromName(QStringView name)
{
    return lookup(syncStates, name);
}
QString syncPhaseName(SyncPhase phase)
{
    return nameOf(syncPhases, phase);
}
QString syncDirectionName(SyncDirection direction)
{
    return nameOf(syncDirections, direction);
}
std::optional<SyncDirection> syncDirectionFromName(QStringView name)
{
    return lookup(syncDirections, name);
}
QString conflictPolicyName(ConflictPolicy policy)
{
    return nameOf(conflictPolicies, policy);
}
std::optional<ConflictPolicy> conflictPolicyFromName(QStringView name)
{
    return lookup(conflictPolicies, name);
}
QString errorCategoryName(ErrorCategory category)
{
    return nameOf(errorCategories, category);
}

int EntitySchema::fieldIndex(QStringView fieldName) const
{
    for (int i = 0; i < fields.size(); ++i) {
        if (fields.at(i).name == fieldName)
            return i;
    }
    return -1;
}

} // namespace BatchSync
